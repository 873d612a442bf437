"""The triage-bot command: serve · socket · triage · eval · report · cases · db · runbooks · mcp."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import os
import re
import socket
import sqlite3
import sys
import tempfile
from collections import deque
from collections.abc import AsyncIterator, Sequence
from typing import Any, TextIO

import sqlalchemy.exc
import structlog
from uvicorn import server as uvicorn_server

from bot.card import TriageResult
from bot.context.slack import plain_lines as context_lines
from bot.health import DatabaseUnavailable, postgres_errors
from bot.observability import configure_logging, version
from bot.settings import ConfigError, Settings, without_blanks
from bot.store import open_store
from bot.store.migrate import SchemaError
from bot.triage.errors import InputError
from bot.triage.front import Prepared
from bot.triage.front_pool import FrontPool, Workers, start_pool
from bot.triage.markup import decode_markup
from bot.triage.service import TriageService
from bot.wiring import Gateway, build_gateway

log = structlog.get_logger("bot.cli")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # A blank variable means unset, for the gateway and for the clients that read their own (openai).
    for name in set(os.environ) - set(without_blanks(os.environ)):
        del os.environ[name]
    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # The card is the output of `triage`; its log line would only clutter the terminal.
    quiet = args.command in ("triage", "runbooks", "mcp") and settings.log_level == "info"
    configure_logging("warning" if quiet else settings.log_level)
    reads_db = (
        args.command in ("report", "cases")
        or (args.command == "eval" and args.feedback)
        or (args.command == "db" and args.db_command == "current")
    )
    if reads_db and getattr(args, "since", None) is not None and args.since <= 0:
        print("error: --since takes a positive number of days", file=sys.stderr)
        return 2
    if reads_db and not settings.database_url and not os.path.exists(settings.db_path):
        print(f"error: no database at TRIAGE_DB={settings.db_path}", file=sys.stderr)
        return 2
    try:
        return run_command(args, settings)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except database_errors() as exc:
        where = "TRIAGE_DATABASE_URL" if settings.database_url else "TRIAGE_DB"
        reason = getattr(exc, "orig", None) or exc
        print(f"error: database {settings.database_label} ({where}): {reason}", file=sys.stderr)
        return 2
    except DatabaseUnavailable as exc:
        print(f"error: database {settings.database_label}: {exc.reason}", file=sys.stderr)
        return 2


def database_errors() -> tuple[type[Exception], ...]:
    return (sqlite3.Error, sqlalchemy.exc.SQLAlchemyError, SchemaError, *postgres_errors("Error"))


def run_command(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "serve":
        return serve(settings, args.host, args.port, args.insecure)
    if args.command == "triage":
        # Worker processes for the front stage of a heuristic batch, forked before the event loop starts.
        rules_only = args.engine == "heuristic" or (args.engine == "auto" and not settings.model_enabled)
        pool = start_pool() if args.jsonl and rules_only else None
        try:
            return asyncio.run(triage_command(settings, args, sys.stdin, sys.stdout, pool))
        finally:
            if pool is not None:
                pool.shutdown()
    if args.command == "eval":
        return eval_command(settings, args)
    if args.command == "report":
        return report_command(settings, args)
    if args.command == "socket":
        return socket_command(settings)
    if args.command == "cases":
        return cases_command(settings, args)
    if args.command == "db":
        return db_command(settings, args, sys.stdout)
    if args.command == "runbooks":
        from bot.context.commands import runbooks_command

        return asyncio.run(runbooks_command(settings, args.json, sys.stdout))
    if args.command == "mcp":
        from bot.context.mcp_server import serve_stdio

        asyncio.run(serve_stdio(build_gateway(settings)))
        return 0
    return 2


def announce(settings: Settings, socket_mode: bool = False) -> None:
    """Say on start-up which engine and integrations are live, so nobody wonders (one JSON log event)."""
    if settings.model_enabled:
        model = {"engine": "model", "model_fast": settings.model_fast, "model_strong": settings.model_strong,
                 "model_url": settings.openai_base_url or "the default OpenAI endpoint"}
    else:
        model = {"engine": "heuristic", "model_note": "no OPENAI_API_KEY: using the heuristic engine"}
    if settings.shadow_enabled:
        candidate = " with prompt ".join(
            part for part in (settings.shadow_model or settings.model_fast, settings.shadow_prompt) if part
        )
        state = f"{settings.shadow_rate:.0%} of live triages" if settings.model_enabled else "off (no model engine)"
        model["shadow"] = f"{candidate}, {state}"
    if socket_mode:
        slack = "socket mode (SLACK_APP_TOKEN, SLACK_BOT_TOKEN)"
    elif settings.slack_enabled:
        slack = "enabled at POST /slack/events"
    else:
        slack = "disabled (set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET to enable)"
    log.info("starting", version=version(), **model, slack=slack, database=settings.database_label)


def serve(settings: Settings, host: str, port: int, insecure: bool) -> int:
    if not is_loopback(host) and not settings.api_token and not insecure:
        print(
            f"refusing to listen on {host} without TRIAGE_API_TOKEN; set a token or pass --insecure",
            file=sys.stderr,
        )
        return 2
    import uvicorn

    from bot.server import build_app

    announce(settings)
    gateway = build_gateway(settings)
    app = build_app(gateway)
    # uvicorn's own start-up lines are plain text: they stay below warning, the app logs "listening" as JSON.
    # Its default loop and parser are uvloop and httptools (both dependencies) when they can be imported.
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="on",
                            log_config=None, timeout_graceful_shutdown=SHUTDOWN_GRACE)
    Server(config).run()
    return 0


class Server(uvicorn_server.Server):
    """uvicorn's server, saying where it listens as a JSON event once the sockets are bound."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.started:
            return
        for server in self.servers:
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                log.info("listening on", host=host, port=port, url=f"http://{host}:{port}")


