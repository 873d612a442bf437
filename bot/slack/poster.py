"""Posting and updating triage cards through the Web API, remembering where each card lives."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.alerts.incidents import retry_delay, should_retry
from bot.card import TriageResult
from bot.memory.links import precedent_link
from bot.slack.card import card_message
from bot.slack.card_state import CardState, card_state
from bot.slack.feedback import notes_from_rows
from bot.slack.membership import Membership
from bot.store import Store

# Errors meaning "the bot cannot post here": answer through the command's response_url instead.
CANNOT_POST = frozenset(
    {"not_in_channel", "channel_not_found", "is_archived", "restricted_action", "access_denied"}
)

log = structlog.get_logger("bot.slack")
METADATA_EVENT = "triage_card"


def slack_error(exc: SlackApiError) -> str:
    """The Web API's error code of a failed call ('ratelimited', 'not_in_channel', ...)."""
    response: Any = exc.response
    try:
        return str(response.get("error") or "unknown_error")
    except AttributeError:
        return "unknown_error"


_CARD_LOCKS: dict[tuple[str, str], asyncio.Lock] = {}


def _card_lock(channel: str, ts: str) -> asyncio.Lock:
    """The lock of one posted card, shared by every poster in the process."""
    if len(_CARD_LOCKS) > 10_000:
        for key in [k for k, lock in _CARD_LOCKS.items() if not lock.locked()]:
            del _CARD_LOCKS[key]
    return _CARD_LOCKS.setdefault((channel, ts), asyncio.Lock())


def without_reconnects(client: AsyncWebClient) -> AsyncWebClient:
    """The same client minus the retry handlers that re-send a call after a connection error."""
    handlers = [h for h in client.retry_handlers if not isinstance(h, AsyncConnectionErrorRetryHandler)]
    if len(handlers) == len(client.retry_handlers):
        return client
    return AsyncWebClient(
        token=client.token,
        base_url=client.base_url,
        timeout=client.timeout,
        headers=dict(client.headers),
        retry_handlers=handlers,
    )


