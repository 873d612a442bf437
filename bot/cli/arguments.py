"""Every command and flag of triage-bot, and the checks argparse makes on them."""

from __future__ import annotations

import argparse

from bot.observability import version


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="triage-bot", description="Triage Gateway: alert text in, triage card out.")
    root.add_argument("--version", action="version", version=f"%(prog)s {version()}",
                      help="print the version and exit")
    sub = root.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP gateway (and the Slack app when configured)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=port_number, default=8080, help="TCP port to listen on (default: 8080)")
    serve.add_argument("--insecure", action="store_true", help="allow a non-loopback address without TRIAGE_API_TOKEN")

    sub.add_parser("socket", help="run the Slack app over Socket Mode (needs SLACK_APP_TOKEN)")

    triage = sub.add_parser("triage", help="triage TEXT (or stdin) and print the card")
    triage.add_argument("text", nargs="?", help="the text to triage; read from stdin when omitted")
    fmt = triage.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print the same JSON as POST /v1/triage")
    fmt.add_argument("--jsonl", action="store_true", help='read {"id", "text"} lines from stdin, write one line each')
    triage.add_argument("--engine", choices=["auto", "model", "heuristic"], default="auto",
                        help="auto: the model when configured, else the rules; model or heuristic to force one")

    ev = sub.add_parser("eval", help="score the engines on labelled cases")
    ev.add_argument("files", nargs="*", help="JSONL case files")
    ev.add_argument("--engine", choices=["auto", "model", "heuristic"], default="heuristic",
                    help="the engine to score (default: heuristic)")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.add_argument("--out", help="directory for run.json and report.html")
    ev.add_argument("--compare", nargs=2, metavar=("RUN_A", "RUN_B"), help="severity drift between two runs")
    ev.add_argument("--feedback", action="store_true", help="score on the cards people judged (from TRIAGE_DB)")
    ev.add_argument("--since", type=float, default=None, metavar="DAYS", help="with --feedback: judged lately")
    ev.add_argument("--max-drift", type=float, default=None, metavar="N",
                    help="with --compare: exit 1 when more than N %% of severities moved")
    ev.add_argument("--min-agreement", type=float, default=None, metavar="X",
                    help="with --compare: exit 1 when RUN_B agrees with the human labels on less than X (0-1)")
    ev.add_argument("--allow-degraded", action="store_true",
                    help="exit 0 even when cases fell back to the heuristic engine")
    ev.add_argument("--prompt", metavar="FILE", help="ask the model with this prompt file instead of the built-in one")
    ev.add_argument("--no-holdout", action="store_true",
                    help="do not add the *holdout* case files beside the given ones")

    cases = sub.add_parser("cases", help="write the cards people judged as eval JSONL to stdout")
    cases.add_argument("--since", type=float, default=None, metavar="DAYS", help="only verdicts of the last DAYS")
    cases.add_argument("--sqlite", metavar="FILE", help="write them to a new SQLite database FILE instead")

    db = sub.add_parser("db", help="the database schema: migrate it, or show its revision")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="bring the database (TRIAGE_DATABASE_URL or TRIAGE_DB) to this release's schema")
    db_sub.add_parser("current", help="print the database's schema revision")

    runbooks = sub.add_parser("runbooks", help="index TRIAGE_RUNBOOKS and list it, with the files it could not use")
    runbooks.add_argument("--json", action="store_true", help="one JSON object: the runbooks and the unusable files")

    sub.add_parser("mcp", help="serve triage, similar_incidents and feedback as an MCP server over stdio")

    report = sub.add_parser("report", help="agreement of humans with the cards, per model and prompt version")
    report.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    report.add_argument("--since", type=float, default=None, metavar="DAYS", help="only cards of the last DAYS")
    report.add_argument("--html", metavar="FILE", help="also write the agreement dashboard (self-contained HTML)")
    report.add_argument("--eval", metavar="RUN", help="with --html: show this eval run's dev and held-out figures")
    return root


def port_number(raw: str) -> int:
    port = int(raw)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{raw} is not a TCP port (0-65535)")
    return port
