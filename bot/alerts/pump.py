"""The card pump: posts queued incident cards and redraws their counters, paced per Slack channel."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence

import structlog
from slack_sdk.errors import SlackApiError

from bot.alerts.incidents import Incident
from bot.observability import Metrics
from bot.settings import Settings
from bot.slack.blocks import CardState, FeedbackNote
from bot.slack.feedback import notes_from_rows
from bot.slack.poster import CardPoster, slack_error
from bot.store import Store
from bot.store.leases import POST_LEASE, new_replica_id, stale_before

log = structlog.get_logger("bot.alerts.pump")
IDLE_WAIT = 0.5


class CardPump:
    """One loop for every channel: at most one Slack write per channel per `pace` seconds.

    Writes are claimed from the store, which paces each channel for every replica at once and leases
    each card to the replica posting it; a dead replica's cards are taken over once its heartbeat is stale.
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        poster: CardPoster,
        *,
        pace: float = 1.0,
        clock: Callable[[], float] = time.time,
        metrics: Metrics | None = None,
        replica: str | None = None,
    ) -> None:
        self.metrics = metrics
        self.settings = settings
        self.store = store
        self.poster = poster
        self.pace = pace
        self._clock = clock
        self.replica = replica or new_replica_id()
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="card-pump")

    async def stop(self, drain_timeout: float = 10.0) -> None:
        """Post what is due (bounded by `drain_timeout`), then stop; the rest waits in the store."""
        deadline = time.monotonic() + drain_timeout
        while time.monotonic() < deadline:
            waiting = await self.store.run(self.store.due_posts, self._clock() + 3600, 1)
            if not waiting:
                break
            await asyncio.sleep(0.05)
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while not self._stopping:
            try:
                wait = await self.step()
            except Exception:  # one bad card must not stop every other card from being posted
                log.exception("pump_step_failed")
                wait = IDLE_WAIT
            if wait > 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def step(self) -> float:
        """Do one Slack write on each channel that is free; return how long to wait before the next step."""
        now = self._clock()
        writes, wait = await self.store.run(
            self.store.claim_writes, self.replica, now, pace=self.pace, interval=self.settings.counter_interval,
            lease=POST_LEASE, stale_before=stale_before(self.store.shared, now, self.settings.replica_lease),
        )
        if writes:
            await asyncio.gather(*(self._do(kind, incident) for kind, incident in writes))
            return 0.0
        return IDLE_WAIT if wait is None else min(IDLE_WAIT, max(wait, 0.005))

    async def _do(self, kind: str, incident: Incident) -> None:
        outcome = "error"
        try:
            if kind == "post":
                outcome = "ok" if await self.post(incident) else "postponed"
            else:
                outcome = "ok" if await self.redraw(incident) else "failed"
        finally:
            if self.metrics is not None:
                self.metrics.slack_writes.labels(kind, outcome).inc()
            # Spacing counts from when the write finished: a slow call never lets the next one crowd it.
            await self.store.run(self.store.free_channel, incident.channel, self.replica, self._clock() + self.pace)

    async def post(self, incident: Incident) -> bool:
        """Post an incident's card; False when it has to wait (Slack refused it for now)."""
        assert incident.triage_id is not None
        result = await self.store.run(self.store.get_triage, incident.triage_id)
        if result is None:
            log.error("incident_without_triage", incident=incident.id)
            return False
        if incident.post_state == "sending":
            # A previous run may have died right after Slack took the card: look before posting again.
            found = await self.poster.find(incident.channel, incident.thread_ts, incident.id, incident.first_seen - 1)
            if found is not None:
                await self.store.run(self.store.save_post, result.meta.triage_id, incident.channel, found,
                                     incident.thread_ts)
                await self.store.run(self.store.mark_posted, incident.id, found, self._clock())
                log.info("card_post_recovered", incident=incident.id, ts=found)
                return True
        # claim_writes marked the card 'sending' already: from here a crash is recovered by looking first.
        try:
            ts = await self.poster.post(
                incident.channel, result, thread_ts=incident.thread_ts, state=self.state(incident), key=incident.id
            )
        except SlackApiError as exc:
            # Rate limits were already waited out by the client's retry handler; try again later.
            attempts = 1 + await self.store.run(self.store.post_attempts, incident.id)
            delay = min(300.0, 2.0**attempts)
            log.warning("card_post_postponed", incident=incident.id, error=slack_error(exc), retry_in=delay)
            await self.store.run(self.store.postpone_post, incident.id, self._clock() + delay)
            return False
        await self.store.run(self.store.mark_posted, incident.id, ts, self._clock())
        return True

    async def redraw(self, incident: Incident) -> bool:
        assert incident.triage_id is not None and incident.card_ts is not None
        result = await self.store.run(self.store.get_triage, incident.triage_id)
        if result is None:
            return False
        rows = await self.store.run(self.store.feedback_for, incident.triage_id)
        state = self.state(incident, notes_from_rows(rows), updated_by_model=result.meta.source == "retry")
        updated = await self.poster.update(incident.channel, incident.card_ts, result, state)
        await self.store.run(self.store.mark_shown, incident.id, incident.count, incident.resolved, self._clock())
        return updated

    @staticmethod
    def state(
        incident: Incident, feedback: Sequence[FeedbackNote] = (), updated_by_model: bool = False
    ) -> CardState:
        return CardState(
            feedback=feedback,
            seen_count=incident.count,
            last_seen=incident.last_seen,
            resolved=incident.resolved,
            resolved_at=incident.last_seen if incident.resolved else None,
            updated_by_model=updated_by_model,
            places=incident.places,
        )
