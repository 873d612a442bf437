"""Database availability as the gateway sees it: fail fast while the database is down, notice when it is back.

Every store call of a serving process goes through one DatabaseGate. A call that finds the database
unreachable (no connection within TRIAGE_DATABASE_TIMEOUT, a dropped connection, a locked or read-only
SQLite file) marks it down; while it is down, calls fail at once with DatabaseUnavailable instead of each
waiting out the timeout, and one call a second is let through as a probe. The first probe that succeeds
(or a successful /readyz check) marks it up again, so the gateway recovers by itself.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import structlog

from bot.store import Store

P = ParamSpec("P")
T = TypeVar("T")

# Seconds between probes while the database is down; also what Retry-After tells clients.
PROBE_SECONDS = 1.0
RETRY_AFTER_SECONDS = 5
# SQLite says a file cannot be used now with an OperationalError of one of these kinds; other
# OperationalErrors (a missing table, bad SQL) are bugs, not an outage.
_SQLITE_OUTAGE = ("locked", "busy", "readonly", "read-only", "unable to open", "disk i/o", "disk is full")

# Maintenance that may rightly take long on a big database (the daily purges): not bounded by the gate's
# deadline, so a slow purge is never taken for an outage. Lock and connection waits still bound them.
UNBOUNDED = frozenset({"purge_expired", "purge_older_than"})

# What a person in Slack is told when their /triage, shortcut or modal could not be kept.
DATABASE_DOWN_NOTICE = "the triage database is unavailable right now, so no card could be kept. Try again in a minute."

log = structlog.get_logger("bot.health")


class DatabaseUnavailable(Exception):
    """The database cannot be used now; the caller should answer so that its sender retries."""

    def __init__(self, reason: str, retry_after: int = RETRY_AFTER_SECONDS) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def postgres_errors(*names: str) -> tuple[type[Exception], ...]:
    """psycopg's exception classes of these names; none in a process that never loaded psycopg (which then
    cannot have raised them), so a SQLite-only process starts without loading the PostgreSQL driver."""
    psycopg = sys.modules.get("psycopg")
    return tuple(getattr(psycopg, name) for name in names) if psycopg is not None else ()


def is_outage(exc: BaseException) -> bool:
    """Whether an exception from the store means the database is unreachable (rather than a bug)."""
    if isinstance(exc, DatabaseUnavailable | TimeoutError):
        return True
    if isinstance(exc, postgres_errors("OperationalError", "InterfaceError")):
        return True
    if isinstance(exc, sqlite3.OperationalError):
        message = str(exc).lower()
        return any(word in message for word in _SQLITE_OUTAGE)
    return False


def describe(exc: BaseException) -> str:
    """A one-line reason for logs and error bodies (no connection string: it may hold a password)."""
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    text = " ".join(str(exc).split())[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass
class GateState:
    down_since: float | None = None
    reason: str | None = None
    next_probe: float = 0.0
    probing: bool = False


class DatabaseGate:
    """Tracks whether the database answers; see the module docstring."""

    def __init__(
        self,
        store: Store,
        *,
        timeout: float,
        probe_every: float = PROBE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        self.store = store
        self.timeout = timeout
        self.probe_every = probe_every
        self._monotonic = monotonic
        self.state = GateState()
        self.on_change = on_change

    @property
    def available(self) -> bool:
        return self.state.down_since is None

    @property
    def reason(self) -> str | None:
        return self.state.reason

    def mark_down(self, reason: str) -> None:
        if self.state.down_since is None:
            log.error("database_unavailable", reason=reason)
            self.state.down_since = self._monotonic()
            if self.on_change is not None:
                self.on_change(False)
        self.state.reason = reason
        self.state.next_probe = self._monotonic() + self.probe_every

    def mark_up(self) -> None:
        if self.state.down_since is not None:
            log.info("database_available", down_seconds=round(self._monotonic() - self.state.down_since, 3))
            self.state = GateState()
            if self.on_change is not None:
                self.on_change(True)

    def unavailable(self) -> DatabaseUnavailable:
        return DatabaseUnavailable(f"database unavailable ({self.state.reason or 'unknown'})")

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a store method on the store's workers, failing fast while the database is down."""
        probe = False
        if self.state.down_since is not None:
            if self.state.probing or self._monotonic() < self.state.next_probe:
                raise self.unavailable()
            probe = self.state.probing = True
        gate = self

        def guarded() -> T:
            # Queued behind a call that found the database down: give up without another wait.
            if not probe and gate.state.down_since is not None:
                raise gate.unavailable()
            return fn(*args, **kwargs)

        try:
            # The store's own timeouts (pool wait, busy timeout) normally answer first; this bounds the rest.
            deadline = None if getattr(fn, "__name__", "") in UNBOUNDED else self.timeout + 2.0
            async with asyncio.timeout(deadline):  # no task of its own per call, unlike wait_for
                result = await self.store.run(guarded)
        except DatabaseUnavailable:
            raise
        except BaseException as exc:
            if is_outage(exc):
                self.mark_down(describe(exc))
                raise self.unavailable() from exc
            if probe:  # the database answered, even if this call had a bug of its own
                self.mark_up()
            raise
        finally:
            if probe:
                self.state.probing = False
        self.mark_up()
        return result

    async def check(self) -> str | None:
        """Readiness: None when the database answers now, else why not (and the gate learns either way)."""
        try:
            await asyncio.wait_for(self.store.run(self.store.ping, self.timeout), self.timeout + 1.0)
        except Exception as exc:
            reason = describe(exc)
            self.mark_down(reason)
            return reason
        self.mark_up()
        return None


class GuardedStore:
    """The store with every `run` going through a DatabaseGate; everything else is the store's own."""

    def __init__(self, store: Store, gate: DatabaseGate) -> None:
        self.inner = store
        self.gate = gate
        self.shared = store.shared

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await self.gate.call(fn, *args, **kwargs)

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
