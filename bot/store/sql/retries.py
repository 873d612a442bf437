"""Re-triages to try again later, and claiming the due ones so that one replica runs each."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, and_, func, select, update
from sqlalchemy import bindparam as B

from bot.store.schema import retries
from bot.store.sql.core import StoreCore


class Retries(StoreCore):
    """One row per posted card to triage again later (its answer was degraded), pending until finished."""

    def queue_retry(self, triage_id: str, channel: str, ts: str, next_at: float) -> None:
        with self._tx() as tx:
            tx.run(self.q(lambda: self.dialect.insert(retries).on_conflict_do_nothing(),
                          keys=("triage_id", "channel", "ts", "next_at")),
                   triage_id=triage_id, channel=channel, ts=ts, next_at=next_at)

    def due_retries(self, now: float, limit: int = 20) -> list[dict[str, Any]]:
        r = retries.c
        with self._read() as tx:
            return tx.dicts(self.q(
                lambda: select(r.triage_id, r.channel, r.ts, r.attempts)
                .where(r.state == "pending", r.next_at <= B("now"))
                .order_by(r.next_at).limit(B("n", type_=Integer))
            ), now=now, n=limit)

    def retry_later(self, triage_id: str, next_at: float) -> None:
        with self._tx() as tx:
            tx.run(self.q(lambda: update(retries).where(retries.c.triage_id == B("triage"))
                          .values(attempts=retries.c.attempts + 1, next_at=B("later"))),
                   triage=triage_id, later=next_at)

    def finish_retry(self, triage_id: str, state: str) -> None:
        with self._tx() as tx:
            tx.run(self.q(lambda: update(retries).where(retries.c.triage_id == B("triage"))
                          .values(state=B("final"))), triage=triage_id, final=state)

    def retry_states(self) -> dict[str, int]:
        with self._read() as tx:
            rows = tx.rows(self.q(lambda: select(retries.c.state, func.count()).group_by(retries.c.state)))
        return {str(state): int(n) for state, n in rows}

    def claim_retries(self, now: float, lease: float, limit: int = 20) -> list[dict[str, Any]]:
        """Due re-triage jobs, each pushed `lease` seconds ahead so no other process runs it meanwhile."""
        r = retries.c

        def build() -> Any:
            due = and_(r.state == "pending", r.next_at <= B("now"))
            candidates = (
                select(r.triage_id).where(due).order_by(r.next_at).limit(B("n", type_=Integer))
                .with_for_update(skip_locked=True)
            )
            return (
                update(retries).where(r.triage_id.in_(candidates), due).values(next_at=B("later"))
                .returning(r.triage_id, r.channel, r.ts, r.attempts)
            )

        with self._tx() as tx:
            return tx.dicts(self.q(build), now=now, later=now + lease, n=limit)
