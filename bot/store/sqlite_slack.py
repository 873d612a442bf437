"""Storage for the Slack surfaces: which message a card triages, a person's recent cards, open incidents."""

from __future__ import annotations

import json
import sqlite3
import threading
from typing import Any

from bot.alerts.incidents import Incident
from bot.store.sqlite_storm import _INCIDENT_COLUMNS, _incident


class SlackStore:
    """Mixed into Store: `conn` and `_lock` come from there. Plain data in and out, no Slack types."""

    _lock: threading.RLock

    @property
    def conn(self) -> sqlite3.Connection:
        raise NotImplementedError

    def save_message_card(self, channel: str, message_ts: str, triage_id: str, now: float) -> None:
        """Remember that the card of `triage_id` answers the Slack message (channel, message_ts)."""
        with self._lock:
            self.conn.execute(
                "insert or replace into message_cards (channel, message_ts, triage_id, created_at) values (?, ?, ?, ?)",
                (channel, message_ts, triage_id, now),
            )

    def message_card(self, channel: str, message_ts: str) -> dict[str, Any] | None:
        """The posted card that already answers a Slack message: {triage_id, channel, ts}, or None.

        Looks at cards asked for on the message itself and at the incident card an alert-channel message
        opened or was counted into.
        """
        with self._lock:
            row = self.conn.execute(
                "select p.triage_id, p.channel, p.ts from message_cards m join posts p on p.triage_id = m.triage_id "
                "where m.channel = ? and m.message_ts = ? order by m.created_at desc limit 1",
                (channel, message_ts),
            ).fetchone()
            if row is None:
                row = self.conn.execute(
                    "select i.triage_id, i.channel, i.card_ts from alerts a join incidents i on i.id = a.incident_id "
                    "where a.channel = ? and a.ts = ? and i.card_ts is not null order by a.id desc limit 1",
                    (channel, message_ts),
                ).fetchone()
        if row is None:
            return None
        return {"triage_id": str(row[0]), "channel": str(row[1]), "ts": str(row[2])}

    def user_cards(self, user: str, limit: int = 10) -> list[dict[str, Any]]:
        """Cards a person asked for or judged, newest first: id, time, labels, summary, where it was posted."""
        with self._lock:
            rows = self.conn.execute(
                "select t.id, t.created_at, t.severity, t.category, t.result, p.channel, p.ts from triages t "
                "left join posts p on p.triage_id = t.id "
                "where t.id in (select triage_id from posts where requested_by = ? "
                "union select triage_id from feedback where user = ?) "
                "order by t.created_at desc limit ?",
                (user, user, limit),
            ).fetchall()
        cards = []
        for triage_id, created_at, severity, category, result, channel, ts in rows:
            cards.append({
                "triage_id": triage_id, "created_at": created_at, "severity": severity, "category": category,
                "summary": card_summary(result), "channel": channel, "ts": ts,
            })
        return cards

    def open_incidents(self, since: float, limit: int = 10) -> list[Incident]:
        """Unresolved incidents with a posted card and an alert since `since`, most recent first."""
        with self._lock:
            rows = self.conn.execute(
                f"select {_INCIDENT_COLUMNS} from incidents where resolved = 0 and card_ts is not null "
                "and last_seen >= ? order by last_seen desc limit ?",
                (since, limit),
            ).fetchall()
        return [_incident(row) for row in rows]


def card_summary(raw: Any) -> str:
    """The summary of a stored card (its result JSON), or "" when it cannot be read."""
    try:
        return str(json.loads(raw).get("summary") or "")
    except (TypeError, ValueError, AttributeError):
        return ""

