"""Scheduled work (APScheduler): re-triage degraded cards once the model is back, expire and retain."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.alerts.incidents import MAX_RETRY_ATTEMPTS, retry_delay
from bot.card import TriageResult
from bot.store import Store
from bot.store.retention import cutoff
from bot.triage.service import TriageService

if TYPE_CHECKING:
    from bot.slack.poster import CardPoster  # the Slack client library loads only where Slack is used

log = structlog.get_logger("bot.jobs")


def differs(old: TriageResult, new: TriageResult) -> bool:
    """Is the model's card worth redrawing over the degraded one?"""
    return (old.category, old.severity, old.summary, tuple(old.steps)) != (
        new.category,
        new.severity,
        new.summary,
        tuple(new.steps),
    )


class RetryLater:
    """Asks the model again for cards that were answered in degraded mode, and redraws them in place."""

    def __init__(
        self,
        service: TriageService,
        store: Store,
        poster: CardPoster | None,
        *,
        base_delay: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.service = service
        self.store = store
        self.poster = poster
        self.base_delay = base_delay
        self._clock = clock

    async def run_once(self) -> int:
        """One pass over due re-triages; returns how many cards were redrawn by the model."""
        if self.service.model is None or self.service.breaker.state == "open":
            return 0
        updated = 0
        # Leased: a replica that takes a job is the only one running it until the lease runs out.
        lease = 2 * self.service.settings.deadline + 60.0
        for row in await self.store.run(self.store.claim_retries, self._clock(), lease):
            if self.service.breaker.state == "open":
                break
            updated += await self._retry(row)
        return updated

    async def _retry(self, row: dict[str, Any]) -> int:
        old_id = row["triage_id"]
        old = await self.store.run(self.store.get_triage, old_id)
        if old is None:
            await self.store.run(self.store.finish_retry, old_id, "missing")
            return 0
        if await self.store.run(self.store.feedback_for, old_id):
            # A person already judged this card: their word stands.
            await self.store.run(self.store.finish_retry, old_id, "human")
            return 0
        text = await self.store.run(self.store.triage_text, old_id)
        result = await self.service.triage(text or "", source="retry", engine="model")
        if result.meta.engine != "model":
            if row["attempts"] + 1 >= MAX_RETRY_ATTEMPTS:
                await self.store.run(self.store.finish_retry, old_id, "gave_up")
            else:
                next_at = self._clock() + retry_delay(row["attempts"] + 1, self.base_delay)
                await self.store.run(self.store.retry_later, old_id, next_at)
            return 0
        if not differs(old, result) or self.poster is None:
            await self.store.run(self.store.finish_retry, old_id, "same")
            return 0
        # Feedback may have arrived while the model was thinking; check again before redrawing.
        if await self.store.run(self.store.feedback_for, old_id):
            await self.store.run(self.store.finish_retry, old_id, "human")
            return 0
        post = await self.store.run(self.store.get_post, old_id) or {}
        requester = post.get("requested_by")
        await self.store.run(
            self.store.save_post, result.meta.triage_id, row["channel"], row["ts"], post.get("thread_ts"), requester
        )
        await self.store.run(self.store.replace_incident_triage, old_id, result.meta.triage_id)
        await self.poster.redraw(row["channel"], row["ts"], result.meta.triage_id, requester)
        await self.store.run(self.store.finish_retry, old_id, "updated")
        log.info("card_updated_by_model", old=old_id, new=result.meta.triage_id, channel=row["channel"])
        return 1


class Jobs:
    """The scheduled jobs of a serving process, with the tasks they are running, so shutdown can wait."""

    def __init__(self, scheduler: AsyncIOScheduler) -> None:
        self.scheduler = scheduler
        self.running: set[asyncio.Task[Any]] = set()

    def tracked(self, job: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[None]]:
        """Wrap a job so its run is known while it lasts."""

        async def run() -> None:
            task = asyncio.current_task()
            if task is not None:
                self.running.add(task)
            try:
                await job()
            finally:
                if task is not None:
                    self.running.discard(task)

        return run

    def start(self) -> None:
        self.scheduler.start()

    async def stop(self, timeout: float) -> bool:
        """No new runs; wait (bounded) for the ones under way, which may still need the store.

        The scheduler is paused, not shut down, while waiting: its shutdown cancels coroutine jobs.
        """
        if not self.scheduler.running:
            return True
        self.scheduler.pause()
        finished = True
        if self.running:
            _, pending = await asyncio.wait(set(self.running), timeout=timeout)
            finished = not pending
        self.scheduler.shutdown(wait=False)
        return finished


def build_scheduler(
    store: Store,
    *,
    retry: RetryLater | None = None,
    interval: float = 30.0,
    retention_days: float = 0.0,
    clock: Callable[[], float] = time.time,
) -> Jobs:
    jobs = Jobs(AsyncIOScheduler(timezone="UTC"))
    scheduler = jobs.scheduler
    if retry is not None:
        scheduler.add_job(jobs.tracked(retry.run_once), "interval", seconds=interval, id="retry-later",
                          coalesce=True, max_instances=1, misfire_grace_time=None)

    async def purge() -> None:
        await store.run(store.purge_expired)

    scheduler.add_job(jobs.tracked(purge), "interval", hours=1, id="cache-purge", coalesce=True, max_instances=1)

    async def retain() -> None:
        await purge_old(store, clock(), retention_days)

    if retention_days > 0:
        # First run shortly after start, then daily.
        first = datetime.now(UTC) + timedelta(minutes=1)
        scheduler.add_job(jobs.tracked(retain), "interval", days=1, id="retention", next_run_time=first,
                          coalesce=True, max_instances=1)
    return jobs


async def purge_old(store: Store, now: float, retention_days: float) -> dict[str, int]:
    """Delete what is older than the retention period and no longer needed (see bot.store.retention)."""
    before = cutoff(now, retention_days)
    if before is None:
        return {}
    counts = await store.run(store.purge_older_than, before)
    log.info("retention_purge", retention_days=retention_days, **counts)
    return counts
