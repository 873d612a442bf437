"""The store, one implementation for SQLite and PostgreSQL (SQLAlchemy Core over bot/store/schema.py).

Methods are synchronous; async code runs them on the store's worker threads with `await store.run(fn, ...)`,
so database work never blocks the event loop. Each write is one transaction. On SQLite there is one worker
thread and one connection, and a write transaction takes the file's write lock at once (BEGIN IMMEDIATE), so a
check followed by a write is never interleaved. On PostgreSQL, shared by several replicas, whatever must be
decided once across them is decided by the database: unique keys with ON CONFLICT, row locks with
SKIP LOCKED, advisory locks. What differs between the two lives in bot/store/dialects/.

Statements are SQLAlchemy Core expressions with bind parameters, written where they are used and built and
compiled once per store (`q`, bot/store/sql/core.py); each call then only binds its values. `SQLStore` is the
parts of this package put together, one per concern: each part is a mixin over `StoreCore`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.store import dialects
from bot.store.migrate import upgrade
from bot.store.sql.alerts import Alerts
from bot.store.sql.claims import Claims
from bot.store.sql.context import Context
from bot.store.sql.core import POOL_SIZE, StoreCore
from bot.store.sql.incidents import Incidents
from bot.store.sql.memory import Memory
from bot.store.sql.retries import Retries
from bot.store.sql.slack import Slack
from bot.store.sql.templates import Templates
from bot.store.sql.triages import SHADOW_COLUMNS, Triages
from bot.store.sql.verdicts import Verdicts


class SQLStore(Triages, Verdicts, Memory, Slack, Templates, Alerts, Incidents, Retries, Claims, Context, StoreCore):
    """The Store protocol (bot/store/base.py) on either backend."""

    def __init__(self, dialect: dialects.Dialect, clock: Callable[[], float] = time.time) -> None:
        super().__init__(dialect, clock)
        with dialect.lock():
            upgrade(dialect)
        self.repair_verdicts()
        self.backfill_terms()

    @classmethod
    def open(
        cls, target: str, clock: Callable[[], float] = time.time, *, size: int = POOL_SIZE, timeout: float = 15.0
    ) -> SQLStore:
        """Connect to a PostgreSQL URL or a SQLite file and bring its schema up to date."""
        dialect = dialects.connect(target, size=size, timeout=timeout)
        try:
            return cls(dialect, clock)
        except BaseException:
            dialect.close()
            raise


__all__ = ["POOL_SIZE", "SHADOW_COLUMNS", "SQLStore"]
