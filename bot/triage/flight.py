"""Single flight across processes that share a store: one model call per identical input, cluster-wide.

Within a process, concurrent identical requests already share one task. Across replicas, the one whose claim
on the input's cache key the database accepts asks the model and writes the result to the shared cache; the
others poll that cache and serve the result as cached. A claim is a lease: if its holder dies, it expires (or
its replica's heartbeat goes stale) and a waiting replica asks instead. A waiter waits no longer than its own
request's deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from bot.card import TriageResult
from bot.store import Store

POLL_SECONDS = 0.05


class FlightWaitExpired(TimeoutError):
    """Another replica still holds the flight and nothing landed before the waiter's deadline."""


class SharedFlight:
    def __init__(
        self,
        store: Store,
        owner: str,
        *,
        lease: float,
        replica_lease: float,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        poll: float = POLL_SECONDS,
    ) -> None:
        self.store = store
        self.owner = owner
        self.lease = lease
        self.replica_lease = replica_lease
        self.poll = poll
        self._clock = clock
        self._monotonic = monotonic

    async def lead_or_wait(self, key: str, until: float | None = None) -> TriageResult | None:
        """None: this process holds the flight for `key` (ask, then `land`). Else another's cached result.

        Raises FlightWaitExpired when the monotonic time `until` comes while another replica still holds it.
        """
        while True:
            now = self._clock()
            # A holder whose replica stopped beating died asking: its flight is ours without waiting it out.
            stale = now - self.replica_lease
            if await self.store.run(self.store.claim_flight, key, self.owner, now, self.lease, stale):
                # The previous holder may have landed between our cache look and our claim.
                landed = await self.store.run(self.store.get_cached, key)
                if landed is None:
                    return None
                await self.land(key)
                return landed
            if until is not None and self._monotonic() >= until:
                raise FlightWaitExpired(f"another replica is still asking the model for {key}")
            await asyncio.sleep(self.poll if until is None else max(min(self.poll, until - self._monotonic()), 0.0))
            landed = await self.store.run(self.store.get_cached, key)
            if landed is not None:
                return landed

    async def land(self, key: str) -> None:
        await self.store.run(self.store.end_flight, key, self.owner)
