"""SQLite storage through sqlite-utils: triages, cache, feedback, Slack events and posts.

One narrow interface: callers never write SQL. Methods are synchronous and thread-safe; async code
runs them on the store's single worker thread with `await store.run(fn, ...)`, so writes never block
the event loop and never race each other.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

import sqlite_utils

from bot.card import TriageResult
from bot.store.base import TriageRecord
from bot.store.migrations.sqlite import migrate
from bot.store.retention import PURGE
from bot.store.sqlite_identity import IdentityStore
from bot.store.sqlite_leases import LeaseStore
from bot.store.sqlite_memory import MemoryStore
from bot.store.sqlite_shadow import ShadowStore
from bot.store.sqlite_slack import SlackStore

P = ParamSpec("P")
T = TypeVar("T")


def connect(path: str, busy_timeout: float = 10.0) -> sqlite_utils.Database:
    """A database in WAL mode with a busy timeout, usable from the worker thread and the caller."""
    conn = sqlite3.connect(path, check_same_thread=False, timeout=busy_timeout, isolation_level=None)
    db = sqlite_utils.Database(conn)
    if path != ":memory:":
        db.enable_wal()
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    conn.execute("PRAGMA synchronous = NORMAL")
    # Deleted rows are overwritten, not just unlinked: a purged text leaves nothing behind in the file.
    conn.execute("PRAGMA secure_delete = ON")
    return db


_TRIAGE_COLUMNS = (
    "id", "created_at", "source", "input_hash", "fingerprint", "text", "category", "severity", "confidence",
    "engine", "model", "prompt_version", "cached", "degraded", "degraded_reason", "needs_review", "latency_ms",
    "cost_usd", "outcome", "error", "result",
)
_INSERT_TRIAGE = (
    f"insert or replace into triages ({', '.join(_TRIAGE_COLUMNS)}) values ({', '.join('?' * len(_TRIAGE_COLUMNS))})"
)


def _triage_row(record: TriageRecord, clock: Callable[[], float]) -> tuple[Any, ...]:
    result, meta = record.result, record.result.meta
    return (
        meta.triage_id, meta.created_at or clock(), meta.source, meta.input_hash, meta.fingerprint, record.text,
        result.category, result.severity, result.confidence, meta.engine, meta.model, meta.prompt_version,
        int(meta.cached), int(meta.degraded), meta.degraded_reason, int(meta.needs_review), meta.latency_ms,
        meta.cost_usd, record.outcome, record.error, result.model_dump_json(),
    )


class SQLiteStore(MemoryStore, LeaseStore, IdentityStore, SlackStore, ShadowStore):
    """The embedded store: one file, one process, writes on one worker thread."""

    # One process owns the file, so what it remembers about the store stays true.
    shared = False

    def __init__(self, db: sqlite_utils.Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self._clock = clock
        self._lock = threading.RLock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
        self.ensure_schema()

    @classmethod
    def open(cls, path: str, clock: Callable[[], float] = time.time, *, busy_timeout: float = 10.0) -> SQLiteStore:
        return cls(connect(path, busy_timeout), clock)

    def ping(self, timeout: float = 2.0) -> None:
        """Raise unless the file can be written now: a write lock is taken and released at once."""
        with self._lock:
            busy = self.conn.execute("PRAGMA busy_timeout").fetchone()[0]
            self.conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                self.conn.execute("ROLLBACK")
            finally:
                self.conn.execute(f"PRAGMA busy_timeout = {int(busy)}")

    @property
    def conn(self) -> sqlite3.Connection:
        return self.db.conn

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.db.conn.close()

    def ensure_schema(self) -> None:
        """Apply the migrations this database has not seen yet (bot/store/migrations/sqlite.py)."""
        with self._lock:
            migrate(self.conn)
            self.repair_verdicts()
            self.backfill_terms()

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
        """Record one triage; with `cache`, also keep its card for identical input (one trip to the store)."""
        self.record_triages([TriageRecord(result, text, outcome, error, cache)])

    def record_triages(self, records: Sequence[TriageRecord]) -> None:
        """Record a group of triages in one transaction, in order (group commit): all or none."""
        with self._tx() as conn:
            for record in records:
                meta = record.result.meta
                # Indexed before the row exists: the first triage of an identity is the one indexed.
                self.index_incident(meta.fingerprint, record.text)
                conn.execute(_INSERT_TRIAGE, _triage_row(record, self._clock))
                if record.cache is not None:
                    self.put_cached(*record.cache)

    def get_triage(self, triage_id: str) -> TriageResult | None:
        with self._lock:
            rows = list(self.db.query("select result from triages where id = ?", [triage_id]))
        if not rows:
            return None
        return TriageResult.model_validate_json(rows[0]["result"])

    def triage_text(self, triage_id: str) -> str | None:
        """The redacted input of a triage, for asking again."""
        with self._lock:
            rows = list(self.db.query("select text from triages where id = ?", [triage_id]))
        return str(rows[0]["text"]) if rows else None

    def count_triages(self) -> int:
        with self._lock:
            return self.db.table("triages").count

    def triage_rows(self, since: float = 0.0) -> list[dict[str, Any]]:
        with self._lock:
            return list(
                self.db.query("select * from triages where created_at >= ? order by created_at", [since])
            )

    def spent_since(self, since: float) -> float:
        with self._lock:
            rows = list(
                self.db.query(
                    "select coalesce(sum(cost_usd), 0) as total from triages where created_at >= ?", [since]
                )
            )
        return float(rows[0]["total"])

    # --- idempotency cache ---------------------------------------------------------------------

    def get_cached(self, key: str) -> TriageResult | None:
        with self._lock:
            rows = list(
                self.db.query(
                    "select result from cache where key = ? and expires_at > ?", [key, self._clock()]
                )
            )
        return TriageResult.model_validate_json(rows[0]["result"]) if rows else None

    def put_cached(self, key: str, result: TriageResult, ttl: float) -> None:
        if ttl <= 0:
            return
        row = {"key": key, "result": result.model_dump_json(), "expires_at": self._clock() + ttl}
        with self._lock:
            self.db.table("cache").insert(row, replace=True)

    def live_cache(self, limit: int) -> list[tuple[str, float, TriageResult]]:
        """Unexpired cache entries, oldest expiry first, at most `limit` (warms the service's memo)."""
        with self._lock:
            rows = self.conn.execute(
                "select key, expires_at, result from cache where expires_at > ? order by expires_at limit ?",
                (self._clock(), limit),
            ).fetchall()
        return [(key, expires_at, TriageResult.model_validate_json(raw)) for key, expires_at, raw in rows]

    def purge_older_than(self, before: float) -> dict[str, int]:
        """Retention: delete rows older than `before` that nothing needs any more; counts per table."""
        counts: dict[str, int] = {}
        with self._tx() as conn:
            for table, statement in PURGE:
                counts[table] = conn.execute(statement.format(p="?"), (before,)).rowcount
            if counts.get("incident_text"):
                # Merge the index so the deleted texts' entries are dropped from it, and recount the words
                # from what is left (the counts hold words of the purged texts too).
                conn.execute("insert into incident_text (incident_text) values ('optimize')")
                conn.execute("delete from incident_terms")
                for (text,) in conn.execute("select text from incident_text").fetchall():
                    self._count_terms(text)
        if counts.get("incident_text") or counts.get("triages"):
            with self._lock:
                # The write-ahead log still holds the pages as they were before the purge.
                self.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return counts

    def purge_expired(self) -> int:
        with self._lock:
            cursor = self.db.execute("delete from cache where expires_at <= ?", [self._clock()])
            return cursor.rowcount

    # --- feedback ------------------------------------------------------------------------------

    def record_feedback(
        self, triage_id: str, user: str, action: str, old_value: str | None, new_value: str | None
    ) -> bool:
        """Store one click; False when the same user already made the same choice (idempotent)."""
        # An immediate transaction: the check and the insert hold the write lock together.
        with self._tx():
            same = list(
                self.db.query(
                    "select id from feedback where triage_id = ? and user = ? and action = ? "
                    "and coalesce(new_value, '') = coalesce(?, '')",
                    [triage_id, user, action, new_value],
                )
            )
            if same:
                return False
            judged = self.get_triage(triage_id)
            self.db.table("feedback").insert(
                {
                    "triage_id": triage_id,
                    "user": user,
                    "action": action,
                    "old_value": old_value,
                    "new_value": new_value,
                    "created_at": self._clock(),
                    "model": judged.meta.model if judged else None,
                    "prompt_version": judged.meta.prompt_version if judged else None,
                    "engine": judged.meta.engine if judged else None,
                }
            )
            # In the same transaction: the card's verdict becomes the precedent of its incident identity.
            self.refresh_verdict(triage_id)
            return True

    def feedback_for(self, triage_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(
                self.db.query("select * from feedback where triage_id = ? order by id", [triage_id])
            )

    def feedback_rows(self, since: float = 0.0) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.db.query("select * from feedback where created_at >= ? order by id", [since]))

    # --- Slack ---------------------------------------------------------------------------------

    def claim_event(self, event_id: str) -> bool:
        """True the first time an event id is seen: re-deliveries are dropped by the caller."""
        with self._lock:
            cursor = self.db.execute(
                "insert or ignore into slack_events (event_id, received_at) values (?, ?)",
                [event_id, self._clock()],
            )
            return cursor.rowcount == 1

    def save_post(
        self, triage_id: str, channel: str, ts: str, thread_ts: str | None = None, requested_by: str | None = None
    ) -> None:
        """Where a card was posted, and who asked for it (a redraw keeps showing them)."""
        row = {
            "triage_id": triage_id, "channel": channel, "ts": ts, "thread_ts": thread_ts,
            "requested_by": requested_by, "created_at": self._clock(),
        }
        with self._lock:
            self.db.table("posts").insert(row, replace=True)

    def triage_at(self, channel: str, ts: str) -> str | None:
        """The triage id a posted card shows now (re-triage moves it to the newer result)."""
        with self._lock:
            rows = list(
                self.db.query(
                    "select triage_id from posts where channel = ? and ts = ? order by created_at desc limit 1",
                    [channel, ts],
                )
            )
        return str(rows[0]["triage_id"]) if rows else None

    def get_post(self, triage_id: str) -> dict[str, Any] | None:
        with self._lock:
            rows = list(self.db.query("select * from posts where triage_id = ?", [triage_id]))
        return rows[0] if rows else None

    def posted_ids(self, since: float = 0.0) -> set[str]:
        """Triage ids that became a Slack card (posted by the bot) since a time."""
        with self._lock:
            rows = self.db.query("select triage_id from posts where created_at >= ?", [since])
            return {str(row["triage_id"]) for row in rows}
