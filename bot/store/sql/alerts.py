"""Alerts as they arrive: each delivery claimed once, the alert accepted, then coalesced into its incident."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import bindparam as B
from sqlalchemy import func, literal, select, update

from bot.alerts.incidents import Incident, may_resolve, merge_places
from bot.store import dialects
from bot.store.dialects import Tx
from bot.store.schema import alerts, incidents, slack_events
from bot.store.sql.core import StoreCore
from bot.store.sql.rows import INCIDENT, incident_from


class Redelivery(Exception):
    """A claim was taken before: the alert's transaction is rolled back and nothing is recorded."""


class Alerts(StoreCore):
    """Everything pending lives here, not in memory, so a restart (even after SIGKILL) resumes where it was."""

    def _claim(self, tx: Tx, event_id: str, now: float) -> bool:
        prepared = self.q(
            lambda: self.dialect.insert(slack_events).on_conflict_do_nothing().returning(slack_events.c.event_id),
            keys=("event_id", "received_at"),
        )
        return tx.one(prepared, event_id=event_id, received_at=now) is not None

    def claim_event(self, event_id: str) -> bool:
        """True the first time an event id is seen (by any replica): re-deliveries are dropped by the caller."""
        with self._tx() as tx:
            return self._claim(tx, event_id, self._clock())

    def claimed(self, keys: tuple[str, ...]) -> bool:
        """Has any of these event keys been claimed already? (a cheap look before any work on a re-delivery)"""
        prepared = self.q(lambda: select(literal(1)).where(slack_events.c.event_id == B("k")).limit(1))
        with self._read() as tx:
            return any(tx.one(prepared, k=key) is not None for key in keys)

    def accept_alert(
        self, source: str, channel: str, ts: str | None, text: str, now: float, claims: tuple[str, ...] = ()
    ) -> int | None:
        """Record an alert the moment it reaches us; everything after this can be redone.

        `claims` (Slack event id, channel+ts) are taken in the same transaction: None when one was taken
        before (a re-delivery), and a crash can never leave a claim without its alert.
        """
        try:
            with self._tx() as tx:
                return self._insert_alert(tx, source, channel, ts, text, now, claims, None, None, None)
        except Redelivery:
            return None

    def _insert_alert(
        self,
        tx: Tx,
        source: str,
        channel: str,
        ts: str | None,
        text: str,
        now: float,
        claims: tuple[str, ...],
        owner: str | None,
        fingerprint: str | None,
        sender: str | None,
    ) -> int:
        for key in claims:
            # A replica inserting the same key waits here for our commit, then finds it taken.
            if not self._claim(tx, key, now):
                raise Redelivery(key)
        return int(tx.scalar(self.q(
            lambda: alerts.insert().returning(alerts.c.id),
            keys=("received_at", "source", "channel", "ts", "text", "owner", "fingerprint", "sender"),
        ), received_at=now, source=source, channel=channel, ts=ts, text=text, owner=owner, fingerprint=fingerprint,
            sender=sender))

    def pending_alerts(self) -> list[dict[str, Any]]:
        a = alerts.c
        with self._read() as tx:
            return tx.dicts(self.q(
                lambda: select(a.id, a.source, a.channel, a.ts, a.text, a.fingerprint)
                .where(a.status == "accepted").order_by(a.id)
            ))

    def alert_counts(self) -> dict[str, int]:
        with self._read() as tx:
            rows = tx.rows(self.q(lambda: select(alerts.c.status, func.count()).group_by(alerts.c.status)))
        return {str(status): int(n) for status, n in rows}

    def finish_alert(self, alert_id: int, status: str = "done") -> None:
        with self._tx() as tx:
            tx.run(self.q(lambda: update(alerts).where(alerts.c.id == B("alert")).values(status=B("state"))),
                   alert=alert_id, state=status)

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
        with self._tx() as tx:
            return self._coalesce(tx, alert_id, fingerprint, channel, thread_ts, resolved, now, window, places)

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
        try:
            with self._tx() as tx:
                alert_id = self._insert_alert(tx, source, channel, ts, text, now, claims, owner, fingerprint, sender)
                return (alert_id, *self._coalesce(tx, alert_id, fingerprint, channel, ts, resolved, now, window,
                                                  places))
        except Redelivery:
            return None

    def _coalesce(
        self,
        tx: Tx,
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
        self.dialect.serialise(tx, f"{channel}\x1f{fingerprint}")
        status, attached = tx.one(self.q(
            lambda: select(alerts.c.status, alerts.c.incident_id).where(alerts.c.id == B("alert"))
        ), alert=alert_id) or (None, None)
        if attached:
            row = tx.one(self.q(
                lambda: select(*INCIDENT, incidents.c.first_alert_id).where(incidents.c.id == B("incident"))
            ), incident=attached)
            if row is None:
                return None, False
            return incident_from(row), row[-1] == alert_id and status == "accepted"
        row = tx.one(self.q(
            lambda: select(*INCIDENT).where(
                incidents.c.fingerprint == B("fp"), incidents.c.channel == B("where"), incidents.c.resolved == 0,
                incidents.c.last_seen >= B("since"),
            ).order_by(incidents.c.first_seen.desc()).limit(1)
        ), fp=fingerprint, where=channel, since=now - window)
        if row is not None:
            incident = incident_from(row)
            if resolved:
                opener, this = alerts.alias(), alerts.alias()
                senders = tx.one(self.q(
                    lambda: select(opener.c.sender, this.c.sender)
                    .select_from(incidents)
                    .join(opener, opener.c.id == incidents.c.first_alert_id)
                    .join(this, this.c.id == B("alert"))
                    .where(incidents.c.id == B("incident"))
                ), alert=alert_id, incident=incident.id)
                if not may_resolve(*(senders or (None, None))):
                    # A resolved notice from anyone but the sender that opened the incident changes nothing.
                    tx.run(self.q(lambda: update(alerts).where(alerts.c.id == B("alert")).values(status="done")),
                           alert=alert_id)
                    return None, False
            tx.run(self.q(lambda: update(incidents).where(incidents.c.id == B("incident")).values(
                count=incidents.c.count + 1, last_seen=dialects.greatest(incidents.c.last_seen, B("now")), dirty=1,
                resolved=B("is_resolved"), places=B("where_seen"),
            )), incident=incident.id, now=now, is_resolved=int(resolved),
                where_seen=json.dumps(merge_places(list(incident.places), places)))
            tx.run(self.q(lambda: update(alerts).where(alerts.c.id == B("alert"))
                          .values(status="done", incident_id=B("incident"))), alert=alert_id, incident=incident.id)
            return incident, False
        if resolved:
            tx.run(self.q(lambda: update(alerts).where(alerts.c.id == B("alert")).values(status="done")),
                   alert=alert_id)
            return None, False
        incident_id = uuid.uuid4().hex
        created = tx.one(self.q(
            lambda: incidents.insert().returning(*INCIDENT),
            keys=("id", "fingerprint", "channel", "thread_ts", "first_seen", "last_seen", "first_alert_id", "places"),
        ), id=incident_id, fingerprint=fingerprint, channel=channel, thread_ts=thread_ts, first_seen=now,
            last_seen=now, first_alert_id=alert_id, places=json.dumps(merge_places([], places)))
        assert created is not None
        tx.run(self.q(lambda: update(alerts).where(alerts.c.id == B("alert")).values(incident_id=B("incident"))),
               alert=alert_id, incident=incident_id)
        return incident_from(created), True
