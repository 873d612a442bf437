"""Storage behind one interface, one implementation: SQLite is the embedded default, PostgreSQL serves
several replicas (bot/store/sql.py over the tables of bot/store/schema.py)."""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.store.base import Store
from bot.store.dialects import is_postgres_url
from bot.store.sql import SQLStore


def open_store(db_path: str, database_url: str | None = None, *, clock: Callable[[], float] = time.time) -> Store:
    """PostgreSQL when `database_url` names one (TRIAGE_DATABASE_URL), else the SQLite file at `db_path`."""
    target = database_url if database_url and is_postgres_url(database_url) else db_path
    return SQLStore.open(target, clock)


__all__ = ["SQLStore", "Store", "is_postgres_url", "open_store"]
