"""Batch triage end to end: `triage-bot triage --jsonl` over lines built from evals/*.jsonl, records included.

Run: .venv/bin/python benchmarks/batch.py [--lines N] [--distinct] [--json]

The command runs as a user runs it (its own process, the SQLite store in a fresh directory, no model
configured), timed from start to exit. Lines are the eval texts in turn with ids 0..N-1 (`--distinct` makes
every text unique by appending its line number, so no repeat is ever seen twice). Checked after the run:
one output line per input, in input order, and one recorded triage per line. Target: 2,000 cards/s;
exits 1 below it or when a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_CARDS_PER_SECOND = 2000.0


def eval_texts() -> list[str]:
    texts: list[str] = []
    for path in sorted((ROOT / "evals").glob("*.jsonl")):
        with path.open(encoding="utf-8") as handle:
            texts.extend(json.loads(line)["text"] for line in handle if line.strip())
    return texts


def build_lines(count: int, distinct: bool) -> str:
    texts = eval_texts()
    lines = []
    for n in range(count):
        text = texts[n % len(texts)]
        lines.append(json.dumps({"id": n, "text": f"{text} (line {n})" if distinct else text}))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--distinct", action="store_true", help="every line's text unique")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    stdin = build_lines(args.lines, args.distinct)
    with tempfile.TemporaryDirectory() as tmp:
        db = f"{tmp}/batch.db"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "TRIAGE_", "SLACK_"))}
        env.update({"TRIAGE_DB": db, "PYTHONPATH": str(ROOT)})
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "bot.cli", "triage", "--jsonl"], input=stdin, capture_output=True, text=True,
            env=env, cwd=tmp, check=False,
        )
        seconds = time.perf_counter() - started
        with sqlite3.connect(db) as conn:
            recorded = int(conn.execute("select count(*) from triages").fetchone()[0])
    out = [json.loads(line) for line in done.stdout.splitlines()]
    in_order = [item.get("id") for item in out] == list(range(args.lines))
    rate = args.lines / seconds
    result = {
        "lines": args.lines,
        "distinct_texts": args.distinct,
        "seconds": round(seconds, 2),
        "cards_per_second": round(rate, 1),
        "exit_code": done.returncode,
        "output_lines": len(out),
        "in_input_order": in_order,
        "recorded": recorded,
        "target_cards_per_second": TARGET_CARDS_PER_SECOND,
    }
    checks_ok = done.returncode == 0 and in_order and recorded == args.lines
    result["meets_target"] = checks_ok and rate >= TARGET_CARDS_PER_SECOND
    if args.json:
        print(json.dumps(result))
    else:
        print(json.dumps(result, indent=2))
        if not checks_ok:
            print(f"checks failed; stderr tail:\n{done.stderr[-2000:]}", file=sys.stderr)
    return 0 if result["meets_target"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
