"""The /triage modal: a multi-line box for long logs and a channel picker, refused inline when empty."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.health import DATABASE_DOWN_NOTICE, DatabaseUnavailable
from bot.slack.card import card_message
from bot.slack.card_state import CardState
from bot.slack.membership import Membership, is_conversation_id
from bot.slack.mrkdwn import escape
from bot.slack.poster import CANNOT_POST, CardPoster, slack_error
from bot.slack.replies import error_message
from bot.triage.errors import InputError
from bot.triage.markup import decode_markup
from bot.triage.service import TriageService

CALLBACK_ID = "triage_modal"
SOURCE = "slack:modal"
TEXT_BLOCK = "triage_text"
TEXT_ACTION = "text"
CHANNEL_BLOCK = "triage_channel"
CHANNEL_ACTION = "channel"
# Slack's own cap for a plain_text_input; longer pastes are cut by Slack, then head and tail kept by us.
INPUT_MAX_CHARS = 3000
EMPTY_ERROR = "Paste the alert, log or stack trace to triage."
NO_CHANNEL_ERROR = "Pick the conversation the card goes to."
NOT_A_MEMBER_ERROR = "You can only post cards in conversations you are a member of: pick one of yours."
UNKNOWN_MEMBERSHIP_ERROR = "Slack could not tell whether you are a member of that conversation: try again."
# views.submission must be answered within 3 s: the membership check before the ack gets this long.
CHECK_IN_TIME = 1.5

Message = dict[str, Any]
log = structlog.get_logger("bot.slack")


@dataclass(frozen=True)
class Submission:
    """A submitted modal: the text to triage, where the card goes, who asked."""

    text: str
    channel: str
    user: str | None


def modal_view(origin_channel: str | None) -> dict[str, Any]:
    """The modal `/triage` opens: a multi-line input and a channel picker set to where it was opened."""
    picker: dict[str, Any] = {
        "type": "conversations_select",
        "action_id": CHANNEL_ACTION,
        "default_to_current_conversation": True,
        "placeholder": {"type": "plain_text", "text": "Choose a channel"},
    }
    if origin_channel:
        picker["initial_conversation"] = origin_channel
    return {
        "type": "modal",
        "callback_id": CALLBACK_ID,
        "title": {"type": "plain_text", "text": "Triage"},
        "submit": {"type": "plain_text", "text": "Triage"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": json.dumps({"channel": origin_channel or ""}),
        "blocks": [
            {
                "type": "input",
                "block_id": TEXT_BLOCK,
                "label": {"type": "plain_text", "text": "Alert, log or stack trace"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": TEXT_ACTION,
                    "multiline": True,
                    "max_length": INPUT_MAX_CHARS,
                    "focus_on_load": True,
                    "placeholder": {"type": "plain_text", "text": "Paste it here: line breaks are kept"},
                },
                "hint": {"type": "plain_text", "text": "Long logs are fine: the start and the end are read."},
            },
            {
                "type": "input",
                "block_id": CHANNEL_BLOCK,
                "label": {"type": "plain_text", "text": "Post the card in"},
                "element": picker,
            },
        ],
    }


def parse_submission(body: Mapping[str, Any]) -> tuple[Submission | None, dict[str, str]]:
    """A view_submission payload as a Submission, or the inline errors to show (block id → message)."""
    view = _dict(body.get("view"))
    values = _dict(_dict(view.get("state")).get("values"))
    text_block, text = _find(values, TEXT_BLOCK, TEXT_ACTION, ("plain_text_input",), "value")
    errors: dict[str, str] = {}
    if not isinstance(text, str) or not text.strip():
        errors[text_block or TEXT_BLOCK] = EMPTY_ERROR
    _, channel = _find(values, CHANNEL_BLOCK, CHANNEL_ACTION, ("conversations_select",), "selected_conversation")
    if not isinstance(channel, str) or not channel:
        _, channel = _find(values, CHANNEL_BLOCK, CHANNEL_ACTION, ("channels_select",), "selected_channel")
    if not isinstance(channel, str) or not channel:
        channel = origin_channel(view.get("private_metadata"))
    if not channel:
        errors[CHANNEL_BLOCK] = NO_CHANNEL_ERROR
    if errors:
        return None, errors
    user = _dict(body.get("user")).get("id")
    return Submission(decode_markup(str(text)), str(channel), user if isinstance(user, str) and user else None), {}


def origin_channel(private_metadata: Any) -> str | None:
    """The channel the modal was opened from, kept in the view's private_metadata."""
    if not isinstance(private_metadata, str) or not private_metadata:
        return None
    try:
        channel = json.loads(private_metadata).get("channel")
    except (ValueError, AttributeError):
        return None
    return channel if isinstance(channel, str) and channel else None


