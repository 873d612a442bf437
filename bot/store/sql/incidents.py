"""Incidents and their cards: look-ups, the queue of cards to post, redraws, and the queues' figures."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, and_, case, func, or_, select, text, update
from sqlalchemy import bindparam as B

from bot.alerts.incidents import Incident
from bot.store import dialects
from bot.store.schema import alerts, incidents
from bot.store.sql.core import StoreCore
from bot.store.sql.rows import INCIDENT, incident_from


class Incidents(StoreCore):
    """An incident's card goes pending -> sending -> posted, then is redrawn while it is dirty."""

    def set_incident_card(self, incident_id: str, triage_id: str, alert_id: int) -> None:
        """The incident's card is triaged: queue its post and close the alert that opened it."""
        with self._tx() as tx:
            tx.run(self.q(
                lambda: update(incidents).where(incidents.c.id == B("incident"), incidents.c.triage_id.is_(None))
                .values(triage_id=B("triage"), post_state="pending")
            ), incident=incident_id, triage=triage_id)
            tx.run(self.q(lambda: update(alerts).where(alerts.c.id == B("alert")).values(status="done")),
                   alert=alert_id)

    def _incidents(self, prepared: dialects.Prepared, **params: Any) -> list[Incident]:
        with self._read() as tx:
            return [incident_from(row) for row in tx.rows(prepared, **params)]

    def get_incident(self, incident_id: str) -> Incident | None:
        found = self._incidents(self.q(lambda: select(*INCIDENT).where(incidents.c.id == B("incident"))),
                                incident=incident_id)
        return found[0] if found else None

    def incident_for_triage(self, triage_id: str) -> Incident | None:
        found = self._incidents(self.q(lambda: select(*INCIDENT).where(incidents.c.triage_id == B("triage"))),
                                triage=triage_id)
        return found[0] if found else None

    def incidents(self) -> list[Incident]:
        return self._incidents(self.q(lambda: select(*INCIDENT).order_by(incidents.c.first_seen)))

    def due_posts(self, now: float, limit: int = 100) -> list[Incident]:
        """Cards waiting to be posted (including ones a crash left mid-send), oldest first."""
        return self._incidents(self.q(
            lambda: select(*INCIDENT).where(
                or_(incidents.c.post_state == "pending", incidents.c.post_state == "sending"),
                incidents.c.post_not_before <= B("now"),
            ).order_by(incidents.c.first_seen).limit(B("n", type_=Integer))
        ), now=now, n=limit)

    def post_states(self) -> dict[str, int]:
        with self._read() as tx:
            rows = tx.rows(self.q(
                lambda: select(incidents.c.post_state, func.count()).group_by(incidents.c.post_state)
            ))
        return {str(state): int(n) for state, n in rows}

    def mark_sending(self, incident_id: str) -> None:
        with self._tx() as tx:
            tx.run(self.q(lambda: update(incidents).where(incidents.c.id == B("incident"))
                          .values(post_state="sending")), incident=incident_id)

    def mark_posted(self, incident_id: str, card_ts: str, now: float) -> None:
        i = incidents.c
        with self._tx() as tx:
            tx.run(self.q(lambda: update(incidents).where(i.id == B("incident")).values(
                post_state="posted", card_ts=B("card"), shown_at=B("now"),
                dirty=case((or_(i.count > 1, i.resolved == 1), 1), else_=0),
            )), incident=incident_id, card=card_ts, now=now)

    def post_attempts(self, incident_id: str) -> int:
        with self._read() as tx:
            found = tx.scalar(self.q(
                lambda: select(incidents.c.post_attempts).where(incidents.c.id == B("incident"))
            ), incident=incident_id)
        return int(found or 0)

    def postpone_post(self, incident_id: str, not_before: float) -> None:
        i = incidents.c
        with self._tx() as tx:
            tx.run(self.q(lambda: update(incidents).where(i.id == B("incident")).values(
                post_state="pending", post_attempts=i.post_attempts + 1, post_not_before=B("later"),
            )), incident=incident_id, later=not_before)

    def postpone_sending(self, incident_id: str, not_before: float) -> None:
        """A post that may or may not have reached Slack (the connection dropped): it stays 'sending', so
        the next attempt, not before `not_before`, looks for it in the channel before posting again."""
        i = incidents.c
        with self._tx() as tx:
            tx.run(self.q(lambda: update(incidents).where(i.id == B("incident"), i.post_state == "sending").values(
                post_attempts=i.post_attempts + 1, lease_until=B("later"), post_not_before=B("later"),
            )), incident=incident_id, later=not_before)

    def queue_stats(self) -> list[tuple[str, str, int, float | None]]:
        """(queue, state, rows, oldest timestamp) of the work not finished: alerts, card posts, re-triages."""
        with self._read() as tx:
            rows = tx.rows(self.q(lambda: text(
                "select 'alerts', status, count(*), min(received_at) from alerts where status = 'accepted'"
                " group by status"
                " union all select 'cards', post_state, count(*), min(first_seen) from incidents"
                " where post_state <> 'posted' group by post_state"
                " union all select 'redraws', 'dirty', count(*), min(last_seen) from incidents"
                " where post_state = 'posted' and dirty = 1"
                " union all select 'retries', state, count(*), min(next_at) from retries where state = 'pending'"
                " group by state"
            )))
        return [(str(q), str(state), int(n), oldest) for q, state, n, oldest in rows if n]

    def due_updates(self, now: float, interval: float, limit: int = 100) -> list[Incident]:
        """Posted cards whose counter or resolution changed, and were last redrawn long enough ago."""
        return self._incidents(self.q(
            lambda: select(*INCIDENT).where(incidents.c.post_state == "posted", incidents.c.dirty == 1,
                                            incidents.c.shown_at <= B("before"))
            .order_by(incidents.c.shown_at).limit(B("n", type_=Integer))
        ), before=now - interval, n=limit)

    def mark_shown(self, incident_id: str, count: int, resolved: bool, now: float) -> None:
        """The card now shows `count` and `resolved`; it stays dirty if more repeats came meanwhile."""
        i = incidents.c
        with self._tx() as tx:
            tx.run(self.q(lambda: update(incidents).where(i.id == B("incident")).values(
                shown_at=B("now"), dirty=case((and_(i.count == B("shown"), i.resolved == B("shown_resolved")), 0),
                                              else_=1),
            )), incident=incident_id, now=now, shown=count, shown_resolved=int(resolved))

    def replace_incident_triage(self, old_triage_id: str, new_triage_id: str) -> None:
        with self._tx() as tx:
            tx.run(self.q(lambda: update(incidents).where(incidents.c.triage_id == B("old"))
                          .values(triage_id=B("new"))), old=old_triage_id, new=new_triage_id)
