"""Pure verdict decisions: fold a card's clicks into one verdict, and plan what an HTTP verdict records."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.card import CATEGORIES, SEVERITIES, Category, Severity

LABEL_ACTIONS = frozenset({"severity", "category"})


@dataclass(frozen=True)
class Verdict:
    """The standing human judgement of one card: the labels after every click, and the latest click."""

    verdict: Literal["confirm", "override"]
    severity: str
    category: str
    by: str
    at: float
    # Where the latest click came from ("slack", "http", "mcp"); a row stored before origins were recorded
    # was a Slack click.
    origin: str = "slack"


@dataclass(frozen=True)
class Change:
    """One feedback row to store, in the shape the Slack clicks use."""

    action: str
    old_value: str | None
    new_value: str | None


class VerdictError(ValueError):
    """A verdict that cannot be applied as asked; the message says why (HTTP 422)."""


class VerdictRequest(BaseModel):
    """The body of POST /v1/triage/{triage_id}/feedback."""

    model_config = ConfigDict(extra="ignore")

    verdict: Literal["confirm", "override"]
    severity: Severity | None = None
    category: Category | None = None
    by: str = Field(min_length=1, max_length=128)

    @field_validator("by")
    @classmethod
    def _named(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("by must name who gives the verdict")
        return value


def fold_verdict(severity: str, category: str, rows: Iterable[Mapping[str, Any]]) -> Verdict | None:
    """A card's feedback rows (oldest first) as its verdict; None when nobody judged it.

    The latest override of each label wins; the kind and author are those of the latest click.
    """
    last: tuple[Literal["confirm", "override"], Mapping[str, Any]] | None = None
    for row in rows:
        action, new = row.get("action"), row.get("new_value")
        if action == "confirm":
            # A confirm stores the labels it confirmed ("P1/data"): those are what the person saw.
            shown = str(new or "").split("/")
            if len(shown) == 2 and shown[0] in SEVERITIES and shown[1] in CATEGORIES:
                severity, category = shown
            last = ("confirm", row)
        elif action == "severity" and new in SEVERITIES:
            severity, last = str(new), ("override", row)
        elif action == "category" and new in CATEGORIES:
            category, last = str(new), ("override", row)
    if last is None:
        return None
    kind, row = last
    return Verdict(
        kind, severity, category, str(row.get("user") or ""), float(row.get("created_at") or 0.0),
        str(row.get("origin") or "slack"),
    )


def plan_verdict(
    shown_severity: str, shown_category: str, judged: bool, request: VerdictRequest
) -> list[Change]:
    """The feedback rows a verdict over HTTP adds to a card showing these labels.

    Mirrors the Slack clicks: Confirm records the labels shown, an override records each label it changes.
    An override that changes nothing confirms an unjudged card and adds nothing to a judged one, so a
    repeated request never adds a row.
    """
    if request.verdict == "confirm":
        differs = [
            name for name, asked, shown in (
                ("severity", request.severity, shown_severity), ("category", request.category, shown_category)
            ) if asked is not None and asked != shown
        ]
        if differs:
            raise VerdictError(
                f"confirm keeps the card's {' and '.join(differs)}; send verdict 'override' to change it"
            )
        return [Change("confirm", None, f"{shown_severity}/{shown_category}")]
    if request.severity is None and request.category is None:
        raise VerdictError("an override needs a severity or a category")
    changes = []
    if request.severity is not None and request.severity != shown_severity:
        changes.append(Change("severity", shown_severity, request.severity))
    if request.category is not None and request.category != shown_category:
        changes.append(Change("category", shown_category, request.category))
    if not changes and not judged:
        changes.append(Change("confirm", None, f"{shown_severity}/{shown_category}"))
    return changes