def _find(
    values: Mapping[str, Any], block_id: str, action_id: str, kinds: tuple[str, ...], field: str
) -> tuple[str | None, Any]:
    """The value of our element, or of the first element of that kind (ids can differ between app versions)."""
    own = _dict(_dict(values.get(block_id)).get(action_id))
    if own:
        return block_id, own.get(field)
    for found_block, actions in values.items():
        for element in _dict(actions).values():
            if isinstance(element, dict) and element.get("type") in kinds:
                return str(found_block), element.get(field)
    return None, None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def channel_refusal(user: str | None, members: frozenset[str] | None) -> str | None:
    """Why a modal's card may not go to the picked conversation (None when it may)."""
    if user is None:
        return NOT_A_MEMBER_ERROR
    if members is None:
        return UNKNOWN_MEMBERSHIP_ERROR
    return None if user in members else NOT_A_MEMBER_ERROR


def _channel_ref(channel: str) -> str:
    """A channel link built only from a well-formed id; anything else as escaped text."""
    return f"<#{channel}>" if is_conversation_id(channel) else escape(channel)


def refused_message(channel: str, reason: str) -> Message:
    text = f"The card was not posted in {_channel_ref(channel)}: {escape(reason)}"
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}


def undelivered_message(channel: str, error: str, card: Message) -> Message:
    """Sent to the person directly when the card could not go into the channel they picked."""
    text = (
        f"I could not post the card in {_channel_ref(channel)} ({escape(error)}): invite me with "
        "`/invite @triage-bot` or pick another channel. Here is the card."
    )
    notice = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    return {"text": text, "blocks": [notice, *card["blocks"]][:50]}


class TriageModal:
    """Opens the modal and turns a submission into a card in the chosen channel."""

    def __init__(
        self, service: TriageService, client: AsyncWebClient, poster: CardPoster, membership: Membership | None = None
    ) -> None:
        self.service = service
        self.client = client
        self.poster = poster
        self.membership = membership or Membership(client)

    async def refusal(self, submission: Submission) -> str | None:
        """Why the card may not go where the submitter asked: only into conversations they are a member of."""
        if submission.user is None:
            return NOT_A_MEMBER_ERROR
        return channel_refusal(submission.user, await self.membership.members_of(submission.channel))

    async def refusal_in_time(self, submission: Submission) -> str | None:
        """The same check bounded to answer before Slack's 3 s; None when Slack was too slow to say."""
        try:
            return await asyncio.wait_for(self.refusal(submission), CHECK_IN_TIME)
        except TimeoutError:
            return None

    async def open(self, trigger_id: str, origin: str | None) -> bool:
        """views.open within the trigger's 3 seconds; False (logged) when Slack refuses."""
        try:
            await self.client.views_open(trigger_id=trigger_id, view=modal_view(origin))
        except SlackApiError as exc:
            log.warning("slack_modal_not_opened", error=slack_error(exc))
            return False
        return True

    async def submit(self, submission: Submission, yield_first: Callable[[], Awaitable[None]] | None = None) -> None:
        if yield_first is not None:
            await yield_first()
        refused = await self.refusal(submission)
        if refused is not None:
            log.info("slack_modal_refused", channel=submission.channel, user=submission.user)
            await self.tell(submission, refused_message(submission.channel, refused))
            return
        try:
            result = await self.service.triage(submission.text, source=SOURCE, must_record=True)
        except InputError as exc:
            await self.tell(submission, error_message(str(exc)))
            return
        except DatabaseUnavailable:
            await self.tell(submission, error_message(DATABASE_DOWN_NOTICE))
            return
        state = CardState(requested_by=submission.user)
        try:
            await self.poster.post(submission.channel, result, state=state)
        except SlackApiError as exc:
            error = slack_error(exc)
            report = log.info if error in CANNOT_POST else log.warning
            report("slack_modal_cannot_post", error=error, channel=submission.channel,
                   triage_id=result.meta.triage_id)
            card = card_message(result, state)
            await self.tell(submission, undelivered_message(submission.channel, error, card))

    async def tell(self, submission: Submission, message: Message) -> None:
        """A direct message from the app to the person (the modal is closed by now)."""
        if not submission.user:
            return
        try:
            await self.client.chat_postMessage(channel=submission.user, text=message["text"], blocks=message["blocks"])
        except SlackApiError as exc:
            log.warning("slack_modal_answer_failed", user=submission.user, error=slack_error(exc))
