"""Slack: where cards were posted, which message a card answers, and what a person's Home tab shows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, or_, select
from sqlalchemy import bindparam as B

from bot.alerts.incidents import Incident
from bot.store.schema import alerts, feedback, incidents, message_cards, posts, triages
from bot.store.sql.core import StoreCore
from bot.store.sql.rows import INCIDENT, card_summary, incident_from


class Slack(StoreCore):
    """Posts and message cards are keyed by Slack's own (channel, ts)."""

    def save_post(
        self, triage_id: str, channel: str, ts: str, thread_ts: str | None = None, requested_by: str | None = None
    ) -> None:
        """Where a card was posted, and who asked for it (a redraw keeps showing them)."""

        def upsert() -> Any:
            stmt = self.dialect.insert(posts)
            return stmt.on_conflict_do_update(
                index_elements=[posts.c.triage_id],
                set_={c.name: stmt.excluded[c.name] for c in posts.c if c.name != "triage_id"},
            )

        with self._tx() as tx:
            tx.run(self.q(upsert, keys=tuple(c.name for c in posts.c)), triage_id=triage_id, channel=channel, ts=ts,
                   thread_ts=thread_ts, requested_by=requested_by, created_at=self._clock())

    def triage_at(self, channel: str, ts: str) -> str | None:
        """The triage id a posted card shows now (re-triage moves it to the newer result)."""
        with self._read() as tx:
            found = tx.scalar(self.q(
                lambda: select(posts.c.triage_id).where(posts.c.channel == B("where"), posts.c.ts == B("at"))
                .order_by(posts.c.created_at.desc()).limit(1)
            ), where=channel, at=ts)
        return str(found) if found is not None else None

    def get_post(self, triage_id: str) -> dict[str, Any] | None:
        with self._read() as tx:
            rows = tx.dicts(self.q(lambda: select(posts).where(posts.c.triage_id == B("triage"))), triage=triage_id)
        return rows[0] if rows else None

    def posted_ids(self, since: float = 0.0) -> set[str]:
        """Triage ids that became a Slack card (posted by the bot) since a time."""
        with self._read() as tx:
            found = tx.rows(self.q(lambda: select(posts.c.triage_id).where(posts.c.created_at >= B("since"))),
                            since=since)
        return {str(triage_id) for (triage_id,) in found}

    def save_message_card(self, channel: str, message_ts: str, triage_id: str, now: float) -> None:
        """Remember that the card of `triage_id` answers the Slack message (channel, message_ts)."""

        def upsert() -> Any:
            stmt = self.dialect.insert(message_cards)
            return stmt.on_conflict_do_update(
                index_elements=[message_cards.c.channel, message_cards.c.message_ts],
                set_={"triage_id": stmt.excluded.triage_id, "created_at": stmt.excluded.created_at},
            )

        with self._tx() as tx:
            tx.run(self.q(upsert, keys=("channel", "message_ts", "triage_id", "created_at")),
                   channel=channel, message_ts=message_ts, triage_id=triage_id, created_at=now)

    def message_card(self, channel: str, message_ts: str) -> dict[str, Any] | None:
        """The posted card that already answers a Slack message: {triage_id, channel, ts}, or None.

        Looks at cards asked for on the message itself and at the incident card an alert-channel message
        opened or was counted into.
        """
        with self._read() as tx:
            row = tx.one(self.q(
                lambda: select(posts.c.triage_id, posts.c.channel, posts.c.ts)
                .join(message_cards, message_cards.c.triage_id == posts.c.triage_id)
                .where(message_cards.c.channel == B("where"), message_cards.c.message_ts == B("at"))
                .order_by(message_cards.c.created_at.desc()).limit(1)
            ), where=channel, at=message_ts) or tx.one(self.q(
                lambda: select(incidents.c.triage_id, incidents.c.channel, incidents.c.card_ts)
                .join(alerts, incidents.c.id == alerts.c.incident_id)
                .where(alerts.c.channel == B("where"), alerts.c.ts == B("at"), incidents.c.card_ts.is_not(None))
                .order_by(alerts.c.id.desc()).limit(1)
            ), where=channel, at=message_ts)
        if row is None:
            return None
        return {"triage_id": str(row[0]), "channel": str(row[1]), "ts": str(row[2])}

    def user_cards(self, user: str, limit: int = 10) -> list[dict[str, Any]]:
        """Cards a person asked for or judged, newest first: id, time, labels, summary, where it was posted."""
        with self._read() as tx:
            rows = tx.rows(self.q(
                lambda: select(triages.c.id, triages.c.created_at, triages.c.severity, triages.c.category,
                               triages.c.result, posts.c.channel, posts.c.ts)
                .outerjoin(posts, posts.c.triage_id == triages.c.id)
                .where(or_(
                    triages.c.id.in_(select(posts.c.triage_id).where(posts.c.requested_by == B("who"))),
                    triages.c.id.in_(select(feedback.c.triage_id).where(feedback.c.user == B("who"))),
                ))
                .order_by(triages.c.created_at.desc()).limit(B("n", type_=Integer))
            ), who=user, n=limit)
        return [
            {"triage_id": triage_id, "created_at": created_at, "severity": severity, "category": category,
             "summary": card_summary(result), "channel": channel, "ts": ts}
            for triage_id, created_at, severity, category, result, channel, ts in rows
        ]

    def open_incidents(self, since: float, limit: int = 10) -> list[Incident]:
        """Unresolved incidents with a posted card and an alert since `since`, most recent first."""
        with self._read() as tx:
            rows = tx.rows(self.q(
                lambda: select(*INCIDENT).where(incidents.c.resolved == 0, incidents.c.card_ts.is_not(None),
                                                incidents.c.last_seen >= B("since"))
                .order_by(incidents.c.last_seen.desc()).limit(B("n", type_=Integer))
            ), since=since, n=limit)
        return [incident_from(row) for row in rows]
