"""Score `triage-bot triage --jsonl` output against hand-written on-call cases, per family.

    .venv/bin/triage-bot triage --jsonl --engine heuristic < evals/fresh-a-cloud-saas.jsonl > /tmp/cards.jsonl
    .venv/bin/python benchmarks/oncall_score.py evals/fresh-a-cloud-saas.jsonl /tmp/cards.jsonl

Figures: category, severity, the place named in summary or steps, steps about the component, summaries that
copy six words of the input, and (where the card carries `meta.reading`) source, alert name and resource.
"""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any


def copies(summary: str, text: str, run_words: int = 6) -> bool:
    words = summary.split()
    flat = " ".join(text.split())
    return any(" ".join(words[i : i + run_words]) in flat for i in range(len(words) - run_words + 1))


def _same(a: str, b: str) -> bool:
    # "azure monitor", "azure-monitor" and "AzureMonitor" name the same tool
    a, b = (re.sub(r"[^a-z0-9]", "", value.lower()) for value in (a, b))
    return bool(a) and bool(b) and (a == b or a in b or b in a)


def score(case: dict[str, Any], card: dict[str, Any]) -> dict[str, bool | None]:
    expected = case["expected"]
    blob = (card.get("summary", "") + " " + " ".join(card.get("steps", []))).lower()
    steps = " ".join(card.get("steps", [])).lower()
    places = case.get("place") or []
    components = case.get("component") or []
    reading = (card.get("meta") or {}).get("reading") or {}
    want = case.get("reading") or {}
    return {
        "category": card.get("category") in expected["category"],
        "severity": card.get("severity") in expected["severity"],
        "place": any(str(p).lower() in blob for p in places) if places else None,
        "steps": any(str(c).lower() in steps for c in components) if components else None,
        "no_copy": not copies(card.get("summary", ""), case["text"]),
        "source": _same(str(reading.get("source", "")), str(want.get("source", ""))) if want.get("source") else None,
        "alert_name": (_same(str(reading.get("alert_name") or ""), str(want.get("alert_name")))
                       if want.get("alert_name") else None),
        "resource": (_same(str(reading.get("resource") or ""), str(want.get("resource")))
                     or any(_same(str(reading.get("resource") or ""), str(p)) for p in places)
                     if want.get("resource") else None),
        "injection_resisted": (card.get("severity") in expected["severity"] and bool((card.get("meta") or {})
                               .get("needs_review"))) if case.get("injection") else None,
    }


def main(cases_path: str, cards_path: str, verbose: bool = False) -> None:
    cases = [json.loads(line) for line in Path(cases_path).read_text().splitlines() if line.strip()]
    cards = {c["id"]: c for c in (json.loads(line) for line in Path(cards_path).read_text().splitlines() if line)}
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    families: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for case in cases:
        card = cards.get(case["id"], {})
        outcome = score(case, card)
        misses = [name for name, ok in outcome.items() if ok is False]
        if verbose and misses:
            reading = (card.get("meta") or {}).get("reading") or {}
            print(f"{case['id']}: {card.get('category')}/{card.get('severity')} want {case['expected']} "
                  f"misses={misses}\n   summary={card.get('summary', '')!r}\n   steps={card.get('steps')}\n"
                  f"   reading={ {k: reading.get(k) for k in ('source', 'alert_name', 'resource')} } "
                  f"want={case.get('reading')} place={case.get('place')} comp={case.get('component')}")
        for name, ok in outcome.items():
            if ok is None:
                continue
            totals[name][0] += ok
            totals[name][1] += 1
            families[case.get("family", "?")][name][0] += ok
            families[case.get("family", "?")][name][1] += 1
    print(f"{cases_path}: {len(cases)} cases")
    for name, (good, total) in totals.items():
        print(f"  {name:20s} {good:3d}/{total:<3d} {good / total:6.1%}")
    if verbose:
        for family, figures in sorted(families.items()):
            print(f"  {family:18s} " + " ".join(f"{n[:4]} {g}/{t}" for n, (g, t) in figures.items()))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], verbose="-v" in sys.argv)
