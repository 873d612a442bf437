"""Failure policy for the model: which errors to retry, how long to wait, and the circuit breaker."""

from __future__ import annotations

import asyncio
import email.utils
import random
import threading
import time
from collections.abc import Callable
from typing import Literal

# `openai` is imported inside the functions that need it: a process without a model never loads the client
# library (a good part of a second of start-up).
RETRYABLE_STATUS = frozenset({408, 409, 429})
MAX_RETRY_AFTER = 60.0

CircuitState = Literal["closed", "open", "half_open"]


class BadResponse(Exception):
    """The server answered 2xx with a body that is not a chat completion (often a proxy's error page)."""


def is_retryable(exc: BaseException) -> bool:
    """Timeouts, connection errors, 408/409/429 and 5xx are worth another try; 4xx are not."""
    import openai

    if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError, TimeoutError, BadResponse)):
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in RETRYABLE_STATUS or exc.status_code >= 500
    return False


def error_kind(exc: BaseException) -> str:
    """A short stable label for metrics, logs and the degraded reason."""
    import openai

    if isinstance(exc, openai.APITimeoutError) and _never_connected(exc):
        return "connection_error"
    if isinstance(exc, (openai.APITimeoutError, TimeoutError)):
        return "timeout"
    if isinstance(exc, openai.APIConnectionError):
        return "connection_error"
    if isinstance(exc, BadResponse):
        return "bad_response"
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code == 429:
            return "rate_limited"
        if exc.status_code in (401, 403):
            return "auth_error"
        if exc.status_code >= 500:
            return "server_error"
        return f"http_{exc.status_code}"
    return type(exc).__name__


def _never_connected(exc: BaseException) -> bool:
    """A timeout the HTTP transport reported for a connection that was refused or dropped, not one that took
    too long (the aiohttp transport reports every failed connection as a connect timeout)."""
    import aiohttp

    cause = exc.__cause__
    while cause is not None:
        if isinstance(cause, TimeoutError):
            return False
        if isinstance(cause, aiohttp.ClientConnectionError):
            return True
        cause = cause.__cause__
    return False


def retry_after(exc: BaseException, now: float | None = None) -> float | None:
    """Seconds the server asked us to wait (Retry-After / retry-after-ms), if it said."""
    import openai

    if not isinstance(exc, openai.APIStatusError):
        return None
    headers = exc.response.headers
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return min(max(float(millis) / 1000, 0.0), MAX_RETRY_AFTER)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        if parsed is None:
            return None
        current = time.time() if now is None else now
        return min(max(parsed.timestamp() - current, 0.0), MAX_RETRY_AFTER)


def backoff(attempt: int, base: float = 0.25, cap: float = 8.0, rng: Callable[[], float] = random.random) -> float:
    """Exponential backoff with full jitter for attempt 1, 2, 3..."""
    return rng() * min(cap, base * 2 ** (attempt - 1)) + base / 2


class CircuitBreaker:
    """Opens after `failures` consecutive model failures; lets one probe through after `cooldown`."""

    def __init__(self, failures: int, cooldown: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._threshold = failures
        self._cooldown = cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._consecutive = 0
        self._opened_at: float | None = None
        self._probing = False
        self._probe_started = 0.0
        self.on_change: Callable[[CircuitState], None] | None = None

    @property
    def state(self) -> CircuitState:
        with self._lock:
            return self._state()

    def _state(self) -> CircuitState:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self._cooldown:
            return "half_open"
        return "open"

    def allow(self) -> bool:
        """May a call go to the model now? In half-open only one probe at a time."""
        return self.enter() is not None

    def enter(self) -> Literal["call", "probe"] | None:
        """Admit a call: "call" while closed, "probe" for the one trial call of half-open, None to skip.

        A probe that never reported back (its task was lost) stops counting after another cooldown.
        """
        with self._lock:
            state = self._state()
            if state == "closed":
                return "call"
            stale = self._probing and self._clock() - self._probe_started >= self._cooldown
            if state == "half_open" and (not self._probing or stale):
                self._probing = True
                self._probe_started = self._clock()
                return "probe"
            return None

    def settle(self, admitted: Literal["call", "probe"] | None) -> None:
        """Called when an admitted model phase ends, however it ends: a probe nobody judged is a failure.

        Without this, a probe that raised something other than a model error (a RecursionError while
        parsing a deeply nested answer, a cancellation) would leave the circuit half-open for good.
        """
        if admitted != "probe":
            return
        with self._lock:
            unjudged = self._probing
        if unjudged:
            self.record_failure()

    def record_success(self) -> None:
        with self._lock:
            changed = self._opened_at is not None
            self._consecutive = 0
            self._opened_at = None
            self._probing = False
        if changed:
            self._notify()

    def record_failure(self) -> None:
        with self._lock:
            self._consecutive += 1
            was_open = self._opened_at is not None
            reopen = self._probing or self._consecutive >= self._threshold
            self._probing = False
            if reopen:
                self._opened_at = self._clock()
        if reopen and not was_open:
            self._notify()

    def _notify(self) -> None:
        if self.on_change is not None:
            self.on_change(self.state)


class LoopSemaphore:
    """An asyncio.Semaphore per event loop: the service outlives loops in the CLI and in tests."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._by_loop: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}

    def get(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        semaphore = self._by_loop.get(loop)
        if semaphore is None:
            # Loops that have closed are forgotten, so this never grows.
            self._by_loop = {known: sem for known, sem in self._by_loop.items() if not known.is_closed()}
            semaphore = self._by_loop[loop] = asyncio.Semaphore(self.size)
        return semaphore