# Seconds SIGTERM gives requests in flight before the lifespan shutdown drains the rest.
SHUTDOWN_GRACE = 5


async def triage_command(
    settings: Settings, args: argparse.Namespace, stdin: TextIO, stdout: TextIO, pool: Workers | None = None
) -> int:
    gateway = build_gateway(settings)
    engine = None if args.engine == "auto" else args.engine
    try:
        if args.jsonl:
            return await _triage_lines(gateway, engine, stdin, stdout, pool)
        text = decode_markup(args.text if args.text is not None else stdin.read())
        try:
            result = await gateway.service.triage(text, source="cli", engine=engine)
        except InputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if args.json:
            stdout.write(result.model_dump_json() + "\n")
        else:
            stdout.write(render_text(result) + "\n")
        return 0
    finally:
        await gateway.aclose()


# `--jsonl` with the heuristic engine triages lines in groups: each group's memory is read and its records
# written in one trip to the store (group commit), while the next groups go through the front stage (on worker
# processes when there are CPUs to spare, see bot/triage/front_pool.py). Output keeps input order. With a model,
# groups of one: model calls stay one at a time (a batch must not hit a provider's rate limit) and each card is
# written as soon as it is recorded.
JSONL_GROUP = 128
JSONL_GROUPS_IN_FLIGHT = 2


