"""Keeps an Identifier in step with the store: templates loaded at first use, new ones saved in batches."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence

import structlog

from bot.identity.identifier import Identifier
from bot.store import Store

log = structlog.get_logger("bot.identity")
SAVE_INTERVAL = 2.0
SAVE_BATCH = 256
# Templates of one group read from the store when nothing here fits a message.
FETCH_LIMIT = 64
# The store keeps more templates than one process holds, so what a flood evicts here comes back from it.
STORE_FACTOR = 5


class IdentityKeeper:
    """The process's identifier plus when to load and save its templates."""

    def __init__(
        self, store: Store, identifier: Identifier | None = None, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.store = store
        self.identifier = identifier or Identifier()
        # New and generalised templates go to the store at once and a miss looks there first: replicas agree
        # on an identity as soon as one has learned it, not only at start.
        self.identifier.fetch = lambda group: store.find_templates(group, FETCH_LIMIT)
        self.identifier.publish = lambda rows: store.save_templates(rows, None)
        self._monotonic = monotonic
        self._loaded = False
        self._load_lock = asyncio.Lock()
        self._saved_at = 0.0

    @property
    def keep(self) -> int:
        return self.identifier.learner.max_templates * STORE_FACTOR

    def pin(self, template_id: str) -> None:
        """A live incident's identity stays in memory through any flood (the store keeps it too)."""
        self.identifier.pin(template_id)

    async def ready(self) -> Identifier:
        """The identifier, with the stored templates loaded (once per process)."""
        if not self._loaded:
            async with self._load_lock:
                if not self._loaded:
                    limit = self.identifier.learner.max_templates
                    rows = await self.store.run(self.store.load_templates, limit)
                    count = self.identifier.load(rows)
                    self._loaded = True
                    if count:
                        log.info("identity_templates_loaded", count=count)
        return self.identifier

    async def save(self, *, force: bool = False) -> None:
        """Write what is left unsaved and keep the store's templates bounded: every few seconds, or at once
        when `force` (shutdown). New templates were shared the moment they were learned."""
        rows = self.due(force=force)
        if rows is not None:
            try:
                await self.store.run(self.store.save_templates, rows, self.keep)
            except BaseException:
                self.put_back(rows)
                raise

    def due(self, *, force: bool = False) -> list[tuple[str, str, int, float, str]] | None:
        """The templates to write now (for `store.save_templates(rows, self.keep)`), or None when no save is
        due; taken rows count as saved. Lets a caller write them in a transaction of its own."""
        learner = self.identifier.learner
        now = self._monotonic()
        if not force and len(learner.dirty) < SAVE_BATCH and now - self._saved_at < SAVE_INTERVAL:
            return None
        self._saved_at = now
        return self.identifier.take_dirty()

    def put_back(self, rows: Sequence[tuple[str, str, int, float, str]] | None) -> None:
        """Templates taken by `due` that did not reach the store: unsaved again, and due at the next write."""
        if rows:
            self.identifier.put_back(rows)
            self._saved_at = -math.inf

    def save_now(self) -> None:
        """Synchronous final save, for code that closes the store outside an event loop."""
        rows = self.identifier.take_dirty()
        if rows:
            self.store.save_templates(rows, self.keep)
