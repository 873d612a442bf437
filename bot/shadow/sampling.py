"""Which live triages the candidate also answers, and when it must not: pure decisions, no I/O."""

from __future__ import annotations

import hashlib

# Shadow runs waiting or in flight in one process; past this a sampled triage is skipped, not queued, so a
# storm of alerts can never pile up work behind the live path.
MAX_PENDING = 32


def sampled(key: str, rate: float) -> bool:
    """Is the triage with this id in the sample? The same id always gives the same answer.

    The id is hashed to a number in [0, 1): rate 1.0 takes every triage, 0.0 none, 0.1 about one in ten.
    """
    if rate >= 1.0:
        return True
    if rate <= 0.0:
        return False
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


def skip_reason(
    *,
    triage_id: str,
    rate: float,
    live_engine: str,
    live_degraded: bool,
    live_circuit: str,
    shadow_circuit: str,
    pending: int,
    spent: float,
    budget: float | None,
) -> str | None:
    """Why this triage gets no shadow run (None: run it).

    Only answers the live model gave are shadowed: a degraded live path (circuit open, budget spent, model
    errors, heuristics) means the model is in trouble and the candidate must not add to it.
    """
    if not sampled(triage_id, rate):
        return "not_sampled"
    if live_degraded or live_engine != "model":
        return "live_degraded"
    if live_circuit != "closed":
        return "circuit_open"
    if shadow_circuit == "open":
        return "shadow_circuit_open"
    if pending >= MAX_PENDING:
        return "busy"
    if budget is not None and spent >= budget:
        return "budget_exhausted"
    return None


def shadow_budget(daily_budget: float | None, share: float) -> float | None:
    """The candidate's own daily limit in USD; None when there is no daily budget at all."""
    return None if daily_budget is None else daily_budget * share