async def _triage_lines(
    gateway: Gateway, engine: str | None, stdin: TextIO, stdout: TextIO, pool: Workers | None = None
) -> int:
    service = gateway.service
    rules_only = engine == "heuristic" or service.model is None
    size, in_flight = (JSONL_GROUP, JSONL_GROUPS_IN_FLIGHT) if rules_only else (1, 1)
    front = None
    if pool is not None and rules_only:
        front = FrontPool(pool, service.front_cache, service.settings.max_input_chars)
        in_flight += pool.count  # the workers keep that many groups ahead

    async def one_group(
        lines: list[tuple[int, str]], before: asyncio.Future[None] | None, identified: asyncio.Future[None]
    ) -> list[tuple[str, bool]]:
        try:
            slots: list[tuple[int, Any, str | InputError]] = []
            for number, line in lines:
                item_id: Any = None
                try:
                    item = json.loads(line)
                    item_id = item.get("id") if isinstance(item, dict) else None
                    if not isinstance(item, dict) or not isinstance(item.get("text"), str):
                        raise InputError('each line must be a JSON object with a string "text"')
                    slots.append((number, item_id, decode_markup(item["text"])))
                except (json.JSONDecodeError, InputError) as exc:
                    slots.append((number, item_id, exc if isinstance(exc, InputError) else InputError(str(exc))))
            texts = [text for _, _, text in slots if not isinstance(text, InputError)]
            prepared: list[Prepared | InputError] = []
            if front is not None:
                prepared = await front.prepare(texts)
            else:
                for raw in texts:
                    try:
                        prepared.append(service.front(raw))
                    except InputError as exc:
                        prepared.append(exc)
            if before is not None:
                await before
        finally:
            # Identities are learned in input order: the next group identifies once this task next waits,
            # which is after triage_prepared has identified this group's lines (before its first trip to the store).
            identified.set_result(None)
        answers = iter(await service.triage_prepared(prepared, source="cli", engine=engine) if prepared else [])
        out: list[tuple[str, bool]] = []
        for number, item_id, text in slots:
            answer = text if isinstance(text, InputError) else next(answers)
            if isinstance(answer, InputError):
                out.append((compact_json({"id": item_id, "line": number, "error": str(answer)}), True))
            else:
                out.append((result_line(item_id, answer), False))
        return out

    await service.identity.ready()  # loaded before any line, so none waits on it and overtakes
    pending: deque[asyncio.Task[list[tuple[str, bool]]]] = deque()
    failures = 0

    async def write_oldest() -> None:
        nonlocal failures
        rendered = []
        for out, failed in await pending.popleft():
            failures += failed
            rendered.append(out + "\n")
        stdout.write("".join(rendered))
        stdout.flush()

    loop = asyncio.get_running_loop()
    previous: asyncio.Future[None] | None = None

    def start(group: list[tuple[int, str]]) -> None:
        nonlocal previous
        identified: asyncio.Future[None] = loop.create_future()
        pending.append(asyncio.create_task(one_group(group, previous, identified)))
        previous = identified

    group: list[tuple[int, str]] = []
    for number, line in enumerate(stdin, start=1):
        if not line.strip():
            continue
        group.append((number, line))
        if len(group) >= size:
            start(group)
            group = []
            if len(pending) >= in_flight:
                await write_oldest()
    if group:
        start(group)
    while pending:
        await write_oldest()
    return 1 if failures else 0


_COMPACT = json.JSONEncoder(separators=(",", ":"))


def compact_json(value: Any) -> str:
    return _COMPACT.encode(value)


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _json_escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code > 0xFFFF:  # outside the BMP: a surrogate pair, as json.dumps writes it
        code -= 0x10000
        return f"\\u{0xD800 | (code >> 10):04x}\\u{0xDC00 | (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def result_line(item_id: Any, result: TriageResult) -> str:
    """A `--jsonl` output line: the input's id, then the card and meta as the API returns them, as compact
    ASCII JSON (serialised once, by the model's own serialiser; other characters escaped as json.dumps does).
    Non-ASCII characters only ever occur inside JSON strings, where a \\uXXXX escape means the same."""
    body = result.model_dump_json()
    if not body.isascii():
        body = _NON_ASCII.sub(_json_escape, body)
    return '{"id":' + compact_json(item_id) + "," + body[1:]


def render_text(result: TriageResult) -> str:
    meta = result.meta
    lines = [f"{result.severity} · {result.category} · confidence {result.confidence:.2f}", ""]
    lines += result.summary.splitlines()
    lines.append("")
    lines += [f"{n}. {step}" for n, step in enumerate(result.steps, start=1)]
    lines.append("")
    engine = f"{meta.engine} {meta.model}" if meta.model else meta.engine
    lines.append(
        f"engine: {engine} · prompt: {meta.prompt_version} · {meta.latency_ms:.0f} ms · ${meta.cost_usd:.5f}"
        + (" · cached" if meta.cached else "")
    )
    if meta.degraded:
        lines.append(f"degraded: {meta.degraded_reason}")
    if meta.needs_review:
        lines.append("needs human review")
    if meta.redactions:
        lines.append("redacted: " + ", ".join(meta.redactions))
    lines += context_lines(result)
    lines.append(f"triage id: {meta.triage_id}")
    return "\n".join(lines)


