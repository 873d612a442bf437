"""Pure decisions for alert storms: resolved notices, coalescing windows, pacing and retry backoff."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.identity.status import is_resolved as is_resolved  # re-exported: the storm code asks it here

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
# Distinct places remembered per incident; the card shows a few and counts the rest.
MAX_INCIDENT_PLACES = 50


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
    places: tuple[str, ...] = ()


def merge_places(known: list[str], new: tuple[str, ...], cap: int = MAX_INCIDENT_PLACES) -> list[str]:
    """Distinct places in first-seen order, at most `cap`."""
    out = list(known)
    for place in new:
        if len(out) >= cap:
            break
        if place not in out:
            out.append(place)
    return out


def is_open_for(incident: Incident, now: float, window: float) -> bool:
    """Does a repeat at `now` belong to `incident` (not resolved, last seen within the window)?"""
    return not incident.resolved and now - incident.last_seen <= window


def may_resolve(opener: str | None, sender: str | None) -> bool:
    """May a resolved notice from `sender` close the incident `opener` opened?

    Only the integration that owns the alert says it is over: the same Slack bot or app in an alert
    channel, or Alertmanager (whose `status` field decides). A person's message (no sender) never does.
    """
    return sender is not None and sender == opener


def sender_of(event: Mapping[str, Any]) -> str | None:
    """Which integration posted a Slack message: its bot or app id; None for a person."""
    profile = event.get("bot_profile")
    bot = event.get("bot_id") or (profile.get("id") if isinstance(profile, Mapping) else None)
    app = event.get("app_id") or (profile.get("app_id") if isinstance(profile, Mapping) else None)
    if isinstance(app, str) and app:
        return f"slack-app:{app}"
    if isinstance(bot, str) and bot:
        return f"slack-bot:{bot}"
    return None


def should_retry(reason: str | None, attempts: int) -> bool:
    return reason in RETRYABLE_REASONS and attempts < MAX_RETRY_ATTEMPTS


def retry_delay(attempts: int, base: float, cap: float = 1800.0) -> float:
    """Seconds before re-triage attempt `attempts + 1`: base, 2×base, 4×base … capped."""
    return float(min(cap, base * 2**attempts))
