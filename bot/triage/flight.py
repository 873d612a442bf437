"""Single flight across processes that share a store: one model call per identical input, cluster-wide.

Within a process, concurrent identical requests already share one task. Across replicas, the first to
claim the input's cache key in the store asks the model and writes the result to the shared cache; the
others poll that cache and serve the result as cached. A claim is a lease: if its holder dies, it
expires and a waiting replica asks instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from bot.card import TriageResult
from bot.store import Store

POLL_SECONDS = 0.05


class SharedFlight:
    def __init__(
        self,
        store: Store,
        owner: str,
        *,
        lease: float,
        replica_lease: float,
        clock: Callable[[], float] = time.time,
        poll: float = POLL_SECONDS,
    ) -> None:
        self.store = store
        self.owner = owner
        self.lease = lease
        self.replica_lease = replica_lease
        self.poll = poll
        self._clock = clock

    async def lead_or_wait(self, key: str) -> TriageResult | None:
        """None: this process holds the flight for `key` (ask, then `land`). Else another's cached result."""
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
            await asyncio.sleep(self.poll)
            landed = await self.store.run(self.store.get_cached, key)
            if landed is not None:
                return landed

    async def land(self, key: str) -> None:
        await self.store.run(self.store.end_flight, key, self.owner)
