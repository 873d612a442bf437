"""The service's hot copy of recent idempotency-cache entries: a hit costs no trip to the store."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from bot.card import TriageResult
from bot.store import Store

MEMO_SIZE = 4096


class Memo:
    """LRU of (expiry, card) by cache key. `complete` is True while it holds every live store entry, so
    that for a store only this process writes, a miss here is a miss in the store too."""

    def __init__(self, ttl: float, clock: Callable[[], float], size: int = MEMO_SIZE) -> None:
        self.ttl = ttl
        self.size = size
        self.complete: bool | None = None
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, TriageResult]] = OrderedDict()

    def get(self, key: str) -> TriageResult | None:
        hit = self._entries.get(key)
        if hit is None:
            return None
        if hit[0] <= self._clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return hit[1]

    def put(self, key: str, result: TriageResult) -> None:
        if self.ttl <= 0:
            return
        self._entries[key] = (self._clock() + self.ttl, result)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
            self.complete = False

    async def load(self, store: Store) -> None:
        entries = await store.run(store.live_cache, self.size + 1)
        for key, expires_at, result in entries[: self.size]:
            self._entries[key] = (expires_at, result)
        # Another replica writes a shared store too: its memo is never the whole story.
        self.complete = len(entries) <= self.size and not store.shared
