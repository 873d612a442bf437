"""Heuristic engine throughput: cards per second on one core over the dev set, against a trivial pass.

Run: .venv/bin/python benchmarks/heuristics.py [--rounds N] [--repeats N] [--json] [--check]

Both passes run in this process, pinned to one core where the OS allows it, over the same texts
(evals/dev.jsonl plus evals/dev-nolabel.jsonl):
(a) baseline: what any engine must do at least, collapse whitespace and run one regular expression;
(b) the heuristic engine: heuristic_card(text), a schema-validated TriageCard per alert.
Each pass is timed `repeats` times and the best is kept (the least disturbed by other processes).
The ratio (b)/(a) says how many trivial passes one card costs, a figure that travels between machines
better than cards/s. --check exits 1 below the target of 5,000 cards/s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.triage.heuristics import heuristic_card  # noqa: E402
from bot.triage.rules import default_rules  # noqa: E402

TARGET_CARDS_PER_SECOND = 5000.0
_BASELINE_PATTERN = re.compile(r"severity\W+(\w+)", re.IGNORECASE)


def load_texts() -> list[str]:
    texts: list[str] = []
    for name in ("dev.jsonl", "dev-nolabel.jsonl"):
        with (ROOT / "evals" / name).open(encoding="utf-8") as handle:
            texts.extend(json.loads(line)["text"] for line in handle if line.strip())
    return texts


def baseline(text: str) -> object:
    """The floor: normalise the text and look for one label with one regex."""
    return _BASELINE_PATTERN.search(" ".join(text.split()))


def pin_to_one_core() -> str:
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity on this OS)"
    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cores[0]})
    return f"pinned to core {cores[0]}"


def best_rate(work: Callable[[str], object], texts: list[str], rounds: int, repeats: int) -> float:
    """Calls per second: the best of `repeats` timings of `rounds` passes over all texts."""
    for text in texts:  # warm caches and lazy compilation outside the timing
        work(text)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(rounds):
            for text in texts:
                work(text)
        best = min(best, time.perf_counter() - started)
    return rounds * len(texts) / best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="passes over the texts per timing")
    parser.add_argument("--repeats", type=int, default=5, help="timings per pass; the best is kept")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--check", action="store_true", help=f"exit 1 below {TARGET_CARDS_PER_SECOND:,.0f} cards/s")
    args = parser.parse_args(argv)

    pinning = pin_to_one_core()
    texts = load_texts()
    started = time.perf_counter()
    default_rules()
    load_ms = (time.perf_counter() - started) * 1000

    base = best_rate(baseline, texts, args.rounds * 5, args.repeats)
    engine = best_rate(heuristic_card, texts, args.rounds, args.repeats)
    result = {
        "texts": len(texts),
        "cards_per_second": round(engine, 1),
        "microseconds_per_card": round(1e6 / engine, 1),
        "baseline_per_second": round(base, 1),
        "cost_vs_baseline": round(base / engine, 1),
        "rules_load_ms": round(load_ms, 1),
        "target_cards_per_second": TARGET_CARDS_PER_SECOND,
        "meets_target": engine >= TARGET_CARDS_PER_SECOND,
        "cpu": pinning,
        "python": platform.python_version(),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"heuristic engine over {len(texts)} dev alerts, {pinning}, Python {result['python']}")
        print(f"  rules file load + compile (once per process): {load_ms:8.1f} ms")
        print(f"  baseline (normalise + one regex):  {base:12,.0f} texts/s")
        print(f"  heuristic_card:                    {engine:12,.0f} cards/s  ({1e6 / engine:.0f} µs/card)")
        print(f"  one card costs {base / engine:.1f} baseline passes")
        verdict = "meets" if result["meets_target"] else "BELOW"
        print(f"  {verdict} the target of {TARGET_CARDS_PER_SECOND:,.0f} cards/s")
    return 0 if result["meets_target"] or not args.check else 1


if __name__ == "__main__":
    raise SystemExit(main())
