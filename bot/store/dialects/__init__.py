"""Everything that differs between SQLite and PostgreSQL, in one place; the rest of the store is one code.

- connecting: SQLite gets WAL, a busy timeout and immediate write transactions on one connection (its writes
  are serialised by the file); PostgreSQL gets a connection pool shared by the store's worker threads.
- upserts: each backend's INSERT … ON CONFLICT construct (the same API in both SQLAlchemy dialects).
- `greatest(a, b)`: `max(a, b)` in SQLite.
- serialising work across processes: SQLite's BEGIN IMMEDIATE already holds the one write lock; PostgreSQL
  takes transaction-scoped advisory locks (coalescing an identity, migrating at start).
- running statements: each is compiled once per backend (`prepare`) and then run straight on the DB-API
  connection (`Tx`), so a call costs what the driver costs, not a statement build and compile.
- full-text search of incidents: an FTS5 virtual table ranked by bm25, or a tsvector column with a GIN
  index ranked by ts_rank.

What the store asks of a backend is `Dialect` (base.py); statements run through statements.py; each backend
has its module (sqlite.py, postgres.py). `connect` picks one; the names exported here are the ones the store,
its migrations and the CLI use.
"""

from __future__ import annotations

from bot.store.dialects.base import Dialect, greatest
from bot.store.dialects.postgres import RUNBOOK_GIN, Postgres, postgres_engine
from bot.store.dialects.sqlite import FTS5_TABLE, RUNBOOK_FTS5, SQLite, fts5_query, sqlite_engine
from bot.store.dialects.statements import Prepared, Tx


def is_postgres_url(url: str | None) -> bool:
    return bool(url) and str(url).startswith(("postgresql://", "postgres://", "postgresql+psycopg://"))


def connect(target: str, *, size: int = 8, timeout: float = 15.0) -> Dialect:
    """A PostgreSQL URL (TRIAGE_DATABASE_URL; `size` connections, `timeout` to get one) or the path of a SQLite
    file (`timeout`: how long a write waits for the file's lock)."""
    if is_postgres_url(target):
        return Postgres(postgres_engine(target, size, timeout))
    return SQLite(sqlite_engine(target, timeout))


__all__ = [
    "FTS5_TABLE",
    "RUNBOOK_FTS5",
    "RUNBOOK_GIN",
    "Dialect",
    "Postgres",
    "Prepared",
    "SQLite",
    "Tx",
    "connect",
    "fts5_query",
    "greatest",
    "is_postgres_url",
]
