"""Everything that differs between SQLite and PostgreSQL, in one place; the rest of the store is one code.

- connecting: SQLite gets WAL, a busy timeout and immediate write transactions on one connection (its writes
  are serialised by the file); PostgreSQL gets a connection pool shared by the store's worker threads.
- upserts: each backend's INSERT … ON CONFLICT construct (the same API in both SQLAlchemy dialects).
- `greatest(a, b)`: `max(a, b)` in SQLite.
- serialising work across processes: SQLite's BEGIN IMMEDIATE already holds the one write lock; PostgreSQL
  takes transaction-scoped advisory locks (coalescing an identity, migrating at start).
- full-text search of incidents: an FTS5 virtual table ranked by bm25, or a tsvector column with a GIN
  index ranked by ts_rank.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import GenericFunction

from bot.store.schema import incident_text

FTS5_TABLE = "create virtual table if not exists incident_text using fts5(text, fingerprint unindexed)"
# Any fixed number works: it only has to be the same in every replica of this application.
MIGRATION_LOCK = 0x7472_6961_6765  # "triage"
BUSY_TIMEOUT = 10.0


class greatest(GenericFunction[Any]):
    """The larger of its arguments (PostgreSQL `greatest`, SQLite's two-argument `max`)."""

    name = "greatest"
    inherit_cache = True


@compiles(greatest, "sqlite")
def _greatest_sqlite(element: greatest, compiler: SQLCompiler, **kw: Any) -> str:
    return f"max({compiler.process(element.clauses, **kw)})"


def is_postgres_url(url: str | None) -> bool:
    return bool(url) and str(url).startswith(("postgresql://", "postgres://", "postgresql+psycopg://"))


class Dialect:
    """What the store asks of its backend beyond portable SQL."""

    name = ""
    # True when other processes write to the same database (see Store.shared).
    shared = False
    workers = 1

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def lock(self) -> AbstractContextManager[Any]:
        """Held around every use of a connection in this process."""
        return nullcontext()

    def insert(self, table: Table) -> Any:
        """INSERT with .on_conflict_do_update / .on_conflict_do_nothing."""
        raise NotImplementedError

    def serialise(self, conn: Connection, key: str) -> None:
        """Within the transaction, one process at a time past this point for `key`."""

    def migration_lock(self, conn: Connection) -> None:
        """Within the migration's transaction: replicas starting together migrate one after another."""

    def create_fulltext(self, conn: Connection) -> None:
        raise NotImplementedError

    def index_text(self, conn: Connection, fingerprint: str, body: str) -> bool:
        """Index an identity's text; False when it already was."""
        raise NotImplementedError

    # (fingerprint, text) of indexed incidents holding any of the terms (:q, see search_query), best first
    search_sql = ""

    def search_query(self, terms: Sequence[str]) -> str:
        raise NotImplementedError

    def search(self, conn: Connection, terms: Sequence[str], limit: int) -> list[tuple[str, str]]:
        rows = conn.execute(text(self.search_sql), {"q": self.search_query(terms), "n": limit}).all()
        return [(str(fp), str(body)) for fp, body in rows]


class SQLite(Dialect):
    name = "sqlite"

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._lock = threading.RLock()

    def lock(self) -> AbstractContextManager[Any]:
        return self._lock

    def insert(self, table: Table) -> Any:
        return sqlite.insert(table)

    def create_fulltext(self, conn: Connection) -> None:
        conn.exec_driver_sql(FTS5_TABLE)

    def index_text(self, conn: Connection, fingerprint: str, body: str) -> bool:
        conn.execute(incident_text.insert().values(fingerprint=fingerprint, text=body))
        return True

    # best bm25 first; each term quoted, so no word is an operator
    search_sql = (
        "select fingerprint, text from incident_text where incident_text match :q order by bm25(incident_text) limit :n"
    )

    def search_query(self, terms: Sequence[str]) -> str:
        return fts5_query(terms)


class Postgres(Dialect):
    name = "postgresql"
    shared = True

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.workers = engine.pool.size()  # type: ignore[attr-defined]

    def insert(self, table: Table) -> Any:
        return postgresql.insert(table)

    def serialise(self, conn: Connection, key: str) -> None:
        conn.execute(text("select pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": key})

    def migration_lock(self, conn: Connection) -> None:
        conn.execute(text("select pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})

    def create_fulltext(self, conn: Connection) -> None:
        conn.exec_driver_sql(
            "create table if not exists incident_text (fingerprint text primary key, text text not null,"
            " tsv tsvector generated always as (to_tsvector('simple', text)) stored)"
        )
        conn.exec_driver_sql("create index if not exists incident_text_tsv on incident_text using gin (tsv)")

    def index_text(self, conn: Connection, fingerprint: str, body: str) -> bool:
        stmt = postgresql.insert(incident_text).values(fingerprint=fingerprint, text=body)
        return conn.execute(stmt.on_conflict_do_nothing().returning(incident_text.c.fingerprint)).first() is not None

    search_sql = (
        "select fingerprint, text from incident_text, to_tsquery('simple', :q) q where tsv @@ q"
        " order by ts_rank(tsv, q) desc limit :n"
    )

    def search_query(self, terms: Sequence[str]) -> str:
        return tsquery(terms)



def fts5_query(terms: Sequence[str]) -> str:
    """An FTS5 MATCH expression that finds any of the terms; each is quoted, so no word is an operator."""
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)


def tsquery(terms: Sequence[str]) -> str:
    """A to_tsquery expression matching any term; each is quoted as a lexeme, so none is an operator."""
    return " | ".join("'" + term.replace("'", "''").replace("\\", "") + "'" for term in terms)


def connect(target: str, *, size: int = 8, timeout: float = 15.0) -> Dialect:
    """A PostgreSQL URL (TRIAGE_DATABASE_URL) or the path of a SQLite file."""
    if is_postgres_url(target):
        url = make_url(target).set(drivername="postgresql+psycopg")
        engine = create_engine(
            url,
            pool_size=size,
            max_overflow=0,
            pool_timeout=timeout,
            connect_args={"connect_timeout": max(1, int(timeout))},
        )
        return Postgres(engine)
    return SQLite(_sqlite_engine(target))


def _sqlite_engine(path: str) -> Engine:
    # One connection, used under the store's lock by its single worker thread (or the caller's thread).
    engine = create_engine(
        f"sqlite:///{path}",
        poolclass=StaticPool,
        connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # transactions are begun below, not by the driver
        if path != ":memory:":
            dbapi_conn.execute("pragma journal_mode = wal")
        dbapi_conn.execute(f"pragma busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
        dbapi_conn.execute("pragma synchronous = normal")

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A write takes the file's write lock at once, so check-then-write is never interleaved.
        conn.exec_driver_sql("begin" if conn.get_execution_options().get("read_only") else "begin immediate")

    return engine
