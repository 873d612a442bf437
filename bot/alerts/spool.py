"""Alertmanager webhooks acknowledged from a durable spool: the payload is sealed and stored at once, then split
into alerts in the background, so a notification of 20,000 alerts is answered within a second."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import time
import zlib
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

import structlog

from bot.alerts.alertmanager import PayloadError, parse_alerts
from bot.alerts.intake import AlertIntake
from bot.store import Store
from bot.store.leases import new_replica_id, stale_before

log = structlog.get_logger("bot.alerts.spool")

SENDER = "alertmanager"
_MAGIC = b"TGS1"
_NONCE = 16
_TAG = 32
# Alerts handed to the intake between two yields to the event loop (health checks, Slack acks first).
_BATCH = 50


def _key(secret: str) -> bytes:
    return hashlib.sha256(b"triage-spool\x00" + secret.encode()).digest()


def _xor(data: bytes, stream: bytes) -> bytes:
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(len(data), "big")


def seal(body: bytes, secret: str, nonce: bytes | None = None) -> bytes:
    """The raw payload as stored: compressed, enciphered and authenticated with a key from `secret`.

    Alerts may carry credentials that redaction removes only later, when the payload is split into alerts:
    sealing keeps them out of the database in the meantime (SHAKE-256 keystream, HMAC-SHA-256 tag).
    """
    nonce = nonce or os.urandom(_NONCE)
    key = _key(secret)
    packed = zlib.compress(body, 1)
    cipher = _xor(packed, hashlib.shake_256(key + nonce).digest(len(packed)))
    tag = hmac.new(key, nonce + cipher, hashlib.sha256).digest()
    return _MAGIC + nonce + tag + cipher


def unseal(blob: bytes, secret: str) -> bytes | None:
    """The payload sealed with `secret`; None when the blob is damaged or sealed with another secret."""
    if not blob.startswith(_MAGIC) or len(blob) < len(_MAGIC) + _NONCE + _TAG:
        return None
    nonce = blob[len(_MAGIC) : len(_MAGIC) + _NONCE]
    tag = blob[len(_MAGIC) + _NONCE : len(_MAGIC) + _NONCE + _TAG]
    cipher = blob[len(_MAGIC) + _NONCE + _TAG :]
    key = _key(secret)
    if not hmac.compare_digest(tag, hmac.new(key, nonce + cipher, hashlib.sha256).digest()):
        return None
    try:
        return zlib.decompress(_xor(cipher, hashlib.shake_256(key + nonce).digest(len(cipher))))
    except zlib.error:
        return None


def check_payload(raw: bytes) -> Mapping[str, Any]:
    """The webhook body parsed and checked for shape (linear, no rendering); raises PayloadError."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise PayloadError("body is not valid JSON") from None
    if not isinstance(body, Mapping) or not isinstance(body.get("alerts"), list):
        raise PayloadError('expected an Alertmanager webhook payload with an "alerts" list')
    for index, alert in enumerate(body["alerts"]):
        if not isinstance(alert, Mapping) or not isinstance(alert.get("labels") or {}, Mapping):
            raise PayloadError(f"alerts[{index}] is not an alert object")
    return body


class WebhookSpool:
    """Stores sealed payloads, processes them in the background, and finishes what a dead process left."""

    def __init__(
        self,
        store: Store,
        intake: AlertIntake,
        *,
        channel: str,
        secret: str,
        replica: str | None = None,
        lease: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.intake = intake
        self.channel = channel
        self.secret = secret
        self.replica = replica or new_replica_id()
        self.lease = lease
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()

    async def accept(self, raw: bytes) -> tuple[int, int]:
        """Check, seal and store one payload, then start processing it; returns (spool id, alert count).

        Raises PayloadError for a body that is not a webhook payload (nothing is stored then).
        """
        # Checking the payload and storing it go on at once; a payload found bad is taken out again.
        checked, stored = await asyncio.gather(
            asyncio.to_thread(check_payload, raw), self._store(raw), return_exceptions=True
        )
        if isinstance(stored, BaseException):
            raise stored
        if isinstance(checked, BaseException):
            await self.store.run(self.store.spool_done, stored)
            raise checked
        self._spawn(self.process(stored, checked))
        return stored, len(checked["alerts"])

    async def _store(self, raw: bytes) -> int:
        sealed = await asyncio.to_thread(seal, raw, self.secret)
        return await self.store.run(self.store.spool_put, sealed, self._clock(), self.replica)

    async def process(self, spool_id: int, body: Mapping[str, Any]) -> None:
        """Split a spooled payload into alerts for the intake; each alert is claimed once, so a payload
        processed again after a crash adds nothing twice."""
        try:
            alerts = await asyncio.to_thread(parse_alerts, body)
        except PayloadError as exc:
            log.error("alertmanager_payload_dropped", spool=spool_id, reason=str(exc))
            await self.store.run(self.store.spool_done, spool_id)
            return
        for index, alert in enumerate(alerts):
            await self.intake.accept(
                source="alertmanager", channel=self.channel, ts=None, text=alert.text, identity=alert.identity,
                sender=SENDER, claims=(f"alertmanager:{spool_id}:{index}",),
            )
            if index % _BATCH == _BATCH - 1:
                await asyncio.sleep(0)
        await self.store.run(self.store.spool_done, spool_id)
        log.info("alertmanager_payload_processed", spool=spool_id, alerts=len(alerts))

    async def recover(self) -> int:
        """Process the payloads acknowledged by a process that is gone (after a restart or a replica's death)."""
        now = self._clock()
        taken = await self.store.run(
            self.store.spool_take, self.replica, stale_before(self.store.shared, now, self.lease)
        )
        for spool_id, blob in taken:
            raw = await asyncio.to_thread(unseal, blob, self.secret)
            try:
                body = await asyncio.to_thread(check_payload, raw) if raw is not None else None
            except PayloadError:
                body = None
            if body is None:
                # Sealed with another token (it was rotated) or damaged: nothing can be read from it.
                log.error("alertmanager_spool_unreadable", spool=spool_id)
                await self.store.run(self.store.spool_done, spool_id)
                continue
            self._spawn(self.process(spool_id, body))
        return len(taken)

    async def drain(self, timeout: float | None = None) -> bool:
        """Let payloads being processed finish; those still going at the timeout are stopped and stay in the
        spool, for the next start (or another replica) to finish: their alerts are claimed, none twice."""
        if not self._tasks:
            return True
        _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5)
        return not pending

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work, name="alertmanager-spool")
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # The payload stays in the spool and is processed again on the next start.
            log.error("alertmanager_spool_failed", exc_info=task.exception())
