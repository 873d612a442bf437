"""PostgreSQL storage for alert storms: accepted alerts, incidents and their cards, the re-triage queue.

Several replicas share these tables. An alert's claims (Slack event id, channel+ts) are unique keys taken
in the alert's own transaction; coalescing holds an advisory lock on the incident's identity, so two
replicas given repeats of one problem at the same moment open one incident between them.
"""

from __future__ import annotations

import json
import uuid
from contextlib import AbstractContextManager
from typing import Any

import psycopg

from bot.alerts.incidents import Incident, may_resolve, merge_places

Conn = psycopg.Connection[tuple[Any, ...]]

_INCIDENT_COLUMNS = (
    "id, fingerprint, channel, thread_ts, count, first_seen, last_seen, triage_id, card_ts, resolved, dirty, shown_at,"
    " post_state, places"
)


class Redelivery(Exception):
    """A claim was taken before: the alert's transaction is rolled back and nothing is recorded."""


def _incident(row: tuple[Any, ...]) -> Incident:
    (id_, fingerprint, channel, thread_ts, count, first_seen, last_seen, triage_id, card_ts, resolved, dirty,
     shown_at, post_state, places) = row
    return Incident(
        id=id_, fingerprint=fingerprint, channel=channel, thread_ts=thread_ts, count=count,
        first_seen=first_seen, last_seen=last_seen, triage_id=triage_id, card_ts=card_ts,
        resolved=bool(resolved), dirty=bool(dirty), shown_at=shown_at, post_state=post_state,
        places=tuple(json.loads(places or "[]")),
    )


