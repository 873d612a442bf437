"""What every part of the SQL store stands on: its backend, worker threads, compiled statements, kept reads."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any, ParamSpec, TypeVar

from bot.store import dialects
from bot.store.dialects import Tx

P = ParamSpec("P")
T = TypeVar("T")
POOL_SIZE = 8


class StoreCore:
    """The backend and what the store's parts share; each part (a mixin of SQLStore) builds on it."""

    def __init__(self, dialect: dialects.Dialect, clock: Callable[[], float] = time.time) -> None:
        self.dialect = dialect
        self.engine = dialect.engine
        self.shared = dialect.shared
        self._clock = clock
        self._prepared: dict[Any, dialects.Prepared] = {}
        self._executor = ThreadPoolExecutor(max_workers=dialect.workers, thread_name_prefix="store")
        # What recalls read again and again, kept while nothing else writes to the database (SQLite, see _kept):
        # (identity, search words) -> other identities found, while the incident index stays as it was;
        # triage id -> the summary of its stored card, while this store does not write that card again.
        self._searches: dict[tuple[str, tuple[str, ...]], list[str]] = {}
        self._summaries: dict[str, str] = {}
        # identities known to be indexed already; whether there is any verdict at all (None: not known)
        self._indexed: set[str] = set()
        self._any_verdict: bool | None = None
        self._kept_version: int | None = None

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.dialect.close()

    def ping(self, timeout: float = 2.0) -> None:
        """Raise unless the database can be used now (the readiness check)."""
        self.dialect.ping(timeout)

    def _tx(self) -> AbstractContextManager[Tx]:
        """One write transaction: committed when the block ends, rolled back when it raises."""
        return self.dialect.transaction(write=True)

    def _read(self) -> AbstractContextManager[Tx]:
        """Reads only (on SQLite they take no lock)."""
        return self.dialect.transaction(write=False)

    def q(self, build: Callable[[], Any], keys: Sequence[str] = (), variant: Any = None) -> dialects.Prepared:
        """The statement `build` makes, built and compiled once per store. `build` must hold no values of the
        call (those are bind parameters); `keys` are the columns an INSERT is given; `variant` tells apart
        shapes one `build` makes (an IN list's length)."""
        key = (build.__code__, variant)
        found = self._prepared.get(key)
        if found is None:
            found = self._prepared[key] = self.dialect.prepare(build(), keys)
        return found

    def _kept(self, tx: Tx) -> bool:
        """May what recalls keep be used? Never on a shared store; on SQLite, once anything kept is dropped
        whenever another connection has committed to the file since."""
        version = self.dialect.outside_writes(tx)
        if version is None:
            return False
        if version != self._kept_version:
            self._searches.clear()
            self._summaries.clear()
            self._indexed.clear()
            self._any_verdict = None
            self._kept_version = version
        return True