class CardPoster:
    """Posts cards with the injected client (whose retry handlers absorb 429s) and records them."""

    def __init__(
        self,
        client: AsyncWebClient,
        store: Store,
        *,
        retry_base: float | None = None,
        clock: Any = time.time,
        membership: Membership | None = None,
    ) -> None:
        self.client = client
        self.membership = membership or Membership(client)
        # Keyed posts (queued cards) go through a client that never re-sends on a dropped connection: the
        # first call may have reached Slack, and the card pump finds it by its metadata instead.
        self._once_client = without_reconnects(client)
        self.store = store
        # With a base delay, every degraded card posted is queued for re-triage by the model (bot.jobs).
        self.retry_base = retry_base
        self._clock = clock

    async def post(
        self,
        channel: str,
        result: TriageResult,
        *,
        thread_ts: str | None = None,
        state: CardState | None = None,
        key: str | None = None,
    ) -> str:
        """Post a card (as a thread reply when thread_ts is given); return its ts. Raises SlackApiError.

        `key` is attached as message metadata so that `find` can tell, after a crash, whether it was posted.
        """
        result = await self.visible_in(channel, result)
        message = card_message(result, state, precedent_link=await self.precedent_link(result))
        extra: dict[str, Any] = {}
        if key is not None:
            extra["metadata"] = {"event_type": METADATA_EVENT, "event_payload": {"key": key}}
        client = self._once_client if key is not None else self.client
        answer = await client.chat_postMessage(
            channel=channel,
            thread_ts=thread_ts,
            text=message["text"],
            blocks=message["blocks"],
            unfurl_links=False,
            unfurl_media=False,
            **extra,
        )
        ts = str(answer["ts"])
        posted_in = str(answer.get("channel") or channel)
        requester = state.requested_by if state else None
        await self.store.run(self.store.save_post, result.meta.triage_id, posted_in, ts, thread_ts, requester)
        log.info("slack_card_posted", triage_id=result.meta.triage_id, channel=posted_in, ts=ts)
        if self.retry_base is not None and should_retry(result.meta.degraded_reason, 0):
            next_at = self._clock() + retry_delay(0, self.retry_base)
            await self.store.run(self.store.queue_retry, result.meta.triage_id, posted_in, ts, next_at)
        return ts

    async def update(self, channel: str, ts: str, result: TriageResult, state: CardState) -> bool:
        """Redraw a posted card in place; False (logged) when Slack refuses."""
        result = await self.visible_in(channel, result)
        message = card_message(result, state, precedent_link=await self.precedent_link(result))
        try:
            await self.client.chat_update(channel=channel, ts=ts, text=message["text"], blocks=message["blocks"])
        except SlackApiError as exc:
            log.warning("slack_update_failed", triage_id=result.meta.triage_id, error=slack_error(exc))
            return False
        return True

    async def visible_in(self, channel: str, result: TriageResult) -> TriageResult:
        """The card as `channel` may see it: similar incidents from another, private channel are left out."""
        similar = result.meta.similar
        if not similar:
            return result
        kept = []
        for item in similar:
            origin = await self.channel_of(item.triage_id)
            if origin is None or origin == channel or not await self.membership.is_private(origin):
                kept.append(item)
        if len(kept) == len(similar):
            return result
        return result.model_copy(update={"meta": result.meta.model_copy(update={"similar": kept})})

    async def channel_of(self, triage_id: str) -> str | None:
        """The channel a triage's card lives in (its post, else its incident); None for HTTP and CLI triages."""
        post = await self.store.run(self.store.get_post, triage_id)
        if post and post.get("channel"):
            return str(post["channel"])
        incident = await self.store.run(self.store.incident_for_triage, triage_id)
        return incident.channel if incident is not None else None

    async def state_of(self, result: TriageResult, requested_by: str | None = None) -> CardState:
        """A card's state as stored now (incident counter and resolution, feedback, requester)."""
        triage_id = result.meta.triage_id
        rows = await self.store.run(self.store.feedback_for, triage_id)
        incident = await self.store.run(self.store.incident_for_triage, triage_id)
        if requested_by is None:
            post = await self.store.run(self.store.get_post, triage_id) or {}
            requested_by = post.get("requested_by")
        return card_state(incident, notes_from_rows(rows), requested_by=requested_by,
                          updated_by_model=result.meta.source == "retry")

    async def redraw(self, channel: str, ts: str, triage_id: str, requested_by: str | None = None) -> bool:
        """Redraw a posted card from what is stored, one redraw per card at a time.

        The card shows the triage the store says it shows now (a re-triage moves it to the newer one), so
        a redraw that started before a newer result can never put the older card back.
        """
        async with _card_lock(channel, ts):
            current = await self.store.run(self.store.triage_at, channel, ts) or triage_id
            result = await self.store.run(self.store.get_triage, current)
            if result is None:
                return False
            return await self.update(channel, ts, result, await self.state_of(result, requested_by))

    async def find(self, channel: str, thread_ts: str | None, key: str, oldest: float) -> str | None:
        """The ts of a card posted with `key` since `oldest`, None when Slack has none (crash recovery).

        Raises SlackApiError when the channel's history cannot be read.
        """
        try:
            if thread_ts:
                answer = await self.client.conversations_replies(
                    channel=channel, ts=thread_ts, oldest=f"{oldest:.6f}", include_all_metadata=True, limit=200
                )
            else:
                answer = await self.client.conversations_history(
                    channel=channel, oldest=f"{oldest:.6f}", include_all_metadata=True, limit=200
                )
        except SlackApiError as exc:
            # Not knowing is not "not there": the caller must not post again on this.
            log.warning("slack_history_unavailable", channel=channel, error=slack_error(exc))
            raise
        for message in answer.get("messages") or []:
            metadata = message.get("metadata") or {}
            if metadata.get("event_type") == METADATA_EVENT and (metadata.get("event_payload") or {}).get("key") == key:
                return str(message["ts"])
        return None

    async def precedent_link(self, result: TriageResult) -> str | None:
        """The permalink of the judged card behind this card's precedent, if any."""
        return await precedent_link(self.client, self.store, result.meta.precedent)

    async def where(self, triage_id: str) -> tuple[str, str] | None:
        """The channel and ts of a card this bot posted, if it posted one."""
        post = await self.store.run(self.store.get_post, triage_id)
        if not post or not post.get("channel") or not post.get("ts"):
            return None
        return str(post["channel"]), str(post["ts"])
