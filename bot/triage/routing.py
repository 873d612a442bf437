"""Model routing: which tier answers, decided from the pre-screen, the budget and the answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.card import TriageCard

Tier = Literal["fast", "strong"]
BudgetState = Literal["ok", "fast_only", "exhausted"]


@dataclass(frozen=True)
class RoutePolicy:
    strong_input_chars: int
    min_confidence: float


def budget_state(spent: float, budget: float | None, fast_only_ratio: float) -> BudgetState:
    """Spend within the day decides whether the strong tier, any model, or nothing may be paid for."""
    if budget is None:
        return "ok"
    if spent >= budget:
        return "exhausted"
    if spent >= budget * fast_only_ratio:
        return "fast_only"
    return "ok"


def first_tier(prescreen: TriageCard, text_chars: int, policy: RoutePolicy, budget: BudgetState) -> Tier | None:
    """Start on the strong tier for long, critical-looking or security inputs; None means no model."""
    if budget == "exhausted":
        return None
    if budget == "fast_only":
        return "fast"
    critical = prescreen.severity in ("P0", "P1") or prescreen.category == "security"
    if critical or text_chars > policy.strong_input_chars:
        return "strong"
    return "fast"


def escalate(tier: Tier, answer: TriageCard | None, policy: RoutePolicy, budget: BudgetState) -> bool:
    """Ask the strong tier when the fast answer is unusable or unsure, if the budget allows it."""
    if tier != "fast" or budget != "ok":
        return False
    return answer is None or answer.confidence < policy.min_confidence
