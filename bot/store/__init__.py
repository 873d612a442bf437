"""Storage behind one interface, one implementation: SQLite is the embedded default, PostgreSQL serves
several replicas (bot/store/sql/ over the tables of bot/store/schema.py)."""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.store.base import Store
from bot.store.dialects import is_postgres_url
from bot.store.sql import POOL_SIZE, SQLStore


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
        return SQLStore.open(database_url, clock, size=pool_size or POOL_SIZE, timeout=timeout or 15.0)
    return SQLStore.open(db_path, clock, timeout=timeout or 10.0)


__all__ = ["SQLStore", "Store", "is_postgres_url", "open_store"]
