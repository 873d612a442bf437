"""Severity drift: how the answers to the same cases moved between two eval runs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from bot.card import SEVERITIES
from bot.evals.cases import rate


def _keyed(run: Mapping[str, Any]) -> dict[tuple[str, str], Mapping[str, Any]]:
    return {(str(case.get("file", "")), str(case["id"])): case for case in run["cases"] if "id" in case}


def severity_drift(run_a: Mapping[str, Any], run_b: Mapping[str, Any]) -> dict[str, Any]:
    """How severities moved from run A to run B. Positive levels mean B is more severe (P2 -> P1 = +1)."""
    a, b = _keyed(run_a), _keyed(run_b)
    if not a.keys() & b.keys():  # the same cases read from differently named files
        a = {("", key[1]): case for key, case in a.items()}
        b = {("", key[1]): case for key, case in b.items()}
    common = [key for key in a if key in b]
    moved: list[dict[str, Any]] = []
    by_levels: Counter[int] = Counter()
    category_changed = 0
    became_right = became_wrong = 0
    for key in common:
        before, after = a[key], b[key]
        if before.get("category") != after.get("category"):
            category_changed += 1
        old, new = before.get("severity"), after.get("severity")
        if old not in SEVERITIES or new not in SEVERITIES or old == new:
            continue
        levels = SEVERITIES.index(old) - SEVERITIES.index(new)
        by_levels[levels] += 1
        right_before, right_after = bool(before.get("severity_ok")), bool(after.get("severity_ok"))
        became_right += right_after and not right_before
        became_wrong += right_before and not right_after
        moved.append(
            {"id": key[1], "file": key[0] or after.get("file", ""), "from": old, "to": new, "levels": levels,
             "right_before": right_before, "right_after": right_after}
        )
    moved.sort(key=lambda item: (-abs(item["levels"]), item["file"], item["id"]))
    return {
        "run_a": str(run_a.get("path", "A")),
        "run_b": str(run_b.get("path", "B")),
        "common_cases": len(common),
        "only_in_a": len(a.keys() - b.keys()),
        "only_in_b": len(b.keys() - a.keys()),
        "moved": len(moved),
        "moved_share": rate(len(moved), len(common)),
        "more_severe": sum(1 for item in moved if item["levels"] > 0),
        "less_severe": sum(1 for item in moved if item["levels"] < 0),
        "by_levels": {f"{levels:+d}": by_levels[levels] for levels in sorted(by_levels, reverse=True)},
        "max_levels": max((abs(item["levels"]) for item in moved), default=0),
        "became_right": became_right,
        "became_wrong": became_wrong,
        "category_changed": category_changed,
        "severity_accuracy": {
            "a": run_a.get("summary", {}).get("severity_accuracy"),
            "b": run_b.get("summary", {}).get("severity_accuracy"),
        },
        "cases": moved,
    }
