"""Learned message templates (bot/identity), shared by replicas and kept while their incidents live."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Integer, delete, func, select
from sqlalchemy import bindparam as B

from bot.store import dialects
from bot.store.schema import identity_templates, incidents, verdicts
from bot.store.sql.core import StoreCore


class Templates(StoreCore):
    """Rows are (id, pattern, count, last seen[, group]): an identity's template and how often it was seen."""

    def load_templates(self, limit: int) -> list[tuple[str, str, int, float]]:
        """The `limit` most recently seen templates: (id, pattern, count, last seen)."""
        t = identity_templates.c
        with self._read() as tx:
            rows = tx.rows(self.q(
                lambda: select(t.id, t.pattern, t.count, t.last_seen).order_by(t.last_seen.desc())
                .limit(B("n", type_=Integer))
            ), n=limit)
        return [(str(i), str(p), int(c), float(s)) for i, p, c, s in rows]

    def find_templates(self, group: str, limit: int) -> list[tuple[str, str, int, float]]:
        """The `limit` most recently seen templates of one group (a replica missing them looks here)."""
        t = identity_templates.c
        with self._read() as tx:
            rows = tx.rows(self.q(
                lambda: select(t.id, t.pattern, t.count, t.last_seen).where(t.grp == B("group"))
                .order_by(t.last_seen.desc()).limit(B("n", type_=Integer))
            ), group=group, n=limit)
        return [(str(i), str(p), int(c), float(s)) for i, p, c, s in rows]

    def save_templates(self, rows: Sequence[tuple[str, str, int, float, str]], keep: int | None) -> None:
        """Insert or update templates; past `keep` rows the least recently seen are dropped, except those
        of open incidents and judged ones: a flood of new messages cannot take a live identity away. `keep`
        None only stores (a template shared the moment it is learned; trimming comes with the periodic save)."""
        if not rows and keep is None:
            return
        t = identity_templates.c

        def upsert() -> Any:
            stmt = self.dialect.insert(identity_templates)
            return stmt.on_conflict_do_update(index_elements=[t.id], set_={
                "pattern": stmt.excluded.pattern,
                "grp": stmt.excluded.grp,
                "count": dialects.greatest(t.count, stmt.excluded["count"]),
                "last_seen": dialects.greatest(t.last_seen, stmt.excluded.last_seen),
            })

        def oldest() -> Any:
            live = select(incidents.c.fingerprint).where(incidents.c.resolved == 0)
            judged = select(verdicts.c.fingerprint)
            spare = select(t.id).where(t.id.not_in(live), t.id.not_in(judged)).order_by(t.last_seen)
            return delete(identity_templates).where(t.id.in_(spare.limit(B("n", type_=Integer))))

        with self._tx() as tx:
            if keep is None:
                # shared as it is learned: cheap to learn again if a crash loses it, so no wait for the disk
                self.dialect.relax_durability(tx)
            tx.many(self.q(upsert, keys=("id", "pattern", "count", "last_seen", "grp")),
                    [{"id": i, "pattern": p, "count": c, "last_seen": s, "grp": g} for i, p, c, s, g in rows])
            if keep is None:
                return
            total = int(tx.scalar(self.q(lambda: select(func.count()).select_from(identity_templates))))
            if total > keep:
                tx.run(self.q(oldest), n=total - keep)
