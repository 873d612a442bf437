"""SQLite: one connection under a lock, WAL, immediate write transactions, FTS5 full-text indexes."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, event, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.pool import StaticPool

from bot.store.dialects.base import Dialect
from bot.store.dialects.statements import Prepared, Tx
from bot.store.schema import incident_text, runbook_text

FTS5_TABLE = "create virtual table if not exists incident_text using fts5(text, fingerprint unindexed)"
# The runbooks' full-text index: an FTS5 table beside `runbooks` (PostgreSQL indexes the table itself).
RUNBOOK_FTS5 = (
    "create virtual table if not exists runbook_text using fts5(path unindexed, title, names, body,"
    " tokenize = 'porter unicode61')"
)
BUSY_TIMEOUT = 10.0


class SQLite(Dialect):
    name = "sqlite"

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._lock = threading.RLock()
        self._raw: Any = None  # the one DB-API connection, opened on first use

    def lock(self) -> AbstractContextManager[Any]:
        return self._lock

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Tx]:
        with self._lock:
            if self._raw is None:
                self._raw = self.engine.raw_connection()
            raw = self._raw.driver_connection
            if not write:
                # outside a transaction: each statement sees the last commit, and no lock is taken
                yield Tx(raw)
                return
            raw.execute("begin immediate")  # the file's write lock, at once: check-then-write is never interleaved
            try:
                yield Tx(raw)
            except BaseException:
                raw.execute("rollback")
                raise
            raw.execute("commit")

    def compact_fulltext(self, tx: Tx) -> None:
        tx.raw.execute("insert into incident_text (incident_text) values ('optimize')")

    def forget_old_pages(self) -> None:
        with self.transaction(write=False) as tx:
            tx.raw.execute("pragma wal_checkpoint(truncate)")

    def outside_writes(self, tx: Tx) -> int | None:
        # SQLite's own counter: it moves when any other connection (another process) commits to the file.
        return int(tx.raw.execute("pragma data_version").fetchone()[0])

    def ping(self, timeout: float) -> None:
        """Raise unless the file can be written now: a write lock is taken and released at once."""
        with self.transaction(write=False) as tx:
            busy = tx.raw.execute("pragma busy_timeout").fetchone()[0]
            tx.raw.execute(f"pragma busy_timeout = {int(timeout * 1000)}")
            try:
                tx.raw.execute("begin immediate")
                tx.raw.execute("rollback")
            finally:
                tx.raw.execute(f"pragma busy_timeout = {int(busy)}")

    def close(self) -> None:
        with self._lock:
            if self._raw is not None:
                self._raw.close()
                self._raw = None
        super().close()

    def insert(self, table: Table) -> Any:
        return sqlite.insert(table)

    def create_fulltext(self, conn: Connection) -> None:
        conn.exec_driver_sql(FTS5_TABLE)
        conn.exec_driver_sql(RUNBOOK_FTS5)

    def _runbook_statements(self) -> tuple[Prepared, Prepared]:
        if self._runbook_index is None:
            self._runbook_index = (
                self.prepare(runbook_text.insert()),
                self.prepare(text("delete from runbook_text where path = :path")),
            )
        return self._runbook_index

    def index_runbook(self, tx: Tx, path: str, title: str, names: str, body: str) -> None:
        insert, remove = self._runbook_statements()
        tx.run(remove, path=path)
        tx.run(insert, path=path, title=title, names=names, body=body)

    def unindex_runbook(self, tx: Tx, path: str) -> None:
        tx.run(self._runbook_statements()[1], path=path)

    # title and front-matter names weigh four times the body
    runbook_search_sql = (
        "select path from runbook_text where runbook_text match :q order by bm25(runbook_text, 0, 4, 4, 1) limit :n"
    )

    def index_text(self, tx: Tx, fingerprint: str, body: str) -> bool:
        if self._index is None:
            self._index = self.prepare(incident_text.insert())
        tx.run(self._index, fingerprint=fingerprint, text=body)
        return True

    # best bm25 first; each term quoted, so no word is an operator
    search_sql = (
        "select fingerprint, text from incident_text where incident_text match :q order by bm25(incident_text) limit :n"
    )

    def search_query(self, terms: Sequence[str]) -> str:
        return fts5_query(terms)


def fts5_query(terms: Sequence[str]) -> str:
    """An FTS5 MATCH expression that finds any of the terms; each is quoted, so no word is an operator."""
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)


def sqlite_engine(path: str, busy_timeout: float = BUSY_TIMEOUT) -> Engine:
    # One connection, used under the store's lock by its single worker thread (or the caller's thread).
    engine = create_engine(
        f"sqlite:///{path}",
        poolclass=StaticPool,
        connect_args={"check_same_thread": False, "timeout": busy_timeout},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # transactions are begun below, not by the driver
        if path != ":memory:":
            dbapi_conn.execute("pragma journal_mode = wal")
        dbapi_conn.execute(f"pragma busy_timeout = {int(busy_timeout * 1000)}")
        dbapi_conn.execute("pragma synchronous = normal")
        # deleted rows are overwritten, not just unlinked: a purged text leaves nothing behind in the file
        dbapi_conn.execute("pragma secure_delete = on")

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # SQLAlchemy's own transactions (migrations) take the file's write lock at once.
        conn.exec_driver_sql("begin immediate")

    return engine
