"""Hostile input: time to prepare 1 MB of pathological text against 1 MB of ordinary alert text.

Run: .venv/bin/python benchmarks/hostile.py [--repeats N] [--json] [--check]

Each input is one megabyte: runs of tabs, spaces and blank lines, `a-a-a-…`, `a.a.a.…`, `eyJ-eyJ-…`,
nested brackets, deeply nested JSON, dotted numbers, stacked combining accents, carriage returns. Each goes
through the pure front of the pipeline exactly as a request does (normalise, redact, fingerprint,
pre-screen with the heuristic engine: `prepare`), and separately through `normalize` alone. Baseline in the
same run: one megabyte of ordinary alert lines. Reported: best of `repeats` timings per input and its ratio to
the baseline; `--check` exits 1 when normalising any input costs more than 20× the baseline, or preparing it
more than 1 s. (Before normalisation cut oversized input first, 100,000 tabs took minutes.)
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.triage.front import prepare  # noqa: E402
from bot.triage.normalize import normalize  # noqa: E402

MB = 1_000_000
CAP = 16_000  # TRIAGE_MAX_INPUT_CHARS default
MAX_RATIO = 20.0
MAX_SECONDS = 1.0

ORDINARY_LINE = "[FIRING:1] KubePodCrashLooping payments-api-7d9f8b6c5d-x2k4p prod restarted 12 times in 5m\n"
INPUTS: dict[str, str] = {
    "ordinary alert lines (baseline)": (ORDINARY_LINE * (MB // len(ORDINARY_LINE) + 1))[:MB],
    "tabs, then a word": "\t" * (MB - 9) + "disk full",
    "spaces, then a word": " " * (MB - 9) + "disk full",
    "word, spaces, word": "disk" + " " * (MB - 8) + "full",
    "blank lines": "disk\n" + "\n \t" * (MB // 3) + "full",
    "a-a-a-…": "a-" * (MB // 2),
    "a.a.a.…": "a." * (MB // 2),
    "eyJ-eyJ-…": "eyJ-" * (MB // 4),
    "nested brackets": "[" * (MB // 2) + "]" * (MB // 2),
    "deep JSON": '{"a":' * (MB // 10) + "1" + "}" * (MB // 10),
    "dotted numbers": "1." * (MB // 2),
    "stacked accents": "a" + "\u0301\u0316" * (MB // 2),
    "carriage returns": "\r" * (MB - 1) + "x",
}


def best_seconds(work: Callable[[str], object], text: str, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        work(text)
        best = min(best, time.perf_counter() - started)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timings per input; the best is kept")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    limits = f"exit 1 above {MAX_RATIO}× baseline (normalise) or {MAX_SECONDS} s (prepare)"
    parser.add_argument("--check", action="store_true", help=limits)
    args = parser.parse_args(argv)

    prepare(INPUTS["ordinary alert lines (baseline)"], CAP)  # rules compiled outside the timings
    rows: list[dict[str, Any]] = []
    for name, text in INPUTS.items():
        rows.append({
            "input": name,
            "normalize_ms": round(best_seconds(lambda t: normalize(t, CAP), text, args.repeats) * 1000, 2),
            "prepare_ms": round(best_seconds(lambda t: prepare(t, CAP), text, args.repeats) * 1000, 2),
        })
    base = rows[0]
    for row in rows:
        row["normalize_ratio"] = round(row["normalize_ms"] / max(base["normalize_ms"], 1e-6), 2)
        row["prepare_ratio"] = round(row["prepare_ms"] / max(base["prepare_ms"], 1e-6), 2)
    worst = max(rows[1:], key=lambda r: r["normalize_ratio"])
    ok = all(r["normalize_ratio"] <= MAX_RATIO and r["prepare_ms"] <= MAX_SECONDS * 1000 for r in rows)
    if args.json:
        print(json.dumps({"rows": rows, "worst": worst["input"], "ok": ok, "python": platform.python_version()}))
    else:
        print(f"1 MB inputs, TRIAGE_MAX_INPUT_CHARS={CAP}, best of {args.repeats}, Python {platform.python_version()}")
        print(f"  {'input':34} {'normalize':>10} {'×base':>6} {'prepare':>10} {'×base':>6}")
        for r in rows:
            print(f"  {r['input']:34} {r['normalize_ms']:8.1f}ms {r['normalize_ratio']:6.2f}"
                  f" {r['prepare_ms']:8.1f}ms {r['prepare_ratio']:6.2f}")
        print(f"  slowest to normalise: {worst['input']}, {worst['normalize_ratio']}× the ordinary megabyte"
              f" ({'within' if ok else 'OVER'} {MAX_RATIO}× for normalise and {MAX_SECONDS} s for prepare)")
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    raise SystemExit(main())
