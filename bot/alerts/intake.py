"""Alert intake: record every alert first, coalesce repeats into one incident, triage each incident once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

import structlog

from bot.alerts.incidents import Incident
from bot.health import DatabaseUnavailable
from bot.identity import Identifier, Identity
from bot.identity.places import places
from bot.settings import Settings
from bot.store import Store
from bot.store.leases import new_replica_id, stale_before
from bot.triage.errors import InputError
from bot.triage.front import Redacted, redacted_text
from bot.triage.service import TriageService

log = structlog.get_logger("bot.alerts.intake")
# Seconds between attempts to card an accepted alert while the database is down.
DATABASE_RETRY_SECONDS = 2.0


def _prepare(
    text: str, max_chars: int, identity: Identity | None, identifier: Identifier | None
) -> tuple[Redacted, Identity]:
    """Cleaned, redacted text and its identity; redaction comes before the text is cut to size. The triage of
    the alert's incident starts from these, not from the text again."""
    clean = redacted_text(text, max_chars)
    if identity is None:
        assert identifier is not None
        identity = identifier.identify(clean.text)
    return clean, identity


class AlertIntake:
    """Accepts alerts for a channel; the card pump posts and updates the cards it queues."""

    def __init__(
        self,
        settings: Settings,
        service: TriageService,
        store: Store,
        *,
        clock: Callable[[], float] = time.time,
        on_queued: Callable[[], None] | None = None,
        replica: str | None = None,
    ) -> None:
        self.settings = settings
        self.service = service
        self.store = store
        self._clock = clock
        self._on_queued = on_queued
        # Alerts this process accepts are recorded as its own: if it dies, another replica finishes them.
        self.replica = replica or new_replica_id()
        self._tasks: set[asyncio.Task[None]] = set()

    async def accept(
        self,
        *,
        source: str,
        channel: str,
        ts: str | None,
        text: str,
        claims: tuple[str, ...] = (),
        identity: Identity | None = None,
        sender: str | None = None,
    ) -> int | None:
        """Record the alert (redacted) and start its processing.

        `identity` comes with structured alerts (Alertmanager labels); other alerts are identified by their
        text. None when there is nothing to triage, or when one of `claims` was taken already (a re-delivery).
        `sender` is the integration that sent it (a Slack bot or app, Alertmanager; None for a person): a
        resolved notice closes only an incident the same sender opened.
        """
        identifier = None if identity is not None else await self.service.identity.ready()
        # Cleaning, redaction and identity are CPU work: off the event loop, so acks and health checks
        # are answered while a big payload is split into alerts.
        try:
            redacted, known = await asyncio.to_thread(
                _prepare, text, self.settings.max_input_chars, identity, identifier
            )
        except InputError as exc:
            log.info("alert_ignored", source=source, channel=channel, reason=str(exc))
            return None
        clean, identity = redacted.text, known
        where = identity.places or places(clean)
        # Recorded and coalesced in one transaction: one trip to the store per alert, even in a storm.
        taken = await self.store.run(
            self.store.take_alert, source, channel, ts, clean, self._clock(), claims,
            identity.incident_key, identity.resolved, self.settings.coalesce_window, where,
            self.replica, sender,
        )
        if taken is None:
            log.info("alert_redelivery_dropped", source=source, channel=channel, ts=ts)
            return None
        alert_id, incident, owner = taken
        if owner:
            self.service.identity.pin(identity.incident_key)
        self._settle(alert_id, incident, owner, source, clean, redacted)
        return alert_id

    async def recover(self) -> int:
        """Finish every alert accepted but not turned into a card by a process that is gone.

        Run at start (after a restart) and then periodically on every replica sharing a database, so a
        dead replica's acked alerts are taken over (each by one replica) once its heartbeat goes stale.
        """
        now = self._clock()
        pending = await self.store.run(
            self.store.take_over_alerts, self.replica, stale_before(self.store.shared, now, self.settings.replica_lease)
        )
        identifier = await self.service.identity.ready()
        for row in pending:
            # The key stored with the alert keeps a structured identity (Alertmanager labels) across restarts.
            identity = identifier.identify(row["text"])
            incident, owner = await self.store.run(
                self.store.coalesce, row["id"], row.get("fingerprint") or identity.incident_key, row["channel"],
                row["ts"], identity.resolved, self._clock(), self.settings.coalesce_window, places(row["text"]),
            )
            self._settle(row["id"], incident, owner, row["source"], row["text"])
        if pending:
            log.info("alerts_recovered", count=len(pending))
        return len(pending)

    def _settle(
        self, alert_id: int, incident: Incident | None, owner: bool, source: str, text: str,
        redacted: Redacted | None = None,
    ) -> None:
        """The opening alert of an incident gets triaged; repeats only move the card's counter."""
        outcome = "opened" if owner else "repeat" if incident is not None else "resolved_unknown"
        self.service.metrics.alerts.labels(outcome).inc()
        if incident is not None and owner:
            self._spawn(self.open_incident(alert_id, incident, source, text, redacted))
        elif self._on_queued is not None:
            self._on_queued()

    async def open_incident(
        self, alert_id: int, incident: Incident, source: str, text: str, redacted: Redacted | None = None
    ) -> None:
        """Triage the incident's opening alert: from its cleaned, redacted form when this process made it (no
        stage runs twice), else (an alert taken over from the store) from its recorded text."""
        while True:
            try:
                # The card's fingerprint is the one the incident coalesces by, whatever the text would give.
                if redacted is not None:
                    result = await self.service.triage_redacted(
                        redacted, fingerprint=incident.fingerprint, source=source, must_record=True
                    )
                else:
                    result = await self.service.triage(
                        text, source=source, fingerprint=incident.fingerprint, must_record=True
                    )
                await self.store.run(self.store.set_incident_card, incident.id, result.meta.triage_id, alert_id)
                break
            except DatabaseUnavailable as exc:
                # The alert itself is in the database already: its card is made once the database is back.
                log.warning("incident_waits_for_database", incident=incident.id, reason=exc.reason)
                await asyncio.sleep(DATABASE_RETRY_SECONDS)
        log.info("incident_opened", incident=incident.id, fingerprint=incident.fingerprint,
                 triage_id=result.meta.triage_id, channel=incident.channel)
        if self._on_queued is not None:
            self._on_queued()

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait for alerts being processed (graceful shutdown); True when all finished."""
        if not self._tasks:
            return True
        _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        return not pending

    @property
    def busy(self) -> int:
        return len(self._tasks)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # The alert stays 'accepted' in the store and is retried on the next start.
            log.error("alert_processing_failed", exc_info=task.exception())
