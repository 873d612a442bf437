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
from bot.slack.card_state import CardState, FeedbackNote, card_state
from bot.slack.poster import CardPoster, slack_error
from bot.store import Store
from bot.store.leases import POST_LEASE, new_replica_id, stale_before

log = structlog.get_logger("bot.alerts.pump")
IDLE_WAIT = 0.5


class CardPump:
    """At most one Slack write per channel per `pace` seconds, each channel's writes independent of the others.

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
        self._writes: set[asyncio.Task[None]] = set()
        self._channel_locks: dict[str, asyncio.Lock] = {}
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
        if self._writes:
            # Writes under way finish (bounded); one cut short is found by its metadata on the next start.
            await asyncio.wait(set(self._writes), timeout=max(deadline - time.monotonic(), 1.0))

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
        """Start one Slack write on each channel that is free; return how long to wait before the next step.

        Each write runs on its own: a slow channel (a long 429, a hanging call) never holds up the others,
        and its channel stays reserved in the store until the write ends.
        """
        now = self._clock()
        writes, wait = await self.store.run(
            self.store.claim_writes, self.replica, now, pace=self.pace, interval=self.settings.counter_interval,
            lease=POST_LEASE, stale_before=stale_before(self.store.shared, now, self.settings.replica_lease),
        )
        for kind, incident in writes:
            task = asyncio.get_running_loop().create_task(self._do(kind, incident), name=f"card-{incident.id}")
            self._writes.add(task)
            task.add_done_callback(self._write_done)
        if writes:
            return 0.0
        return IDLE_WAIT if wait is None else min(IDLE_WAIT, max(wait, 0.005))

    def _write_done(self, task: asyncio.Task[None]) -> None:
        self._writes.discard(task)
        self._wake.set()

    async def _do(self, kind: str, incident: Incident) -> None:
        outcome = "error"
        try:
            async with self._channel_lock(incident.channel):
                if kind == "post":
                    outcome = "ok" if await self.post(incident) else "postponed"
                else:
                    outcome = "ok" if await self.redraw(incident) else "failed"
        except Exception:  # whatever went wrong, the card is retried later; other cards go on
            log.exception("card_write_failed", incident=incident.id, kind=kind)
            if kind == "post":
                with contextlib.suppress(Exception):
                    await self._postpone(incident, maybe_sent=True, reason="error")
        finally:
            if self.metrics is not None:
                self.metrics.slack_writes.labels(kind, outcome).inc()
            # Spacing counts from when the write finished: a slow call never lets the next one crowd it.
            with contextlib.suppress(Exception):
                await self.store.run(
                    self.store.free_channel, incident.channel, self.replica, self._clock() + self.pace
                )

    def _channel_lock(self, channel: str) -> asyncio.Lock:
        # A write that outlives its pacing slot must not overlap the channel's next one.
        lock = self._channel_locks.get(channel)
        if lock is None:
            lock = self._channel_locks[channel] = asyncio.Lock()
        return lock

    async def _postpone(self, incident: Incident, *, maybe_sent: bool, reason: str) -> float:
        """Try the card again later, with exponential backoff.

        `maybe_sent`: the call may have reached Slack (the connection dropped mid-call), so the card stays
        'sending' and the next attempt looks for it in the channel before posting, never posting it twice.
        """
        attempts = 1 + await self.store.run(self.store.post_attempts, incident.id)
        delay = min(300.0, 2.0**attempts)
        log.warning("card_post_postponed", incident=incident.id, reason=reason, retry_in=delay)
        if maybe_sent:
            await self.store.run(self.store.postpone_sending, incident.id, self._clock() + delay)
        else:
            await self.store.run(self.store.postpone_post, incident.id, self._clock() + delay)
        return delay

    async def post(self, incident: Incident) -> bool:
        """Post an incident's card; False when it has to wait (Slack refused it, or the call failed)."""
        assert incident.triage_id is not None
        result = await self.store.run(self.store.get_triage, incident.triage_id)
        if result is None:
            # Never the head of its channel forever: it waits, with backoff, and the cards behind it go.
            log.error("incident_without_triage", incident=incident.id)
            await self._postpone(incident, maybe_sent=False, reason="triage_missing")
            return False
        if incident.post_state == "sending":
            # A previous attempt may have reached Slack (a crash, a dropped connection): look first.
            try:
                found = await self.poster.find(
                    incident.channel, incident.thread_ts, incident.id, incident.first_seen - 1
                )
            except SlackApiError as exc:
                await self._postpone(incident, maybe_sent=True, reason=slack_error(exc))
                return False
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
            # Slack answered, so it did not take the card. Rate limits were already waited out by the
            # client's retry handler; try again later.
            await self._postpone(incident, maybe_sent=False, reason=slack_error(exc))
            return False
        except Exception as exc:  # no answer (connection dropped, timeout): the card may be in the channel
            await self._postpone(incident, maybe_sent=True, reason=type(exc).__name__)
            return False
        await self.store.run(self.store.mark_posted, incident.id, ts, self._clock())
        return True

    async def redraw(self, incident: Incident) -> bool:
        assert incident.triage_id is not None and incident.card_ts is not None
        updated = await self.poster.redraw(incident.channel, incident.card_ts, incident.triage_id)
        await self.store.run(self.store.mark_shown, incident.id, incident.count, incident.resolved, self._clock())
        return updated

    @staticmethod
    def state(
        incident: Incident, feedback: Sequence[FeedbackNote] = (), updated_by_model: bool = False
    ) -> CardState:
        return card_state(incident, feedback, updated_by_model=updated_by_model)
