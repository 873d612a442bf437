"""Agreement: how often people confirmed or corrected the cards, per model and prompt version."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

OVERRIDE_ACTIONS = ("severity", "category")


@dataclass
class Verdict:
    """What the humans made of one card: the original labels and the labels after their corrections."""

    severity: str
    category: str
    final_severity: str
    final_category: str
    confirmed: bool

    @property
    def overridden(self) -> bool:
        return (self.severity, self.category) != (self.final_severity, self.final_category)


@dataclass
class Group:
    """The tally for one (model, prompt version)."""

    model: str
    prompt_version: str
    cards: int = 0
    confirmed: int = 0
    overridden: int = 0
    severity_confusion: Counter[tuple[str, str]] = field(default_factory=Counter)
    category_confusion: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def agreement(self) -> float | None:
        judged = self.confirmed + self.overridden
        return round(self.confirmed / judged, 4) if judged else None

    def add(self, verdict: Verdict | None) -> None:
        self.cards += 1
        if verdict is None:
            return
        if verdict.overridden:
            self.overridden += 1
            if verdict.severity != verdict.final_severity:
                self.severity_confusion[(verdict.severity, verdict.final_severity)] += 1
            if verdict.category != verdict.final_category:
                self.category_confusion[(verdict.category, verdict.final_category)] += 1
        elif verdict.confirmed:
            self.confirmed += 1


def verdict(triage: Mapping[str, Any], feedback: Iterable[Mapping[str, Any]]) -> Verdict | None:
    """Fold one card's feedback (oldest first): the latest override of each label wins."""
    severity, category = str(triage["severity"]), str(triage["category"])
    final_severity, final_category, confirmed, judged = severity, category, False, False
    for row in feedback:
        action, new = row.get("action"), row.get("new_value")
        if action == "confirm":
            confirmed = judged = True
        elif action == "severity" and new:
            final_severity, judged = str(new), True
        elif action == "category" and new:
            final_category, judged = str(new), True
    if not judged:
        return None
    return Verdict(severity, category, final_severity, final_category, confirmed)


def aggregate(
    triages: Iterable[Mapping[str, Any]],
    feedback: Iterable[Mapping[str, Any]],
    posted: Iterable[str] = (),
) -> list[Group]:
    """Cards are triages posted to Slack, answered to /triage, or given feedback; grouped and tallied."""
    by_triage: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in sorted(feedback, key=lambda r: (r.get("created_at") or 0, r.get("id") or 0)):
        by_triage[str(row["triage_id"])].append(row)
    shown = set(posted)
    groups: dict[tuple[str, str], Group] = {}
    for triage in triages:
        triage_id = str(triage["id"])
        is_card = triage_id in shown or triage_id in by_triage or str(triage.get("source") or "").startswith("slack:")
        if not is_card:
            continue
        model = str(triage.get("model") or triage.get("engine") or "unknown")
        prompt = str(triage.get("prompt_version") or "unknown")
        group = groups.setdefault((model, prompt), Group(model, prompt))
        group.add(verdict(triage, by_triage.get(triage_id, [])))
    return sorted(groups.values(), key=lambda g: (-g.cards, g.model, g.prompt_version))


def report_json(groups: list[Group], since: float | None = None) -> dict[str, Any]:
    cards = sum(g.cards for g in groups)
    confirmed = sum(g.confirmed for g in groups)
    overridden = sum(g.overridden for g in groups)
    judged = confirmed + overridden
    return {
        "since": since,
        "cards": cards,
        "confirmed": confirmed,
        "overridden": overridden,
        "agreement": round(confirmed / judged, 4) if judged else None,
        "groups": [
            {
                "model": g.model,
                "prompt_version": g.prompt_version,
                "cards": g.cards,
                "confirmed": g.confirmed,
                "overridden": g.overridden,
                "agreement": g.agreement,
                "severity_confusion": _nested(g.severity_confusion),
                "category_confusion": _nested(g.category_confusion),
            }
            for g in groups
        ],
    }


def _nested(counter: Counter[tuple[str, str]]) -> dict[str, dict[str, int]]:
    nested: dict[str, dict[str, int]] = defaultdict(dict)
    for (old, new), count in sorted(counter.items()):
        nested[old][new] = count
    return dict(nested)
