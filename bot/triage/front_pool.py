"""The pure front stage of a batch on other processes, while this one identifies, recalls and records.

Cleaning, redacting, reading and pre-screening a text are CPU work and pure functions of the text, so a batch
of new texts can have them done by worker processes, in parallel, ahead of the lines this process is busy with.
Identity is not done there: templates are learned here, in input order. Worker processes are forked before the
event loop or any thread exists, so they start with every module already loaded and no lock held.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from bot.triage.errors import InputError
from bot.triage.front import Prepared, prepare_unidentified
from bot.triage.front_cache import FrontCache

# Worker processes at most (one per CPU, and none on a single CPU: the parent needs that one).
MAX_WORKERS = 8


def prepare_all(raws: Sequence[str], max_chars: int) -> list[Prepared | InputError]:
    """`prepare_unidentified` of each text, an unusable one giving its InputError (runs in a worker)."""
    out: list[Prepared | InputError] = []
    for raw in raws:
        try:
            out.append(prepare_unidentified(raw, max_chars))
        except InputError as exc:
            out.append(exc)
    return out


def _ready() -> None:
    """Nothing: run once per worker at start, so every worker is forked before the caller goes on."""


def cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Workers:
    executor: ProcessPoolExecutor
    count: int

    def shutdown(self) -> None:
        self.executor.shutdown(cancel_futures=True)


def start_pool(workers: int | None = None) -> Workers | None:
    """Worker processes for the front stage, forked now; None when there is no CPU to spare (or no fork)."""
    count = min(workers if workers is not None else cpus(), MAX_WORKERS)
    if count < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return None
    executor = ProcessPoolExecutor(max_workers=count, mp_context=multiprocessing.get_context("fork"))
    executor.submit(_ready).result()  # with "fork", the first task starts every worker
    return Workers(executor, count)


class FrontPool:
    """The front stage of a group of texts: repeats from this process's cache, new texts from the workers."""

    def __init__(self, pool: Workers, cache: FrontCache, max_chars: int) -> None:
        self.pool = pool
        self.cache = cache
        self.max_chars = max_chars
        self.broken = False

    async def prepare(self, raws: Sequence[str]) -> list[Prepared | InputError]:
        """The front stage of each text, in order; an unusable one gives its InputError."""
        known: dict[str, Prepared | InputError] = {}
        new: dict[str, None] = {}  # texts not seen before, each once, in order
        for raw in raws:
            if raw in known or raw in new:
                continue
            hit = self.cache.peek(raw, self.max_chars)
            if hit is None:
                new[raw] = None
            else:
                known[raw] = hit
        if new:
            for raw, prepared in zip(new, await self._work(list(new)), strict=True):
                known[raw] = prepared
                if isinstance(prepared, Prepared):
                    self.cache.keep(raw, self.max_chars, prepared)
        return [known[raw] for raw in raws]

    async def _work(self, raws: list[str]) -> list[Prepared | InputError]:
        if not self.broken:
            try:
                return await asyncio.get_running_loop().run_in_executor(
                    self.pool.executor, prepare_all, raws, self.max_chars
                )
            except BrokenProcessPool:  # a worker died (killed, out of memory): this process does the rest
                self.broken = True
        return prepare_all(raws, self.max_chars)
