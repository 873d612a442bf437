"""Work several replicas may try to take: heartbeats, take-overs, the webhook spool, Slack write slots, flights.

Candidates are locked with FOR UPDATE SKIP LOCKED on PostgreSQL (a replica never waits for, nor takes, what
another is claiming; SQLite has one writer and leaves the clause out), and each condition is checked again on
the row being changed: a row another replica claimed and committed meanwhile is seen in its new state there and
dropped.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, delete, exists, func, or_, select, update
from sqlalchemy import bindparam as B

from bot.alerts.incidents import Incident
from bot.store import dialects
from bot.store.leases import WRITE_GRACE, one_per_channel, soonest_wait
from bot.store.schema import alerts, channel_pace, flights, incidents, replicas, webhook_spool
from bot.store.sql.core import StoreCore
from bot.store.sql.rows import INCIDENT, incident_from


def _dead(owner: ColumnElement[Any], stale_before: Any) -> ColumnElement[bool]:
    """The lease holder `owner` is not alive: no heartbeat of its replica at or after `stale_before`."""
    return ~exists().where(replicas.c.id == owner, replicas.c.seen_at >= stale_before)


class Claims(StoreCore):
    """Heartbeats and every lease: whoever holds one is checked against them (`_dead`)."""

    def heartbeat(self, replica: str, now: float) -> None:
        def upsert() -> Any:
            stmt = self.dialect.insert(replicas)
            return stmt.on_conflict_do_update(
                index_elements=[replicas.c.id],
                set_={"seen_at": dialects.greatest(replicas.c.seen_at, stmt.excluded.seen_at)},
            )

        with self._tx() as tx:
            tx.run(self.q(upsert, keys=("id", "seen_at")), id=replica, seen_at=now)

    def retire(self, replica: str) -> None:
        """A replica shutting down: what it still holds can be taken over at once."""
        with self._tx() as tx:
            tx.run(self.q(lambda: delete(replicas).where(replicas.c.id == B("replica"))), replica=replica)

    def take_over_alerts(self, replica: str, stale_before: float, limit: int = 500) -> list[dict[str, Any]]:
        """Accepted alerts nobody alive is working on (their replica died), now owned by `replica`."""
        a = alerts.c

        def build() -> Any:
            free = and_(a.status == "accepted",
                        or_(a.owner.is_(None), and_(a.owner != B("replica"), _dead(a.owner, B("stale")))))
            candidates = (
                select(a.id).where(free).order_by(a.id).limit(B("n", type_=Integer)).with_for_update(skip_locked=True)
            )
            return (
                update(alerts).where(a.id.in_(candidates), free).values(owner=B("replica"))
                .returning(a.id, a.source, a.channel, a.ts, a.text, a.fingerprint)
            )

        with self._tx() as tx:
            rows = tx.dicts(self.q(build), replica=replica, stale=stale_before, n=limit)
        return sorted(rows, key=lambda r: int(r["id"]))

    # --- the webhook spool: payloads acknowledged before they are processed -------------------------

    def spool_put(self, body: bytes, now: float, owner: str) -> int:
        with self._tx() as tx:
            return int(tx.scalar(self.q(
                lambda: webhook_spool.insert().returning(webhook_spool.c.id), keys=("received_at", "owner", "body")
            ), received_at=now, owner=owner, body=body))

    def spool_take(self, replica: str, stale_before: float) -> list[tuple[int, bytes]]:
        """Spooled payloads whose replica is gone, now owned by `replica`, oldest first."""
        w = webhook_spool.c

        def build() -> Any:
            free = or_(w.owner.is_(None), and_(w.owner != B("replica"), _dead(w.owner, B("stale"))))
            candidates = select(w.id).where(free).with_for_update(skip_locked=True)
            return update(webhook_spool).where(w.id.in_(candidates), free).values(owner=B("replica")).returning(
                w.id, w.body
            )

        with self._tx() as tx:
            rows = tx.rows(self.q(build), replica=replica, stale=stale_before)
        return sorted((int(spool_id), bytes(body)) for spool_id, body in rows)

    def spool_done(self, spool_id: int) -> None:
        with self._tx() as tx:
            tx.run(self.q(lambda: delete(webhook_spool).where(webhook_spool.c.id == B("spool"))), spool=spool_id)

    def claim_writes(
        self,
        replica: str,
        now: float,
        *,
        pace: float,
        interval: float,
        lease: float,
        stale_before: float,
        limit: int = 200,
    ) -> tuple[list[tuple[str, Incident]], float | None]:
        """Reserve the next Slack write of every channel whose pacing slot is free.

        Returns [(kind, incident)] with kind "post" (the incident's post_state is the one it had, so a
        "sending" card is looked for before being posted again) or "update" (a counter redraw), and the
        seconds until a busy channel with work frees up (None when none was waiting).
        """
        i = incidents.c

        def due_posts() -> Any:
            due = or_(
                and_(i.post_state == "pending", i.post_not_before <= B("now")),
                and_(i.post_state == "sending", or_(
                    i.lease_until <= B("now"),
                    and_(func.coalesce(i.lease_owner, "") != B("replica"), _dead(i.lease_owner, B("stale"))),
                )),
            )
            return self._heads(due, i.first_seen)

        def due_updates() -> Any:
            return self._heads(and_(i.post_state == "posted", i.dirty == 1, i.shown_at <= B("before")), i.shown_at)

        def reserve() -> Any:
            stmt = self.dialect.insert(channel_pace)
            return stmt.on_conflict_do_update(
                index_elements=[channel_pace.c.channel],
                set_={"next_at": stmt.excluded.next_at, "owner": stmt.excluded.owner},
                where=channel_pace.c.next_at <= B("now"),
            ).returning(channel_pace.c.channel)

        with self._tx() as tx:
            # Only the head of each channel's queue is read: a long backlog in one channel can never push
            # another channel's first card out of the batch.
            posts_due = [incident_from(r) for r in tx.rows(self.q(due_posts), now=now, replica=replica,
                                                       stale=stale_before, n=limit)]
            updates = [incident_from(r) for r in tx.rows(self.q(due_updates), before=now - interval, n=limit)]
            claimed: list[tuple[str, Incident]] = []
            busy: list[float] = []
            for kind, incident in one_per_channel(posts_due, updates):
                # Taken only when free; a replica reserving the same channel waits for our commit, then sees
                # the slot taken.
                slot = tx.one(self.q(reserve, keys=("channel", "next_at", "owner")), channel=incident.channel,
                              next_at=now + pace + WRITE_GRACE, owner=replica, now=now)
                if slot is None:
                    held = tx.scalar(self.q(
                        lambda: select(channel_pace.c.next_at).where(channel_pace.c.channel == B("where"))
                    ), where=incident.channel)
                    busy.append(float(held) if held is not None else now)
                    continue
                if kind == "post":
                    tx.run(self.q(lambda: update(incidents).where(i.id == B("incident")).values(
                        post_state="sending", lease_owner=B("replica"), lease_until=B("until"),
                    )), incident=incident.id, replica=replica, until=now + lease)
                else:
                    tx.run(self.q(lambda: update(incidents).where(i.id == B("incident")).values(shown_at=B("now"))),
                           incident=incident.id, now=now)
                claimed.append((kind, incident))
        return claimed, soonest_wait(now, busy)

    def _heads(self, due: ColumnElement[bool], oldest: Any) -> Any:
        """The first due incident of each channel (by `oldest`), locked for this transaction."""
        heads = self.dialect.first_of_each(incidents.c.id, incidents.c.channel, due, oldest)
        return (
            select(*INCIDENT).where(incidents.c.id.in_(heads), due).order_by(oldest).limit(B("n", type_=Integer))
            .with_for_update(skip_locked=True)
        )

    def free_channel(self, channel: str, replica: str, next_at: float) -> None:
        """The write is done: the channel takes its next write at `next_at` (unless someone took it over)."""
        with self._tx() as tx:
            tx.run(self.q(
                lambda: update(channel_pace)
                .where(channel_pace.c.channel == B("where"), channel_pace.c.owner == B("replica"))
                .values(next_at=B("later"))
            ), where=channel, replica=replica, later=next_at)

    def claim_flight(self, key: str, owner: str, now: float, lease: float, stale_before: float | None = None) -> bool:
        """True when `owner` may ask the model for `key`: nobody else is, or their lease ran out, or their
        replica's heartbeat is older than `stale_before` (it died asking).

        The database picks one winner among replicas claiming at once: a lapsed holder's row is deleted, then
        the claim is an INSERT of the unique key that does nothing on a conflict. A concurrent claimant's
        INSERT waits for the winner's commit and then finds its row. (Deciding inside ON CONFLICT DO UPDATE
        WHERE instead is unsafe: that condition's subqueries read the snapshot the statement started with,
        from before the winner committed.)
        """
        f = flights.c

        def lapsed() -> Any:
            gone = f.expires_at <= B("now")
            if stale_before is not None:
                gone = or_(gone, _dead(f.owner, B("stale")))
            return delete(flights).where(f.key == B("key"), gone)

        def take() -> Any:
            return self.dialect.insert(flights).on_conflict_do_nothing(index_elements=[f.key]).returning(f.key)

        extra = {} if stale_before is None else {"stale": stale_before}
        with self._tx() as tx:
            tx.run(self.q(lapsed, variant=stale_before is None), key=key, now=now, **extra)
            taken = tx.one(self.q(take, keys=("key", "owner", "expires_at")), key=key, owner=owner,
                           expires_at=now + lease)
        return taken is not None

    def end_flight(self, key: str, owner: str) -> None:
        with self._tx() as tx:
            tx.run(self.q(lambda: delete(flights).where(flights.c.key == B("k"), flights.c.owner == B("who"))),
                   k=key, who=owner)
