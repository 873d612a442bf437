"""Stored rows as plain values: the columns read for incidents and verdicts, and how they become data."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row

from bot.alerts.incidents import Incident
from bot.store.schema import incidents, verdicts

INCIDENT = (
    incidents.c.id, incidents.c.fingerprint, incidents.c.channel, incidents.c.thread_ts, incidents.c.count,
    incidents.c.first_seen, incidents.c.last_seen, incidents.c.triage_id, incidents.c.card_ts, incidents.c.resolved,
    incidents.c.dirty, incidents.c.shown_at, incidents.c.post_state, incidents.c.places,
)
VERDICT = (
    verdicts.c.triage_id, verdicts.c.verdict, verdicts.c.severity, verdicts.c.category, verdicts.c.judged_by,
    verdicts.c.judged_at, verdicts.c.fingerprint, verdicts.c.judged_origin,
)


def incident_from(row: Row[Any] | Sequence[Any]) -> Incident:
    (id_, fingerprint, channel, thread_ts, count, first_seen, last_seen, triage_id, card_ts, resolved, dirty,
     shown_at, post_state, places) = tuple(row)[:14]
    return Incident(
        id=id_, fingerprint=fingerprint, channel=channel, thread_ts=thread_ts, count=count,
        first_seen=first_seen, last_seen=last_seen, triage_id=triage_id, card_ts=card_ts,
        resolved=bool(resolved), dirty=bool(dirty), shown_at=shown_at, post_state=post_state,
        places=tuple(json.loads(places or "[]")),
    )


def verdict_from(row: Sequence[Any]) -> dict[str, Any]:
    triage_id, verdict, severity, category, by, at, fingerprint, origin = tuple(row)[:8]
    return {
        "triage_id": triage_id, "verdict": verdict, "severity": severity, "category": category,
        "by": by, "at": at, "fingerprint": fingerprint, "origin": origin or "slack",
    }


def card_summary(raw: Any) -> str:
    """The summary of a stored card (its result JSON), or "" when it cannot be read."""
    try:
        return str(json.loads(raw).get("summary") or "")
    except (TypeError, ValueError, AttributeError):
        return ""
