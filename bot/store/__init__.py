"""Storage behind one interface: SQLite is the embedded default, PostgreSQL serves several replicas."""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.store.base import Store
from bot.store.sqlite import SQLiteStore, connect


def is_postgres_url(url: str | None) -> bool:
    return bool(url) and str(url).startswith(("postgresql://", "postgres://"))


def open_store(
    db_path: str,
    database_url: str | None = None,
    *,
    clock: Callable[[], float] = time.time,
    pool_size: int | None = None,
    timeout: float | None = None,
) -> Store:
    """PostgreSQL when `database_url` names one (TRIAGE_DATABASE_URL), else the SQLite file at `db_path`.

    `pool_size` is PostgreSQL's connection pool (TRIAGE_DATABASE_POOL); `timeout` bounds the wait for a
    connection (PostgreSQL) or a lock (SQLite), TRIAGE_DATABASE_TIMEOUT.
    """
    if database_url and is_postgres_url(database_url):
        # Imported here so the embedded default never needs the PostgreSQL driver loaded.
        from bot.store.postgres import POOL_SIZE, PostgresStore

        return PostgresStore.open(database_url, clock, size=pool_size or POOL_SIZE, timeout=timeout or 15.0)
    return SQLiteStore.open(db_path, clock, busy_timeout=timeout or 10.0)


__all__ = ["SQLiteStore", "Store", "connect", "is_postgres_url", "open_store"]
