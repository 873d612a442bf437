"""PostgreSQL storage for several replicas on one database: the same interface as the SQLite store.

Methods are synchronous and each runs as one transaction on a connection from a psycopg_pool
ConnectionPool; async code runs them on the store's worker threads (as many as the pool has connections)
with `await store.run(fn, ...)`. Whatever must be decided once across replicas is decided by the
database: unique keys with ON CONFLICT, row locks with SKIP LOCKED, advisory locks.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from bot.card import TriageResult
from bot.store.base import TriageRecord
from bot.store.migrations.postgres import migrate
from bot.store.postgres_leases import PostgresLeaseStore
from bot.store.postgres_memory import PostgresMemoryStore
from bot.store.postgres_shadow import PostgresShadowStore
from bot.store.postgres_slack import PostgresSlackStore
from bot.store.retention import PURGE

P = ParamSpec("P")
T = TypeVar("T")
POOL_SIZE = 8

Conn = psycopg.Connection[tuple[Any, ...]]


class PostgresStore(PostgresMemoryStore, PostgresLeaseStore, PostgresSlackStore, PostgresShadowStore):
    """Shared by every replica: nothing a process remembers about it is authoritative."""

    shared = True

    def __init__(self, pool: ConnectionPool[Conn], clock: Callable[[], float] = time.time) -> None:
        self.pool = pool
        self._clock = clock
        self._executor = ThreadPoolExecutor(max_workers=pool.max_size, thread_name_prefix="store")
        with self.pool.connection() as conn:
            migrate(conn)
        self.repair_verdicts()
        self.backfill_terms()

    @classmethod
    def open(
        cls, url: str, clock: Callable[[], float] = time.time, *, size: int = POOL_SIZE, timeout: float = 15.0
    ) -> PostgresStore:
        """Connect (failing within `timeout` when the server cannot be reached) and migrate."""
        pool: ConnectionPool[Conn] = ConnectionPool(
            url, min_size=1, max_size=size, open=False, timeout=timeout, name="triage-store"
        )
        pool.open(wait=True, timeout=timeout)
        try:
            return cls(pool, clock)
        except BaseException:
            pool.close()
            raise

    def ping(self, timeout: float = 2.0) -> None:
        """Raise unless a connection can be had and answers within `timeout` seconds."""
        with self.pool.connection(timeout=timeout) as conn:
            conn.execute("select 1")

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.pool.close()

    @contextmanager
    def _tx(self) -> Iterator[Conn]:
        """One transaction: committed when the block ends, rolled back when it raises."""
        with self.pool.connection() as conn, conn.transaction():
            yield conn

    def _rows(self, sql: Any, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(sql, args)
            return cur.fetchall()

    # --- learned templates ---------------------------------------------------------------------

    def load_templates(self, limit: int) -> list[tuple[str, str, int, float]]:
        """The `limit` most recently seen templates: (id, pattern, count, last seen)."""
        with self._tx() as conn:
            rows = conn.execute(
                "select id, pattern, count, last_seen from identity_templates order by last_seen desc limit %s",
                (limit,),
            ).fetchall()
        return [(str(i), str(p), int(c), float(s)) for i, p, c, s in rows]

    def find_templates(self, group: str, limit: int) -> list[tuple[str, str, int, float]]:
        """The `limit` most recently seen templates of one group (a replica missing them looks here)."""
        with self._tx() as conn:
            rows = conn.execute(
                "select id, pattern, count, last_seen from identity_templates where grp = %s "
                "order by last_seen desc limit %s",
                (group, limit),
            ).fetchall()
        return [(str(i), str(p), int(c), float(s)) for i, p, c, s in rows]

    def save_templates(self, rows: Sequence[tuple[str, str, int, float, str]], keep: int | None) -> None:
        """Insert or update templates; past `keep` rows the least recently seen are dropped, except those
        of open incidents and judged ones: a flood of new messages cannot take a live identity away. `keep`
        None only stores (a template shared the moment it is learned; trimming comes with the periodic save)."""
        if not rows and keep is None:
            return
        with self._tx() as conn, conn.cursor() as cur:
            if keep is None:
                # a template shared as it is learned: visible at once, and cheap to learn again if a crash
                # loses it, so this commit does not wait for the disk
                cur.execute("set local synchronous_commit = off")
            cur.executemany(
                "insert into identity_templates (id, pattern, count, last_seen, grp) values (%s, %s, %s, %s, %s) "
                "on conflict (id) do update set pattern = excluded.pattern, grp = excluded.grp, "
                "count = greatest(identity_templates.count, excluded.count), "
                "last_seen = greatest(identity_templates.last_seen, excluded.last_seen)",
                list(rows),
            )
            if keep is None:
                return
            total = conn.execute("select count(*) from identity_templates").fetchone()
            if total is not None and int(total[0]) > keep:
                conn.execute(
                    "delete from identity_templates where id in "
                    "(select id from identity_templates where id not in "
                    "(select fingerprint from incidents where resolved = 0) "
                    "and id not in (select fingerprint from verdicts) order by last_seen limit %s)",
                    (int(total[0]) - keep,),
                )

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
        with self._tx() as conn:
            for record in records:
                result, meta = record.result, record.result.meta
                row = (
                    meta.triage_id, meta.created_at or self._clock(), meta.source, meta.input_hash,
                    meta.fingerprint, record.text, result.category, result.severity, result.confidence, meta.engine,
                    meta.model, meta.prompt_version, int(meta.cached), int(meta.degraded), meta.degraded_reason,
                    int(meta.needs_review), meta.latency_ms, meta.cost_usd, record.outcome, record.error,
                    result.model_dump_json(),
                )
                self._index_incident(conn, meta.fingerprint, record.text)
                conn.execute(
                    "insert into triages (id, created_at, source, input_hash, fingerprint, text, category, severity,"
                    " confidence, engine, model, prompt_version, cached, degraded, degraded_reason, needs_review,"
                    " latency_ms, cost_usd, outcome, error, result) values"
                    " (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                    " on conflict (id) do update set result = excluded.result, outcome = excluded.outcome,"
                    " error = excluded.error",
                    row,
                )
                if record.cache is not None:
                    self._put_cached(conn, *record.cache)

    def get_triage(self, triage_id: str) -> TriageResult | None:
        rows = self._rows("select result from triages where id = %s", (triage_id,))
        return TriageResult.model_validate_json(rows[0]["result"]) if rows else None

    def triage_text(self, triage_id: str) -> str | None:
        """The redacted input of a triage, for asking again."""
        rows = self._rows("select text from triages where id = %s", (triage_id,))
        return str(rows[0]["text"]) if rows else None

    def count_triages(self) -> int:
        return int(self._rows("select count(*) as n from triages")[0]["n"])

    def triage_rows(self, since: float = 0.0) -> list[dict[str, Any]]:
        return self._rows("select * from triages where created_at >= %s order by created_at", (since,))

    def spent_since(self, since: float) -> float:
        rows = self._rows("select coalesce(sum(cost_usd), 0) as total from triages where created_at >= %s", (since,))
        return float(rows[0]["total"])

    # --- idempotency cache ---------------------------------------------------------------------

    def get_cached(self, key: str) -> TriageResult | None:
        rows = self._rows("select result from cache where key = %s and expires_at > %s", (key, self._clock()))
        return TriageResult.model_validate_json(rows[0]["result"]) if rows else None

    def put_cached(self, key: str, result: TriageResult, ttl: float) -> None:
        with self._tx() as conn:
            self._put_cached(conn, key, result, ttl)

    def _put_cached(self, conn: Conn, key: str, result: TriageResult, ttl: float) -> None:
        if ttl <= 0:
            return
        conn.execute(
            "insert into cache (key, result, expires_at) values (%s, %s, %s) on conflict (key) do update"
            " set result = excluded.result, expires_at = excluded.expires_at",
            (key, result.model_dump_json(), self._clock() + ttl),
        )

    def live_cache(self, limit: int) -> list[tuple[str, float, TriageResult]]:
        """Unexpired cache entries, oldest expiry first, at most `limit`."""
        rows = self._rows(
            "select key, expires_at, result from cache where expires_at > %s order by expires_at limit %s",
            (self._clock(), limit),
        )
        return [(r["key"], r["expires_at"], TriageResult.model_validate_json(r["result"])) for r in rows]

    def purge_older_than(self, before: float) -> dict[str, int]:
        """Retention: delete rows older than `before` that nothing needs any more; counts per table."""
        counts: dict[str, int] = {}
        with self._tx() as conn:
            for table, statement in PURGE:
                counts[table] = conn.execute(statement.format(p="%s"), (before,)).rowcount
            if counts.get("incident_text"):
                # Word counts are recounted from the texts left, so no word of a purged text stays behind.
                conn.execute("delete from incident_terms")
                for (text,) in conn.execute("select text from incident_text").fetchall():
                    self._count_terms(conn, text)
        return counts

    def purge_expired(self) -> int:
        with self._tx() as conn:
            return conn.execute("delete from cache where expires_at <= %s", (self._clock(),)).rowcount

    # --- feedback ------------------------------------------------------------------------------

    def record_feedback(
        self, triage_id: str, user: str, action: str, old_value: str | None, new_value: str | None
    ) -> bool:
        """Store one click; False when the same user already made the same choice (idempotent)."""
        judged = self.get_triage(triage_id)
        meta = judged.meta if judged else None
        with self._tx() as conn:
            cursor = conn.execute(
                'insert into feedback (triage_id, "user", action, old_value, new_value, created_at, model,'
                " prompt_version, engine) values (%s, %s, %s, %s, %s, %s, %s, %s, %s) on conflict do nothing",
                (triage_id, user, action, old_value, new_value, self._clock(),
                 meta.model if meta else None, meta.prompt_version if meta else None, meta.engine if meta else None),
            )
            if cursor.rowcount != 1:
                return False
            # In the same transaction: the card's verdict becomes the precedent of its incident identity.
            self._refresh_verdict(conn, triage_id)
            return True

    def feedback_for(self, triage_id: str) -> list[dict[str, Any]]:
        return self._rows("select * from feedback where triage_id = %s order by id", (triage_id,))

    def feedback_rows(self, since: float = 0.0) -> list[dict[str, Any]]:
        return self._rows("select * from feedback where created_at >= %s order by id", (since,))

    # --- Slack ---------------------------------------------------------------------------------

    def claim_event(self, event_id: str) -> bool:
        """True for the one replica that sees an event id first: re-deliveries are dropped by the caller."""
        with self._tx() as conn:
            cursor = conn.execute(
                "insert into slack_events (event_id, received_at) values (%s, %s) on conflict do nothing",
                (event_id, self._clock()),
            )
            return cursor.rowcount == 1

    def save_post(
        self, triage_id: str, channel: str, ts: str, thread_ts: str | None = None, requested_by: str | None = None
    ) -> None:
        """Where a card was posted, and who asked for it (a redraw keeps showing them)."""
        with self._tx() as conn:
            conn.execute(
                "insert into posts (triage_id, channel, ts, thread_ts, requested_by, created_at)"
                " values (%s, %s, %s, %s, %s, %s) on conflict (triage_id) do update set channel = excluded.channel,"
                " ts = excluded.ts, thread_ts = excluded.thread_ts, requested_by = excluded.requested_by,"
                " created_at = excluded.created_at",
                (triage_id, channel, ts, thread_ts, requested_by, self._clock()),
            )

    def triage_at(self, channel: str, ts: str) -> str | None:
        """The triage id a posted card shows now (re-triage moves it to the newer result)."""
        rows = self._rows(
            "select triage_id from posts where channel = %s and ts = %s order by created_at desc limit 1",
            (channel, ts),
        )
        return str(rows[0]["triage_id"]) if rows else None

    def get_post(self, triage_id: str) -> dict[str, Any] | None:
        rows = self._rows("select * from posts where triage_id = %s", (triage_id,))
        return rows[0] if rows else None

    def posted_ids(self, since: float = 0.0) -> set[str]:
        """Triage ids that became a Slack card (posted by the bot) since a time."""
        return {str(r["triage_id"]) for r in self._rows("select triage_id from posts where created_at >= %s", (since,))}
