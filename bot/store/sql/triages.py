"""Triages, their shadow runs, the idempotency cache, and the retention purge that clears all of them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Integer, delete, func, select, text
from sqlalchemy import bindparam as B

from bot.card import TriageResult
from bot.store.base import TriageRecord
from bot.store.dialects import Tx
from bot.store.retention import PURGE
from bot.store.schema import cache, incident_terms, incident_text, shadow_results, triages
from bot.store.sql.memory import Memory

# The columns of a shadow result (bot/shadow), the keys of its plain dicts.
SHADOW_COLUMNS = tuple(column.name for column in shadow_results.c)


class Triages(Memory):
    """Recording a triage also indexes its identity for memory (bot/store/sql/memory.py), in the same transaction."""

    # --- triages -------------------------------------------------------------------------------

    def record_triage(
        self,
        result: TriageResult,
        text: str,
        *,
        outcome: str = "ok",
        error: str | None = None,
        cache: tuple[str, TriageResult, float] | None = None,
    ) -> None:
        """Record one triage; with `cache`, also keep its card for identical input (one transaction)."""
        self.record_triages([TriageRecord(result, text, outcome, error, cache)])

    def record_triages(self, records: Sequence[TriageRecord]) -> None:
        """Record a group of triages in one transaction, in order (group commit): all or none."""

        def upsert() -> Any:
            stmt = self.dialect.insert(triages)
            return stmt.on_conflict_do_update(
                index_elements=[triages.c.id], set_={c.name: stmt.excluded[c.name] for c in triages.c if c.name != "id"}
            )

        rows = []
        try:
            with self._tx() as tx:
                keep = self._kept(tx)
                indexed: set[str] = set()  # identities indexed, or found indexed, in this transaction
                for record in records:
                    result, meta = record.result, record.result.meta
                    self._summaries.pop(meta.triage_id, None)  # a card written again has a new summary
                    rows.append({
                        "id": meta.triage_id, "created_at": meta.created_at or self._clock(), "source": meta.source,
                        "input_hash": meta.input_hash, "fingerprint": meta.fingerprint, "text": record.text,
                        "category": result.category, "severity": result.severity, "confidence": result.confidence,
                        "engine": meta.engine, "model": meta.model, "prompt_version": meta.prompt_version,
                        "cached": int(meta.cached), "degraded": int(meta.degraded),
                        "degraded_reason": meta.degraded_reason, "needs_review": int(meta.needs_review),
                        "latency_ms": meta.latency_ms, "cost_usd": meta.cost_usd, "outcome": record.outcome,
                        "error": record.error, "result": result.model_dump_json(),
                    })
                    if meta.fingerprint not in indexed and not (keep and meta.fingerprint in self._indexed):
                        self._index_incident(tx, meta.fingerprint, record.text)
                        indexed.add(meta.fingerprint)
                    if record.cache is not None:
                        self._put_cached(tx, *record.cache)
                # The rows go in together, after the index: each identity's first text was indexed above.
                if rows:
                    tx.many(self.q(upsert, keys=tuple(rows[0])), rows)
            if keep:
                self._indexed.update(indexed)
        except BaseException:
            self._indexed.clear()  # what this transaction indexed may not be there
            raise

    def get_triage(self, triage_id: str) -> TriageResult | None:
        with self._read() as tx:
            raw = tx.scalar(self.q(lambda: select(triages.c.result).where(triages.c.id == B("triage"))),
                            triage=triage_id)
        return TriageResult.model_validate_json(raw) if raw is not None else None

    def triage_text(self, triage_id: str) -> str | None:
        """The redacted input of a triage, for asking again."""
        with self._read() as tx:
            found = tx.scalar(self.q(lambda: select(triages.c.text).where(triages.c.id == B("triage"))),
                              triage=triage_id)
        return str(found) if found is not None else None

    def count_triages(self) -> int:
        with self._read() as tx:
            return int(tx.scalar(self.q(lambda: select(func.count()).select_from(triages))))

    def triage_rows(self, since: float = 0.0) -> list[dict[str, Any]]:
        with self._read() as tx:
            return tx.dicts(self.q(
                lambda: select(triages).where(triages.c.created_at >= B("since")).order_by(triages.c.created_at)
            ), since=since)

    def spent_since(self, since: float) -> float:
        with self._read() as tx:
            total = tx.scalar(self.q(
                lambda: select(func.coalesce(func.sum(triages.c.cost_usd), 0.0))
                .where(triages.c.created_at >= B("since"))
            ), since=since)
        return float(total or 0.0)

    # --- shadow runs (bot/shadow) ----------------------------------------------------------------

    def record_shadow(self, row: Mapping[str, Any]) -> None:
        """Keep one candidate answer (or its error) for a triage; the same candidate again replaces it."""

        def upsert() -> Any:
            stmt = self.dialect.insert(shadow_results)
            return stmt.on_conflict_do_update(
                index_elements=[shadow_results.c.triage_id, shadow_results.c.model, shadow_results.c.prompt_version],
                set_={name: stmt.excluded[name] for name in SHADOW_COLUMNS[3:]},
            )

        with self._tx() as tx:
            values = {name: row.get(name) for name in SHADOW_COLUMNS}
            # a missing time or cost is the column's default, 0
            values.update(latency_ms=values["latency_ms"] or 0.0, cost_usd=values["cost_usd"] or 0.0)
            tx.run(self.q(upsert, keys=SHADOW_COLUMNS), **values)

    def shadow_rows(self, since: float = 0.0) -> list[dict[str, Any]]:
        """Shadow results recorded since a time, oldest first."""
        s = shadow_results.c
        with self._read() as tx:
            return tx.dicts(self.q(
                lambda: select(shadow_results).where(s.created_at >= B("since"))
                .order_by(s.created_at, s.triage_id, s.model, s.prompt_version)
            ), since=since)

    def shadow_spent_since(self, since: float) -> float:
        """What the shadow runs cost since a time (their own share of the daily budget)."""
        s = shadow_results.c
        with self._read() as tx:
            total = tx.scalar(self.q(
                lambda: select(func.coalesce(func.sum(s.cost_usd), 0.0)).where(s.created_at >= B("since"))
            ), since=since)
        return float(total or 0.0)

    # --- idempotency cache ---------------------------------------------------------------------

    def get_cached(self, key: str) -> TriageResult | None:
        with self._read() as tx:
            raw = tx.scalar(self.q(
                lambda: select(cache.c.result).where(cache.c.key == B("k"), cache.c.expires_at > B("now"))
            ), k=key, now=self._clock())
        return TriageResult.model_validate_json(raw) if raw is not None else None

    def put_cached(self, key: str, result: TriageResult, ttl: float) -> None:
        if ttl <= 0:
            return
        with self._tx() as tx:
            self._put_cached(tx, key, result, ttl)

    def _put_cached(self, tx: Tx, key: str, result: TriageResult, ttl: float) -> None:
        if ttl <= 0:
            return

        def upsert() -> Any:
            stmt = self.dialect.insert(cache)
            return stmt.on_conflict_do_update(
                index_elements=[cache.c.key],
                set_={"result": stmt.excluded.result, "expires_at": stmt.excluded.expires_at},
            )

        tx.run(self.q(upsert, keys=("key", "result", "expires_at")),
               key=key, result=result.model_dump_json(), expires_at=self._clock() + ttl)

    def live_cache(self, limit: int) -> list[tuple[str, float, TriageResult]]:
        """Unexpired cache entries, oldest expiry first, at most `limit` (warms the service's memo)."""
        with self._read() as tx:
            rows = tx.rows(self.q(
                lambda: select(cache.c.key, cache.c.expires_at, cache.c.result)
                .where(cache.c.expires_at > B("now")).order_by(cache.c.expires_at).limit(B("n", type_=Integer))
            ), now=self._clock(), n=limit)
        return [(key, expires_at, TriageResult.model_validate_json(raw)) for key, expires_at, raw in rows]

    def purge_older_than(self, before: float) -> dict[str, int]:
        """Retention: delete rows older than `before` that nothing needs any more; counts per table."""
        counts: dict[str, int] = {}
        self._indexed.clear()  # an identity whose triages are all gone is indexed again by its next one
        with self._tx() as tx:
            for table, statement in PURGE:
                prepared = self.q(lambda: text(statement.format(p=":before")), variant=statement)  # noqa: B023
                counts[table] = tx.run(prepared, before=before).rowcount
            if counts.get("incident_text"):
                self._searches.clear()
                self._indexed.clear()
                # The index drops the purged texts' entries, and the words are counted again from the texts
                # left (the counts hold words of the purged texts too).
                self.dialect.compact_fulltext(tx)
                tx.run(self.q(lambda: delete(incident_terms)))
                for (body,) in tx.rows(self.q(lambda: select(incident_text.c.text))):
                    self._count_terms(tx, body)
        if counts.get("incident_text") or counts.get("triages"):
            self.dialect.forget_old_pages()
        return counts

    def purge_expired(self) -> int:
        with self._tx() as tx:
            return int(tx.run(self.q(lambda: delete(cache).where(cache.c.expires_at <= B("now"))),
                              now=self._clock()).rowcount)