def eval_command(settings: Settings, args: argparse.Namespace) -> int:
    from bot.evals.cases import Case
    from bot.evals.command import run_eval_command
    from bot.memory.cases import feedback_cases
    from bot.shadow.runner import load_prompt_file
    from bot.triage.model import ModelClient

    if args.prompt:
        load_prompt_file(args.prompt)  # a missing or empty file is a clear error before any case runs

    if args.engine == "model" and not settings.model_enabled and not args.compare:
        print("eval: --engine model needs OPENAI_API_KEY; without it every case falls back to the heuristic "
              "engine (marked degraded)", file=sys.stderr)
    # One log line per case would bury the report; warnings and errors still show.
    configure_logging("warning" if settings.log_level in ("info", "debug") else settings.log_level)

    @contextlib.asynccontextmanager
    async def service() -> AsyncIterator[TriageService]:
        # A scratch database: evaluation never mixes with production triages, feedback or the daily spend.
        with tempfile.TemporaryDirectory(prefix="triage-eval-") as scratch:
            # No shadow either: an eval run measures one version at a time.
            scratch_settings = settings.model_copy(update={
                "db_path": f"{scratch}/eval.db", "database_url": None, "shadow_model": None, "shadow_prompt": None,
            })
            gateway = build_gateway(scratch_settings)
            if args.prompt and gateway.openai_client is not None:
                # A candidate prompt, or the live one taken from another commit: same client, same limits.
                gateway.service.model = ModelClient(
                    gateway.openai_client, load_prompt_file(args.prompt), timeout=settings.model_timeout,
                    attempts=settings.model_attempts,
                )
            try:
                yield gateway.service
            finally:
                await gateway.aclose()

    feedback = None
    if args.feedback:
        def feedback() -> list[Case]:
            store = open_store(settings.db_path, settings.database_url)
            try:
                return feedback_cases(store, args.since)
            finally:
                store.close()

    from bot.evals.provenance import answer_settings

    return run_eval_command(
        args, service, feedback_cases=feedback, describe=lambda prompt: answer_settings(settings, prompt)
    )


def cases_command(settings: Settings, args: argparse.Namespace) -> int:
    from bot.memory.cases import export_cases, judged_lines, write_cases

    if args.sqlite and os.path.exists(args.sqlite):
        print(f"error: {args.sqlite} exists; --sqlite writes a new database", file=sys.stderr)
        return 2
    store = open_store(settings.db_path, settings.database_url)
    try:
        lines = judged_lines(store, args.since)
    finally:
        store.close()
    if args.sqlite:
        print(f"{export_cases(lines, args.sqlite)} judged cases written to {args.sqlite}", file=sys.stderr)
        return 0
    write_cases(lines, sys.stdout)
    return 0


def db_command(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    """`db upgrade` migrates (as every start does), `db current` only reads the revision."""
    from bot.store import dialects, migrate

    dialect = dialects.connect(settings.database_url if settings.database_url else settings.db_path)
    try:
        if args.db_command == "upgrade":
            out.write(f"{migrate.upgrade(dialect)} (head)\n")
        else:
            out.write(migrate.describe(dialect) + "\n")
    finally:
        dialect.engine.dispose()
    return 0


def report_command(settings: Settings, args: argparse.Namespace) -> int:
    from bot.evals.cases import EvalError
    from bot.evals.command import read_run
    from bot.report import run_report

    eval_run = None
    if args.eval:
        try:
            eval_run = read_run(args.eval)
        except EvalError as exc:
            print(f"error: --eval: {exc}", file=sys.stderr)
            return 2
    return run_report(settings, days=args.since, as_json=args.json, out=sys.stdout, html=args.html, eval_run=eval_run)


def socket_command(settings: Settings) -> int:
    from bot.slack.socket import socket_main

    async def run() -> int:
        gateway = build_gateway(settings, socket_mode=True)
        announce(settings, socket_mode=True)
        await gateway.start()
        try:
            return await socket_main(
                settings, gateway.service, gateway.store, client=gateway.slack_client, intake=gateway.intake
            )
        finally:
            await gateway.aclose()

    return asyncio.run(run())


if __name__ == "__main__":
    raise SystemExit(main())
