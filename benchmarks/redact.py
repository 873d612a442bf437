"""Redaction throughput and coverage: today's redaction against the previous one, in the same run.

Run: .venv/bin/python benchmarks/redact.py [--rounds N] [--repeats N] [--json]

Both implementations run in this process, pinned to one core where the OS allows it, over the same
texts: every eval case (evals/*.jsonl, what the gateway mostly sees: no secrets) and the credential
forms of tests/secret_forms.py (every text carries one). Each pass is timed `repeats` times and the
best is kept. It also reports, for both, how many credential forms leave no 10-character piece of the
secret behind, and how many eval texts get anything masked (false positives: the eval sets hold no
credentials). The figure that travels between machines is the cost ratio new/previous.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.heuristics import pin_to_one_core  # noqa: E402
from benchmarks.redact_baseline import redact as previous  # noqa: E402
from bot.redaction import redact  # noqa: E402
from tests.secret_forms import SECRET_FORMS, pieces  # noqa: E402

Redactor = Callable[[str], tuple[str, list[str]]]


def load_eval_texts() -> list[str]:
    texts: list[str] = []
    # the on-call tuning set quotes leaked keys on purpose: it would count true finds as false positives
    for path in sorted(p for p in (ROOT / "evals").glob("*.jsonl") if p.name != "oncall-dev.jsonl"):
        with path.open(encoding="utf-8") as handle:
            texts.extend(json.loads(line)["text"] for line in handle if line.strip())
    return texts


def megabytes_per_second(work: Redactor, texts: list[str], rounds: int, repeats: int) -> float:
    for text in texts:  # compile and warm outside the timing
        work(text)
    size = sum(len(text.encode("utf-8")) for text in texts) * rounds
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(rounds):
            for text in texts:
                work(text)
        best = min(best, time.perf_counter() - started)
    return size / best / 1e6


def coverage(work: Redactor) -> int:
    """Credential forms fully masked: no 10-character piece of the secret is left."""
    return sum(1 for _, text, secret in SECRET_FORMS if not any(p in work(text)[0] for p in pieces(secret)))


def false_positives(work: Redactor, texts: list[str]) -> int:
    return sum(1 for text in texts if work(text)[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="passes over the texts per timing")
    parser.add_argument("--repeats", type=int, default=5, help="timings per pass; the best is kept")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    pinning = pin_to_one_core()
    evals = load_eval_texts()
    forms = [text for _, text, _ in SECRET_FORMS]
    result: dict[str, object] = {"eval_texts": len(evals), "credential_forms": len(forms), "cpu": pinning,
                                 "python": platform.python_version()}
    for name, work in (("previous", previous), ("current", redact)):
        result[name] = {
            "eval_mb_per_s": round(megabytes_per_second(work, evals, args.rounds, args.repeats), 2),
            "forms_mb_per_s": round(megabytes_per_second(work, forms, args.rounds * 10, args.repeats), 2),
            "forms_masked": coverage(work),
            "eval_texts_with_masks": false_positives(work, evals),
        }
    now, before = result["current"], result["previous"]
    assert isinstance(now, dict) and isinstance(before, dict)
    result["cost_vs_previous_eval"] = round(before["eval_mb_per_s"] / now["eval_mb_per_s"], 2)
    result["cost_vs_previous_forms"] = round(before["forms_mb_per_s"] / now["forms_mb_per_s"], 2)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"redaction over {len(evals)} eval texts and {len(forms)} credential forms, {pinning}, "
          f"Python {platform.python_version()}")
    for name in ("previous", "current"):
        row = result[name]
        assert isinstance(row, dict)
        print(f"  {name:9} eval {row['eval_mb_per_s']:7.2f} MB/s   forms {row['forms_mb_per_s']:7.2f} MB/s   "
              f"masked {row['forms_masked']}/{len(forms)} forms   "
              f"eval texts with a mask: {row['eval_texts_with_masks']}")
    print(f"  current costs {result['cost_vs_previous_eval']}x the previous on eval texts, "
          f"{result['cost_vs_previous_forms']}x on credential forms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
