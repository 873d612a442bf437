"""Measuring the cards: `eval` (scored cases), `report` (agreement with people), `cases` (judged cards as cases)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from collections.abc import AsyncIterator

from bot.settings import Settings
from bot.store import open_store
from bot.triage.service import TriageService
from bot.wiring import build_gateway


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


def report_command(settings: Settings, args: argparse.Namespace) -> int:
    from bot.evals.cases import EvalError
    from bot.evals.command import read_run
    from bot.report.command import run_report

    eval_run = None
    if args.eval:
        try:
            eval_run = read_run(args.eval)
        except EvalError as exc:
            print(f"error: --eval: {exc}", file=sys.stderr)
            return 2
    return run_report(settings, days=args.since, as_json=args.json, out=sys.stdout, html=args.html, eval_run=eval_run)
