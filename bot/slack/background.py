"""Work done after an ack: tracked for shutdown, and kept out of the way of the acks themselves."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Iterator
from typing import Any

import structlog

log = structlog.get_logger("bot.slack")


class Background:
    """Tasks started after an ack. Acks come first: new work waits while Slack requests are in flight.

    Slack wants every request acked within 3 s and re-sends what is not, so during a burst the front door
    has priority; `yield_limit` bounds the wait so that work is delayed, never starved.
    """

    def __init__(self, *, yield_limit: float = 1.0) -> None:
        self.yield_limit = yield_limit
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight = 0
        self._quiet = asyncio.Event()
        self._quiet.set()
        self._turnstile = asyncio.Lock()

    def spawn(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("slack_work_failed", task=task.get_name(), exc_info=task.exception())

    @contextlib.contextmanager
    def request(self) -> Iterator[None]:
        """Mark one Slack request in flight (from arrival until its ack is returned)."""
        self._in_flight += 1
        self._quiet.clear()
        try:
            yield
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._quiet.set()

    async def yield_to_requests(self) -> None:
        """Wait until no request is in flight (at most `yield_limit` seconds), then go through one at a time.

        Waiters pass a turnstile one per loop turn: a crowd released together would otherwise run its CPU
        work back to back while the next request waits to be read.
        """
        if self._in_flight == 0 or self.yield_limit <= 0:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.yield_limit
        async with self._turnstile:
            remaining = deadline - loop.time()
            if self._in_flight and remaining > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._quiet.wait(), remaining)
            await asyncio.sleep(0)

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait for running work; True when all of it finished within the timeout."""
        if not self._tasks:
            return True
        _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        return not pending
