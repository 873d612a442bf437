"""The "Triage this message" shortcut: any message the bot can see gets a card in its thread."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.health import DATABASE_DOWN_NOTICE, DatabaseUnavailable
from bot.slack import payloads
from bot.slack.card import card_message
from bot.slack.card_state import CardState
from bot.slack.mrkdwn import Message, escape
from bot.slack.poster import CANNOT_POST, CardPoster, slack_error
from bot.slack.replies import error_message, notice_message
from bot.store import Store
from bot.triage.errors import InputError
from bot.triage.service import TriageService

CALLBACK_ID = "triage_message"
SOURCE = "slack:shortcut"

log = structlog.get_logger("bot.slack")
Respond = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class MessageTarget:
    """The message a shortcut was used on: where it is, what it says, who asked."""

    channel: str
    message_ts: str
    thread_ts: str
    text: str
    user: str | None
    response_url: str | None
    own: bool = False


def parse_message_action(body: Mapping[str, Any], identity: payloads.BotIdentity | None = None) -> MessageTarget | None:
    """A `message_action` payload as a MessageTarget; None when it names no channel or message."""
    channel = _dict(body.get("channel")).get("id")
    message = _dict(body.get("message"))
    message_ts = message.get("ts") or body.get("message_ts")
    if not isinstance(channel, str) or not channel or not isinstance(message_ts, str) or not message_ts:
        return None
    thread_ts = message.get("thread_ts")
    user = _dict(body.get("user")).get("id")
    response_url = body.get("response_url")
    return MessageTarget(
        channel=channel,
        message_ts=message_ts,
        # A reply's card goes in the thread it belongs to; a top-level message starts its own thread.
        thread_ts=thread_ts if isinstance(thread_ts, str) and thread_ts else message_ts,
        text=payloads.alert_text(message),
        user=user if isinstance(user, str) and user else None,
        response_url=response_url if isinstance(response_url, str) and response_url else None,
        own=payloads.is_own_message(message, identity or payloads.BotIdentity()),
    )


# -- what the person is told (only they see it) -------------------------------------------------


def empty_message() -> Message:
    return notice_message(
        "That message has no text to triage (files and images are not read). "
        "Paste the text with /triage instead."
    )


def own_card_message() -> Message:
    return notice_message("That message is a triage card already: use its buttons to confirm or correct it.")


def in_progress_message() -> Message:
    return notice_message("Triaging that message already: the card will appear in its thread.")


def already_triaged_message(permalink: str | None) -> Message:
    where = f"<{permalink}|this card>" if permalink else "the card in this message's thread"
    text = f"This message was triaged already: see {where}."
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}


def cannot_post_message(error: str, card: Message) -> Message:
    """The card itself, shown only to the person, with why it could not go into the thread."""
    if error in ("not_in_channel", "channel_not_found"):
        why = "I am not a member of this conversation. Invite me with `/invite @triage-bot` and try again."
    elif error == "is_archived":
        why = "this channel is archived."
    else:
        why = f"Slack refused the post ({error})."
    text = f"I could not post the card in this thread: {why} Here it is, visible only to you."
    notice = {"type": "section", "text": {"type": "mrkdwn", "text": escape(text)}}
    return {"text": text, "blocks": [notice, *card["blocks"]][:50]}


# -- the work after the ack ---------------------------------------------------------------------


class MessageShortcut:
    """Triages the message, posts the card in its thread once, and answers privately when it cannot."""

    def __init__(
        self,
        service: TriageService,
        store: Store,
        client: AsyncWebClient,
        poster: CardPoster,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.service = service
        self.store = store
        self.client = client
        self.poster = poster
        self._clock = clock
        # Messages being triaged right now: a second shortcut meanwhile is told so, not queued behind a lock.
        self._in_flight: set[tuple[str, str]] = set()

    async def run(self, target: MessageTarget, respond: Respond | None = None) -> None:
        if target.own:
            await self.tell(target, own_card_message(), respond)
            return
        if not target.text.strip():
            await self.tell(target, empty_message(), respond)
            return
        key = (target.channel, target.message_ts)
        if key in self._in_flight:
            await self.tell(target, in_progress_message(), respond)
            return
        self._in_flight.add(key)
        try:
            await self._triage_once(target, respond)
        except DatabaseUnavailable:
            await self.tell(target, error_message(DATABASE_DOWN_NOTICE), respond)
        finally:
            self._in_flight.discard(key)

    async def _triage_once(self, target: MessageTarget, respond: Respond | None) -> None:
        # One card per message: a second shortcut (or one on an alert already carded) points to the first.
        existing = await self.store.run(self.store.message_card, target.channel, target.message_ts)
        if existing is not None:
            link = await permalink(self.client, existing["channel"], existing["ts"])
            await self.tell(target, already_triaged_message(link), respond)
            return
        try:
            result = await self.service.triage(target.text, source=SOURCE, must_record=True)
        except InputError as exc:
            await self.tell(target, error_message(str(exc)), respond)
            return
        state = CardState(requested_by=target.user)
        try:
            await self.poster.post(target.channel, result, thread_ts=target.thread_ts, state=state)
        except SlackApiError as exc:
            error = slack_error(exc)
            # Not being in the channel is expected; anything else is worth a warning.
            report = log.info if error in CANNOT_POST else log.warning
            report("slack_shortcut_cannot_post", error=error, channel=target.channel, triage_id=result.meta.triage_id)
            await self.tell(target, cannot_post_message(error, card_message(result, state)), respond)
            return
        await self.store.run(
            self.store.save_message_card, target.channel, target.message_ts, result.meta.triage_id, self._clock()
        )

    async def tell(self, target: MessageTarget, message: Message, respond: Respond | None) -> None:
        """An answer only the person sees: through the payload's response_url, else chat.postEphemeral."""
        try:
            if respond is not None and target.response_url:
                await respond(response_type="ephemeral", replace_original=False, **message)
            elif target.user:
                await self.client.chat_postEphemeral(
                    channel=target.channel, user=target.user, text=message["text"], blocks=message["blocks"]
                )
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("slack_shortcut_answer_failed", channel=target.channel, error=str(exc))


async def permalink(client: AsyncWebClient, channel: str, ts: str) -> str | None:
    """A link to a message, or None when Slack will not give one (the caller words around it)."""
    try:
        answer = await client.chat_getPermalink(channel=channel, message_ts=ts)
    except SlackApiError as exc:
        log.info("slack_permalink_unavailable", channel=channel, error=slack_error(exc))
        return None
    link = answer.get("permalink")
    return str(link) if link else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