def _one(conn: Conn, sql: Any, args: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
    return conn.execute(sql, args).fetchone()


class PostgresStormStore:
    """Mixed into PostgresStore, which provides `_tx` and `_rows`."""

    def _tx(self) -> AbstractContextManager[Conn]:
        raise NotImplementedError

    def _rows(self, sql: Any, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        raise NotImplementedError

    def _incidents(self, sql: Any, args: tuple[Any, ...] = ()) -> list[Incident]:
        with self._tx() as conn:
            return [_incident(row) for row in conn.execute(sql, args).fetchall()]

    # --- alerts --------------------------------------------------------------------------------

    def accept_alert(
        self, source: str, channel: str, ts: str | None, text: str, now: float, claims: tuple[str, ...] = ()
    ) -> int | None:
        """Record an alert with its claims in one transaction; None when a claim was taken before."""
        try:
            with self._tx() as conn:
                return self._insert_alert(conn, source, channel, ts, text, now, claims, None)
        except Redelivery:
            return None

    def claimed(self, keys: tuple[str, ...]) -> bool:
        """Has any of these event keys been claimed already? (a cheap look before any work on a re-delivery)"""
        with self._tx() as conn:
            return any(_one(conn, "select 1 from slack_events where event_id = %s", (key,)) for key in keys)

    def _insert_alert(
        self,
        conn: Conn,
        source: str,
        channel: str,
        ts: str | None,
        text: str,
        now: float,
        claims: tuple[str, ...],
        owner: str | None,
    ) -> int:
        for key in claims:
            # A replica inserting the same key waits here for our commit, then finds it taken.
            taken = _one(
                conn,
                "insert into slack_events (event_id, received_at) values (%s, %s) on conflict do nothing"
                " returning event_id",
                (key, now),
            )
            if taken is None:
                raise Redelivery(key)
        row = _one(
            conn,
            "insert into alerts (received_at, source, channel, ts, text, owner) values (%s, %s, %s, %s, %s, %s)"
            " returning id",
            (now, source, channel, ts, text, owner),
        )
        assert row is not None
        return int(row[0])

    def pending_alerts(self) -> list[dict[str, Any]]:
        return self._rows(
            "select id, source, channel, ts, text, fingerprint from alerts where status = 'accepted' order by id"
        )

    def alert_counts(self) -> dict[str, int]:
        rows = self._rows("select status, count(*) as n from alerts group by status")
        return {r["status"]: int(r["n"]) for r in rows}

    def finish_alert(self, alert_id: int, status: str = "done") -> None:
        with self._tx() as conn:
            conn.execute("update alerts set status = %s where id = %s", (status, alert_id))

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
        """Attach an alert to its open incident, or open one. Returns (incident, this alert must triage it)."""
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
        """accept_alert and coalesce in one transaction; None for a re-delivery.

        `fingerprint` is the incident key, kept with the alert so that recovery coalesces it the same way.
        `owner` is the replica that finishes the alert; if it dies first, another takes it over.
        """
        try:
            with self._tx() as conn:
                alert_id = self._insert_alert(conn, source, channel, ts, text, now, claims, owner)
                conn.execute(
                    "update alerts set fingerprint = %s, sender = %s where id = %s", (fingerprint, sender, alert_id)
                )
                return (
                    alert_id,
                    *self._coalesce(conn, alert_id, fingerprint, channel, ts, resolved, now, window, places),
                )
        except Redelivery:
            return None

    def _coalesce(
        self,
        conn: Conn,
        alert_id: int,
        fingerprint: str,
        channel: str,
        thread_ts: str | None,
        resolved: bool,
        now: float,
        window: float,
        places: tuple[str, ...] = (),
    ) -> tuple[Incident | None, bool]:
        # One incident per identity: replicas coalescing the same problem take turns, until commit.
        conn.execute("select pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"{channel}\x1f{fingerprint}",))
        status, attached = _one(conn, "select status, incident_id from alerts where id = %s", (alert_id,)) or (
            None,
            None,
        )
        if attached:
            row = _one(conn, f"select {_INCIDENT_COLUMNS}, first_alert_id from incidents where id = %s", (attached,))
            if row is None:
                return None, False
            owns = row[-1] == alert_id and status == "accepted"
            return _incident(row[:-1]), owns
        row = _one(
            conn,
            f"select {_INCIDENT_COLUMNS} from incidents where fingerprint = %s and channel = %s and resolved = 0"
            " and last_seen >= %s order by first_seen desc limit 1",
            (fingerprint, channel, now - window),
        )
        if row is not None:
            incident = _incident(row)
            senders = _one(conn,
                "select opener.sender, this.sender from incidents i join alerts opener on opener.id = i.first_alert_id"
                " join alerts this on this.id = %s where i.id = %s",
                (alert_id, incident.id),
            )
            if resolved and not may_resolve(*(senders or (None, None))):
                # A resolved notice from anyone but the sender that opened the incident changes nothing.
                conn.execute("update alerts set status = 'done' where id = %s", (alert_id,))
                return None, False
            seen = merge_places(list(incident.places), places)
            conn.execute(
                "update incidents set count = count + 1, last_seen = greatest(last_seen, %s), dirty = 1,"
                " resolved = %s, places = %s where id = %s",
                (now, int(resolved), json.dumps(seen), incident.id),
            )
            conn.execute("update alerts set status = 'done', incident_id = %s where id = %s", (incident.id, alert_id))
            return incident, False
        if resolved:
            conn.execute("update alerts set status = 'done' where id = %s", (alert_id,))
            return None, False
        incident_id = uuid.uuid4().hex
        row = _one(
            conn,
            "insert into incidents (id, fingerprint, channel, thread_ts, first_seen, last_seen, first_alert_id, places)"
            f" values (%s, %s, %s, %s, %s, %s, %s, %s) returning {_INCIDENT_COLUMNS}",
            (incident_id, fingerprint, channel, thread_ts, now, now, alert_id, json.dumps(merge_places([], places))),
        )
        conn.execute("update alerts set incident_id = %s where id = %s", (incident_id, alert_id))
        assert row is not None
        return _incident(row), True

    def set_incident_card(self, incident_id: str, triage_id: str, alert_id: int) -> None:
        """The incident's card is triaged: queue its post and close the alert that opened it."""
        with self._tx() as conn:
            conn.execute(
                "update incidents set triage_id = %s, post_state = 'pending' where id = %s and triage_id is null",
                (triage_id, incident_id),
            )
            conn.execute("update alerts set status = 'done' where id = %s", (alert_id,))

    def get_incident(self, incident_id: str) -> Incident | None:
        found = self._incidents(f"select {_INCIDENT_COLUMNS} from incidents where id = %s", (incident_id,))
        return found[0] if found else None

    def incident_for_triage(self, triage_id: str) -> Incident | None:
        found = self._incidents(f"select {_INCIDENT_COLUMNS} from incidents where triage_id = %s", (triage_id,))
        return found[0] if found else None

    def incidents(self) -> list[Incident]:
        return self._incidents(f"select {_INCIDENT_COLUMNS} from incidents order by first_seen")

    def due_posts(self, now: float, limit: int = 100) -> list[Incident]:
        """Cards waiting to be posted (including ones a crash left mid-send), oldest first."""
        return self._incidents(
            f"select {_INCIDENT_COLUMNS} from incidents where post_state in ('pending', 'sending')"
            " and post_not_before <= %s order by first_seen limit %s",
            (now, limit),
        )

    def post_states(self) -> dict[str, int]:
        rows = self._rows("select post_state, count(*) as n from incidents group by post_state")
        return {r["post_state"]: int(r["n"]) for r in rows}

    def mark_sending(self, incident_id: str) -> None:
        with self._tx() as conn:
            conn.execute("update incidents set post_state = 'sending' where id = %s", (incident_id,))

    def mark_posted(self, incident_id: str, card_ts: str, now: float) -> None:
        with self._tx() as conn:
            conn.execute(
                "update incidents set post_state = 'posted', card_ts = %s, shown_at = %s, dirty ="
                " case when count > 1 or resolved = 1 then 1 else 0 end where id = %s",
                (card_ts, now, incident_id),
            )

    def post_attempts(self, incident_id: str) -> int:
        rows = self._rows("select post_attempts from incidents where id = %s", (incident_id,))
        return int(rows[0]["post_attempts"]) if rows else 0

    def postpone_post(self, incident_id: str, not_before: float) -> None:
        with self._tx() as conn:
            conn.execute(
                "update incidents set post_state = 'pending', post_attempts = post_attempts + 1,"
                " post_not_before = %s where id = %s",
                (not_before, incident_id),
            )

    def postpone_sending(self, incident_id: str, not_before: float) -> None:
        """A post that may have reached Slack stays 'sending' (see the SQLite store)."""
        with self._tx() as conn:
            conn.execute(
                "update incidents set post_attempts = post_attempts + 1, lease_until = %s, post_not_before = %s"
                " where id = %s and post_state = 'sending'",
                (not_before, not_before, incident_id),
            )

    def queue_stats(self) -> list[tuple[str, str, int, float | None]]:
        """(queue, state, rows, oldest timestamp) of the work not finished (see the SQLite store)."""
        with self._tx() as conn:
            rows = conn.execute(
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
        return self._incidents(
            f"select {_INCIDENT_COLUMNS} from incidents where post_state = 'posted' and dirty = 1"
            " and shown_at <= %s order by shown_at limit %s",
            (now - interval, limit),
        )

    def mark_shown(self, incident_id: str, count: int, resolved: bool, now: float) -> None:
        """The card now shows `count` and `resolved`; it stays dirty if more repeats came meanwhile."""
        with self._tx() as conn:
            conn.execute(
                "update incidents set shown_at = %s, dirty = case when count = %s and resolved = %s then 0 else 1 end"
                " where id = %s",
                (now, count, int(resolved), incident_id),
            )

    def replace_incident_triage(self, old_triage_id: str, new_triage_id: str) -> None:
        with self._tx() as conn:
            conn.execute("update incidents set triage_id = %s where triage_id = %s", (new_triage_id, old_triage_id))

    # --- retry later ---------------------------------------------------------------------------

    def queue_retry(self, triage_id: str, channel: str, ts: str, next_at: float) -> None:
        with self._tx() as conn:
            conn.execute(
                "insert into retries (triage_id, channel, ts, next_at) values (%s, %s, %s, %s) on conflict do nothing",
                (triage_id, channel, ts, next_at),
            )

    def due_retries(self, now: float, limit: int = 20) -> list[dict[str, Any]]:
        return self._rows(
            "select triage_id, channel, ts, attempts from retries where state = 'pending' and next_at <= %s"
            " order by next_at limit %s",
            (now, limit),
        )

    def retry_later(self, triage_id: str, next_at: float) -> None:
        with self._tx() as conn:
            conn.execute(
                "update retries set attempts = attempts + 1, next_at = %s where triage_id = %s", (next_at, triage_id)
            )

    def finish_retry(self, triage_id: str, state: str) -> None:
        with self._tx() as conn:
            conn.execute("update retries set state = %s where triage_id = %s", (state, triage_id))

    def retry_states(self) -> dict[str, int]:
        return {r["state"]: int(r["n"]) for r in self._rows("select state, count(*) as n from retries group by state")}



