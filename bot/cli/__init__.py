"""The triage-bot command: serve · socket · triage · eval · report · cases · db · runbooks · mcp.

The flags of every command are in arguments.py; each group of commands has its module: serve.py (the HTTP
gateway and Slack Socket Mode), triage.py (a card on the terminal, or a JSONL batch), review.py (eval,
report, cases) and database.py (db). `main` is the console script.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
from collections.abc import Sequence

import sqlalchemy.exc

from bot.cli.arguments import parser
from bot.cli.database import db_command
from bot.cli.review import cases_command, eval_command, report_command
from bot.cli.serve import is_loopback, serve, socket_command
from bot.cli.triage import result_line, run_triage
from bot.health import DatabaseUnavailable, postgres_errors
from bot.observability import configure_logging
from bot.settings import ConfigError, Settings, without_blanks
from bot.store.migrate import SchemaError
from bot.wiring import build_gateway


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
    configure_logging(log_level(args.command, settings.log_level))
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
        return run_triage(settings, args)
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


def log_level(command: str, configured: str) -> str:
    """The level a command logs at: TRIAGE_LOG_LEVEL, except where log lines would bury what it prints."""
    # The card is the output of `triage`; its log line would only clutter the terminal.
    if command in ("triage", "runbooks", "mcp") and configured == "info":
        return "warning"
    # One log line per eval case would bury the report; warnings and errors still show.
    if command == "eval" and configured in ("info", "debug"):
        return "warning"
    return configured


# `is_loopback` and `result_line` are imported from here by code and tests that predate the package.
__all__ = ["is_loopback", "log_level", "main", "parser", "result_line", "run_command"]
