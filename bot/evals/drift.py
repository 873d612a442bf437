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

    def agreement(side: Mapping[tuple[str, str], Mapping[str, Any]]) -> float:
        # Both labels within the human ones (a case's expected labels, or the people's verdict on a card).
        return rate(sum(bool(side[k].get("category_ok")) and bool(side[k].get("severity_ok")) for k in common),
                    len(common))

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
        "agreement": {"a": agreement(a), "b": agreement(b)},
        "cases": moved,
    }


def gate(drift: Mapping[str, Any], *, max_drift: float | None, min_agreement: float | None) -> list[str]:
    """Why the candidate (run B) must not ship; empty when it may.

    `max_drift` is a percentage of the common cases whose severity may move; `min_agreement` the least share
    (0–1, or a percentage above 1) of cases where B agrees with the human labels.
    """
    reasons: list[str] = []
    if max_drift is not None and drift["moved_share"] * 100 > max_drift + 1e-9:
        reasons.append(
            f"{drift['moved']} of {drift['common_cases']} severities moved ({drift['moved_share']:.1%}),"
            f" more than the {max_drift:g} % allowed"
        )
    if min_agreement is not None:
        floor = min_agreement / 100 if min_agreement > 1 else min_agreement
        agreement = float(drift["agreement"]["b"])
        if agreement + 1e-9 < floor:
            reasons.append(f"agreement with the human labels {agreement:.1%} is below {floor:.1%}")
    return reasons
