"""Storage for alert storms: accepted alerts, incidents with their card's posting state, re-triage queue.

Everything pending lives here, not in memory, so a restart (even after SIGKILL) resumes where it was.
Multi-step changes run in one transaction so a crash between steps leaves nothing half done.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bot.alerts.incidents import Incident, may_resolve, merge_places

_INCIDENT_COLUMNS = (
    "id, fingerprint, channel, thread_ts, count, first_seen, last_seen, triage_id, card_ts, resolved, dirty, shown_at,"
    " post_state, places"
)


def _incident(row: sqlite3.Row | tuple[Any, ...]) -> Incident:
    (id_, fingerprint, channel, thread_ts, count, first_seen, last_seen, triage_id, card_ts, resolved, dirty,
     shown_at, post_state, places) = tuple(row)
    return Incident(
        id=id_, fingerprint=fingerprint, channel=channel, thread_ts=thread_ts, count=count,
        first_seen=first_seen, last_seen=last_seen, triage_id=triage_id, card_ts=card_ts,
        resolved=bool(resolved), dirty=bool(dirty), shown_at=shown_at, post_state=post_state,
        places=tuple(json.loads(places or "[]")),
    )


class StormStore:
    """Mixed into SQLiteStore: `conn` and `_lock` come from there."""

    _lock: threading.RLock

    @property
    def conn(self) -> sqlite3.Connection:
        raise NotImplementedError

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self.conn.execute("begin immediate")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("rollback")
                raise
            self.conn.execute("commit")

    def _one(self, sql: str, args: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        row = self.conn.execute(sql, args).fetchone()
        return tuple(row) if row is not None else None

    # --- alerts --------------------------------------------------------------------------------

    def accept_alert(
        self, source: str, channel: str, ts: str | None, text: str, now: float, claims: tuple[str, ...] = ()
    ) -> int | None:
        """Record an alert the moment it reaches us; everything after this can be redone.

        `claims` (Slack event id, channel+ts) are taken in the same transaction: None when one was taken
        before (a re-delivery), and a crash can never leave a claim without its alert.
        """
        with self._tx() as conn:
            return self._insert_alert(conn, source, channel, ts, text, now, claims, None)

    def claimed(self, keys: tuple[str, ...]) -> bool:
        """Has any of these event keys been claimed already? (a cheap look before any work on a re-delivery)"""
        with self._lock:
            return any(self._one("select 1 from slack_events where event_id = ?", (key,)) for key in keys)

    def _insert_alert(
        self,
        conn: sqlite3.Connection,
        source: str,
        channel: str,
        ts: str | None,
        text: str,
        now: float,
        claims: tuple[str, ...],
        owner: str | None,
    ) -> int | None:
        if any(self._one("select 1 from slack_events where event_id = ?", (key,)) for key in claims):
            return None
        conn.executemany(
            "insert into slack_events (event_id, received_at) values (?, ?)", [(key, now) for key in claims]
        )
        cursor = conn.execute(
            "insert into alerts (received_at, source, channel, ts, text, owner) values (?, ?, ?, ?, ?, ?)",
            (now, source, channel, ts, text, owner),
        )
        return int(cursor.lastrowid or 0)

    def pending_alerts(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self.conn.execute(
                "select id, source, channel, ts, text, fingerprint from alerts where status = 'accepted' order by id"
            ).fetchall()
        keys = ("id", "source", "channel", "ts", "text", "fingerprint")
        return [dict(zip(keys, tuple(r), strict=True)) for r in rows]

    def alert_counts(self) -> dict[str, int]:
        with self._lock:
            rows = self.conn.execute("select status, count(*) from alerts group by status").fetchall()
        return {status: count for status, count in rows}

    def finish_alert(self, alert_id: int, status: str = "done") -> None:
        with self._tx() as conn:
            conn.execute("update alerts set status = ? where id = ?", (status, alert_id))

    # --- incidents -----------------------------------------------------------------------------

    def coalesce(
        self,
        alert_id: int,
        fingerprint: str,
        channel: str,
        thread_ts: str | None,
        resolved: bool,
        now: float,
        window: float,
        places: tuple[str, ...] = (),
    ) -> tuple[Incident | None, bool]:
        """Attach an alert to its open incident, or open one. Returns (incident, this alert must triage it).

        Idempotent per alert: re-running after a crash neither counts it twice nor opens a second incident.
        """
        with self._tx() as conn:
            return self._coalesce(conn, alert_id, fingerprint, channel, thread_ts, resolved, now, window, places)

    def take_alert(
        self,
        source: str,
        channel: str,
        ts: str | None,
        text: str,
        now: float,
        claims: tuple[str, ...],
        fingerprint: str,
        resolved: bool,
        window: float,
        places: tuple[str, ...] = (),
        owner: str | None = None,
        sender: str | None = None,
    ) -> tuple[int, Incident | None, bool] | None:
        """accept_alert and coalesce in one transaction (one trip to the store per alert in a storm).

        `fingerprint` is the incident key the alert coalesces by; it is kept with the alert so that recovery
        after a restart coalesces it the same way. Returns (alert id, incident, this alert must triage it), or
        None for a re-delivery. `owner` is the replica that will finish the alert; if it dies first, another
        takes the alert over.
        """
        with self._tx() as conn:
            alert_id = self._insert_alert(conn, source, channel, ts, text, now, claims, owner)
            if alert_id is None:
                return None
            conn.execute("update alerts set fingerprint = ?, sender = ? where id = ?", (fingerprint, sender, alert_id))
            return (alert_id, *self._coalesce(conn, alert_id, fingerprint, channel, ts, resolved, now, window, places))

    def _coalesce(
        self,
        conn: sqlite3.Connection,
        alert_id: int,
        fingerprint: str,
        channel: str,
        thread_ts: str | None,
        resolved: bool,
        now: float,
        window: float,
        places: tuple[str, ...] = (),
    ) -> tuple[Incident | None, bool]:
        status, attached = self._one("select status, incident_id from alerts where id = ?", (alert_id,)) or (
            None,
            None,
        )
        if attached:
            row = self._one(f"select {_INCIDENT_COLUMNS} from incidents where id = ?", (attached,))
            creator = self._one("select first_alert_id from incidents where id = ?", (attached,))
            owns = creator is not None and creator[0] == alert_id and status == "accepted"
            return (_incident(row) if row else None), owns
        row = self._one(
            f"select {_INCIDENT_COLUMNS} from incidents where fingerprint = ? and channel = ? and resolved = 0 "
            "and last_seen >= ? order by first_seen desc limit 1",
            (fingerprint, channel, now - window),
        )
        if row is not None:
            incident = _incident(row)
            senders = self._one(
                "select opener.sender, this.sender from incidents i join alerts opener on opener.id = i.first_alert_id"
                " join alerts this on this.id = ? where i.id = ?",
                (alert_id, incident.id),
            )
            if resolved and not may_resolve(*(senders or (None, None))):
                # A resolved notice from anyone but the sender that opened the incident changes nothing.
                conn.execute("update alerts set status = 'done' where id = ?", (alert_id,))
                return None, False
            seen = merge_places(list(incident.places), places)
            conn.execute(
                "update incidents set count = count + 1, last_seen = ?, dirty = 1, resolved = ?, places = ? "
                "where id = ?",
                (now, int(resolved), json.dumps(seen), incident.id),
            )
            conn.execute(
                "update alerts set status = 'done', incident_id = ? where id = ?", (incident.id, alert_id)
            )
            return incident, False
        if resolved:
            conn.execute("update alerts set status = 'done' where id = ?", (alert_id,))
            return None, False
        incident_id = uuid.uuid4().hex
        conn.execute(
            "insert into incidents (id, fingerprint, channel, thread_ts, first_seen, last_seen, first_alert_id, places)"
            " values (?, ?, ?, ?, ?, ?, ?, ?)",
            (incident_id, fingerprint, channel, thread_ts, now, now, alert_id, json.dumps(merge_places([], places))),
        )
        conn.execute("update alerts set incident_id = ? where id = ?", (incident_id, alert_id))
        row = self._one(f"select {_INCIDENT_COLUMNS} from incidents where id = ?", (incident_id,))
        assert row is not None
        return _incident(row), True

    def set_incident_card(self, incident_id: str, triage_id: str, alert_id: int) -> None:
        """The incident's card is triaged: queue its post and close the alert that opened it."""
        with self._tx() as conn:
            conn.execute(
                "update incidents set triage_id = ?, post_state = 'pending' where id = ? and triage_id is null",
                (triage_id, incident_id),
            )
            conn.execute("update alerts set status = 'done' where id = ?", (alert_id,))

    def get_incident(self, incident_id: str) -> Incident | None:
        with self._lock:
            row = self._one(f"select {_INCIDENT_COLUMNS} from incidents where id = ?", (incident_id,))
        return _incident(row) if row else None

    def incident_for_triage(self, triage_id: str) -> Incident | None:
        with self._lock:
            row = self._one(f"select {_INCIDENT_COLUMNS} from incidents where triage_id = ?", (triage_id,))
        return _incident(row) if row else None

    def incidents(self) -> list[Incident]:
        with self._lock:
            rows = self.conn.execute(f"select {_INCIDENT_COLUMNS} from incidents order by first_seen").fetchall()
        return [_incident(row) for row in rows]

    def due_posts(self, now: float, limit: int = 100) -> list[Incident]:
        """Cards waiting to be posted (including ones a crash left mid-send), oldest first."""
        with self._lock:
            rows = self.conn.execute(
                f"select {_INCIDENT_COLUMNS} from incidents where post_state in ('pending', 'sending') "
                "and post_not_before <= ? order by first_seen limit ?",
                (now, limit),
            ).fetchall()
        return [_incident(row) for row in rows]

    def post_states(self) -> dict[str, int]:
        with self._lock:
            rows = self.conn.execute("select post_state, count(*) from incidents group by post_state").fetchall()
        return {state: count for state, count in rows}

    def mark_sending(self, incident_id: str) -> None:
        with self._tx() as conn:
            conn.execute("update incidents set post_state = 'sending' where id = ?", (incident_id,))

    def mark_posted(self, incident_id: str, card_ts: str, now: float) -> None:
        with self._tx() as conn:
            conn.execute(
                "update incidents set post_state = 'posted', card_ts = ?, shown_at = ?, dirty = "
                "case when count > 1 or resolved = 1 then 1 else 0 end where id = ?",
                (card_ts, now, incident_id),
            )

    def post_attempts(self, incident_id: str) -> int:
        with self._lock:
            row = self._one("select post_attempts from incidents where id = ?", (incident_id,))
        return int(row[0]) if row else 0

    def postpone_post(self, incident_id: str, not_before: float) -> None:
        with self._tx() as conn:
            conn.execute(
                "update incidents set post_state = 'pending', post_attempts = post_attempts + 1, "
                "post_not_before = ? where id = ?",
                (not_before, incident_id),
            )

    def postpone_sending(self, incident_id: str, not_before: float) -> None:
        """A post that may or may not have reached Slack (the connection dropped): it stays 'sending', so
        the next attempt, not before `not_before`, looks for it in the channel before posting again."""
        with self._tx() as conn:
            conn.execute(
                "update incidents set post_attempts = post_attempts + 1, lease_until = ?, post_not_before = ?"
                " where id = ? and post_state = 'sending'",
                (not_before, not_before, incident_id),
            )

    def queue_stats(self) -> list[tuple[str, str, int, float | None]]:
        """(queue, state, rows, oldest timestamp) of the work not finished: alerts, card posts, re-triages."""
        with self._lock:
            rows = self.conn.execute(
                "select 'alerts', status, count(*), min(received_at) from alerts where status = 'accepted'"
                " group by status"
                " union all select 'cards', post_state, count(*), min(first_seen) from incidents"
                " where post_state <> 'posted' group by post_state"
                " union all select 'redraws', 'dirty', count(*), min(last_seen) from incidents"
                " where post_state = 'posted' and dirty = 1"
                " union all select 'retries', state, count(*), min(next_at) from retries where state = 'pending'"
                " group by state"
            ).fetchall()
        return [(str(q), str(state), int(n), oldest) for q, state, n, oldest in rows if n]

    def due_updates(self, now: float, interval: float, limit: int = 100) -> list[Incident]:
        """Posted cards whose counter or resolution changed, and were last redrawn long enough ago."""
        with self._lock:
            rows = self.conn.execute(
                f"select {_INCIDENT_COLUMNS} from incidents where post_state = 'posted' and dirty = 1 "
                "and shown_at <= ? order by shown_at limit ?",
                (now - interval, limit),
            ).fetchall()
        return [_incident(row) for row in rows]

    def mark_shown(self, incident_id: str, count: int, resolved: bool, now: float) -> None:
        """The card now shows `count` and `resolved`; it stays dirty if more repeats came meanwhile."""
        with self._tx() as conn:
            conn.execute(
                "update incidents set shown_at = ?, dirty = case when count = ? and resolved = ? then 0 else 1 end "
                "where id = ?",
                (now, count, int(resolved), incident_id),
            )

    def replace_incident_triage(self, old_triage_id: str, new_triage_id: str) -> None:
        with self._tx() as conn:
            conn.execute("update incidents set triage_id = ? where triage_id = ?", (new_triage_id, old_triage_id))

    # --- retry later ---------------------------------------------------------------------------

    def queue_retry(self, triage_id: str, channel: str, ts: str, next_at: float) -> None:
        with self._tx() as conn:
            conn.execute(
                "insert or ignore into retries (triage_id, channel, ts, next_at) values (?, ?, ?, ?)",
                (triage_id, channel, ts, next_at),
            )

    def due_retries(self, now: float, limit: int = 20) -> list[dict[str, Any]]:
        with self._lock:
            rows = self.conn.execute(
                "select triage_id, channel, ts, attempts from retries where state = 'pending' and next_at <= ? "
                "order by next_at limit ?",
                (now, limit),
            ).fetchall()
        return [dict(zip(("triage_id", "channel", "ts", "attempts"), tuple(r), strict=True)) for r in rows]

    def retry_later(self, triage_id: str, next_at: float) -> None:
        with self._tx() as conn:
            conn.execute(
                "update retries set attempts = attempts + 1, next_at = ? where triage_id = ?", (next_at, triage_id)
            )

    def finish_retry(self, triage_id: str, state: str) -> None:
        with self._tx() as conn:
            conn.execute("update retries set state = ? where triage_id = ?", (state, triage_id))

    def retry_states(self) -> dict[str, int]:
        with self._lock:
            rows = self.conn.execute("select state, count(*) from retries group by state").fetchall()
        return {state: count for state, count in rows}
