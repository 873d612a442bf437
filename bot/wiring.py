"""Builds the real dependencies from Settings: store, metrics, OpenAI client, service."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

import structlog

from bot.alerts.intake import AlertIntake
from bot.alerts.spool import WebhookSpool
from bot.context.setup import build_context, build_toolbox
from bot.health import DatabaseGate, DatabaseUnavailable, GuardedStore
from bot.jobs import Jobs, RetryLater, build_scheduler
from bot.memory.judge import Judge
from bot.observability import Metrics
from bot.settings import OPENAI_DEFAULT_BASE_URL, Settings, reveal
from bot.shadow.runner import build_shadow
from bot.store import Store, open_store
from bot.store.leases import new_replica_id
from bot.triage.front import prepare_unidentified
from bot.triage.model import ModelClient
from bot.triage.prompt import load_prompt
from bot.triage.service import TriageService

if TYPE_CHECKING:
    # Loaded only when used (a model configured, Slack enabled): `triage-bot triage` starts without them.
    import openai
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.alerts.pump import CardPump
    from bot.slack.listeners import SlackBot

log = structlog.get_logger("bot.wiring")
# An alert of the usual shape that every stage reads once at start-up (nothing is recorded or learned from it).
_WARM_UP_ALERT = "[FIRING:1] KubePodCrashLooping (prod) pod=api-0 namespace=shop severity=warning: restarting 5 times"


@dataclass
class Gateway:
    settings: Settings
    store: Store
    metrics: Metrics
    service: TriageService
    openai_client: openai.AsyncOpenAI | None
    slack: SlackBot | None = None
    slack_client: AsyncWebClient | None = None
    intake: AlertIntake | None = None
    pump: CardPump | None = None
    retry: RetryLater | None = None
    jobs: Jobs | None = None
    judge: Judge | None = None
    spool: WebhookSpool | None = None
    # This process's name in the store's leases; its heartbeat tells other replicas it is alive.
    replica: str = field(default_factory=new_replica_id)
    sweeper: asyncio.Task[None] | None = None
    # Whether the database answers; every store call of the gateway goes through it.
    gate: DatabaseGate | None = None

    async def start(self) -> None:
        """Background work of a serving process: the card pump, recovery of pending alerts, the jobs."""
        await self.store.run(self.store.heartbeat, self.replica, time.time())
        # compile the rules and the readers' patterns now, not on the event loop under the first alerts' acks
        prepare_unidentified(_WARM_UP_ALERT, self.settings.max_input_chars)
        try:
            await self.service.context.library.refresh(force=True)
        except Exception:  # a broken runbook folder loses runbooks, not the gateway
            log.exception("runbooks_not_indexed")
        if self.service.tools is not None:
            self.service.tools.warm()
        if self.pump is not None:
            self.pump.start()
        if self.intake is not None:
            await self.intake.recover()
        if self.spool is not None:
            await self.spool.recover()
        if self.store.shared:
            self.sweeper = asyncio.get_running_loop().create_task(self.sweep(), name="replica-sweep")
        self.jobs = build_scheduler(
            self.store, retry=self.retry, interval=self.settings.retry_interval,
            retention_days=self.settings.retention_days,
        )
        self.jobs.start()
        # Everything built so far (modules, compiled rules and patterns, clients) lives as long as the process. A
        # full garbage collection walks every tracked object, over 100 ms here, and pauses the event loop with
        # acks in flight; frozen objects are left out of every later collection.
        gc.collect()
        gc.freeze()

    async def sweep(self) -> None:
        """Every replica on a shared database: beat, and take over the accepted alerts of dead replicas."""
        every = max(0.2, self.settings.replica_lease / 5)
        while True:
            await asyncio.sleep(every)
            try:
                await self.store.run(self.store.heartbeat, self.replica, time.time())
                if self.intake is not None:
                    await self.intake.recover()
                if self.spool is not None:
                    await self.spool.recover()
            except DatabaseUnavailable:  # said once by the gate; the heartbeat resumes when it is back
                continue
            except Exception:  # a database hiccup must not end the heartbeat for good
                log.exception("replica_sweep_failed")

    async def aclose(self, drain_timeout: float = 20.0) -> None:
        """Graceful shutdown: finish acked work and post due cards (bounded), then close clients.

        With the database down nothing more can be finished or handed over: what was accepted stays in
        the database for the next start (or another replica), and shutdown takes seconds, not timeouts.
        """
        if self.sweeper is not None:
            self.sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.sweeper
        if not self.database_up():
            drain_timeout = min(drain_timeout, 1.0)
        # Jobs stop first and are waited for: a re-triage or purge under way still needs the store.
        if self.jobs is not None and not await self.jobs.stop(drain_timeout):
            log.warning("shutdown_with_jobs_running", count=len(self.jobs.running))
        if self.slack is not None:
            await self.slack.aclose(drain_timeout)
        if self.spool is not None and not await self.spool.drain(drain_timeout):
            log.warning("shutdown_with_webhooks_in_progress")
        if self.intake is not None and not await self.intake.drain(drain_timeout):
            log.warning("shutdown_with_alerts_in_progress", count=self.intake.busy)
        if self.pump is not None:
            try:
                await self.pump.stop(drain_timeout if self.database_up() else 0.0)
            except Exception:  # the database went away while draining: the cards wait in it
                log.exception("shutdown_pump_not_drained")
        if self.service.shadow is not None:
            await self.service.shadow.aclose(drain_timeout / 2)
        if self.openai_client is not None:
            await self.openai_client.close()
        if self.service.tools is not None:
            await self.service.tools.aclose()
        if self.database_up():
            try:
                await self.service.identity.save(force=True)
            except Exception:  # templates are relearned from the stream; shutdown must still finish
                log.exception("identity_templates_not_saved")
        if self.database_up():
            try:
                # Whatever is still unfinished here is for the other replicas to take over, now.
                self.store.retire(self.replica)
            except Exception:
                log.exception("replica_not_retired")
        self.store.close()
        log.info("shutdown_complete")

    def database_up(self) -> bool:
        return self.gate is None or self.gate.available


def build_openai_client(settings: Settings) -> openai.AsyncOpenAI:
    import openai

    # tenacity owns retries: the client's own must be off or the two multiply.
    return openai.AsyncOpenAI(
        api_key=reveal(settings.openai_api_key),
        # Never None: the client would read OPENAI_BASE_URL itself, and a blank one breaks every call.
        base_url=settings.openai_base_url or OPENAI_DEFAULT_BASE_URL,
        max_retries=0,
        timeout=settings.model_timeout,
        # The client's aiohttp transport (aiohttp is a dependency already): its HTTP parser is compiled, where the
        # default transport parses every response in Python, a good share of what a model call costs here.
        http_client=openai.DefaultAioHttpClient(timeout=settings.model_timeout),
    )


def build_gateway(
    settings: Settings,
    *,
    openai_client: openai.AsyncOpenAI | None = None,
    slack_client: AsyncWebClient | None = None,
    socket_mode: bool = False,
) -> Gateway:
    raw_store = open_store(
        settings.db_path, settings.database_url, pool_size=settings.database_pool, timeout=settings.database_timeout
    )
    metrics = Metrics()
    gate = DatabaseGate(raw_store, timeout=settings.database_timeout, on_change=metrics.set_database)
    store = cast(Store, GuardedStore(raw_store, gate))
    client = openai_client
    if client is None and settings.model_enabled:
        client = build_openai_client(settings)
    model = None
    if client is not None:
        model = ModelClient(
            client,
            load_prompt(),
            timeout=settings.model_timeout,
            attempts=settings.model_attempts,
            on_retry=lambda name, kind: metrics.retries.labels(name, kind).inc(),
        )
    replica = new_replica_id()
    context = build_context(settings, store)
    tools = build_toolbox(settings, store, context) if model is not None else None
    service = TriageService(settings, store, metrics, model=model, replica=replica, context=context, tools=tools)
    if client is not None and model is not None:
        # A candidate beside the live path (TRIAGE_SHADOW_MODEL / TRIAGE_SHADOW_PROMPT); None when none is named.
        service.shadow = build_shadow(
            settings, store, client, live_prompt=model.prompt, live_circuit=lambda: service.breaker.state
        )
    gateway = Gateway(settings, store, metrics, service, client, replica=replica, gate=gate)
    gateway.judge = Judge(store)
    # Socket Mode needs no signing secret: its Bolt app is built by bot.slack.socket over the same intake.
    if settings.slack_enabled or (socket_mode and settings.slack_bot_token):
        from bot.alerts.pump import CardPump
        from bot.slack.listeners import SlackBot, build_slack_client
        from bot.slack.poster import CardPoster

        gateway.slack_client = slack_client or build_slack_client(settings)
        poster = CardPoster(gateway.slack_client, store, retry_base=settings.retry_interval)
        gateway.judge = Judge(store, poster)
        gateway.pump = CardPump(
            settings, store, poster, pace=settings.slack_post_interval, metrics=metrics, replica=replica
        )
        gateway.intake = AlertIntake(settings, service, store, on_queued=gateway.pump.wake, replica=replica)
        token, channel = reveal(settings.alertmanager_token), settings.alertmanager_channel
        if token and channel:
            gateway.spool = WebhookSpool(
                store, gateway.intake, channel=channel, secret=token, replica=replica, lease=settings.replica_lease
            )
        gateway.retry = RetryLater(service, store, poster, base_delay=settings.retry_interval)
        if not socket_mode:
            gateway.slack = SlackBot(settings, service, store, gateway.slack_client, intake=gateway.intake)
            if service.shadow is not None:
                service.shadow.yield_to_requests = gateway.slack.background.yield_to_requests
    return gateway
