"""Pure decisions for alert storms: resolved notices, coalescing windows, pacing and retry backoff."""

from __future__ import annotations

import re
from dataclasses import dataclass

_RESOLVED = re.compile(
    r"^\s*(?:\[resolved(?::\d+)?\]|:white_check_mark:|:large_green_circle:|resolved\b)"
    r"|\bstatus\s*[:=]\s*\"?resolved\b",
    re.I,
)

# Degraded reasons worth asking the model again later; no_api_key is a configuration, not an outage.
RETRYABLE_REASONS = frozenset(
    {
        "timeout",
        "deadline",
        "rate_limited",
        "server_error",
        "connection_error",
        "bad_response",
        "circuit_open",
        "budget_exhausted",
        "auth_error",
        "internal_error",
        "invalid_output",
    }
)
MAX_RETRY_ATTEMPTS = 8


@dataclass(frozen=True)
class Incident:
    """One problem as the gateway tracks it: the first alert's card plus how often it repeated."""

    id: str
    fingerprint: str
    channel: str
    thread_ts: str | None
    count: int
    first_seen: float
    last_seen: float
    triage_id: str | None
    card_ts: str | None
    resolved: bool
    dirty: bool
    shown_at: float
    post_state: str = "triaging"


def is_resolved(text: str) -> bool:
    """Does this alert say its problem is over (Alertmanager `[RESOLVED]`, `status: resolved`)?"""
    return bool(_RESOLVED.search(text))


def is_open_for(incident: Incident, now: float, window: float) -> bool:
    """Does a repeat at `now` belong to `incident` (not resolved, last seen within the window)?"""
    return not incident.resolved and now - incident.last_seen <= window


def should_retry(reason: str | None, attempts: int) -> bool:
    return reason in RETRYABLE_REASONS and attempts < MAX_RETRY_ATTEMPTS


def retry_delay(attempts: int, base: float, cap: float = 1800.0) -> float:
    """Seconds before re-triage attempt `attempts + 1`: base, 2×base, 4×base … capped."""
    return float(min(cap, base * 2**attempts))
