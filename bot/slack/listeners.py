"""The Bolt app: /triage, alert-channel messages and card clicks, each acked before any slow work."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import zlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
import structlog
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import Response

from bot.alerts.incidents import sender_of
from bot.alerts.intake import AlertIntake
from bot.card import TriageResult
from bot.health import DATABASE_DOWN_NOTICE, DatabaseUnavailable
from bot.settings import Settings, reveal
from bot.slack import home, modal, payloads, shortcut
from bot.slack.actions import ACTION_CATEGORY, ACTION_CONFIRM, ACTION_SEVERITY
from bot.slack.background import Background
from bot.slack.card import card_message
from bot.slack.card_state import CardState
from bot.slack.feedback import feedback_change, verdict_refusal
from bot.slack.membership import Membership
from bot.slack.mrkdwn import Message
from bot.slack.poster import CANNOT_POST, CardPoster, slack_error
from bot.slack.replies import error_message, notice_message, stale_action_message, usage_message
from bot.store import Store
from bot.triage.errors import InputError
from bot.triage.service import TriageService

COMMAND = "/triage"
ACTION_PATTERN = re.compile(
    f"^({ACTION_CONFIRM}|{ACTION_SEVERITY}|{ACTION_CATEGORY})$"
)
_LOCK_STRIPES = 64

Respond = Callable[..., Awaitable[Any]]
log = structlog.get_logger("bot.slack")


def build_slack_client(settings: Settings, *, rate_limit_retries: int = 8) -> AsyncWebClient:
    """The Web API client: Slack's own retry handlers wait out 429s and reconnect on network errors."""
    return AsyncWebClient(
        token=reveal(settings.slack_bot_token),
        base_url=settings.slack_api_url,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=rate_limit_retries),
        ],
    )


class SlackBot:
    """Translates Slack requests into TriageService calls and cards; the listeners stay thin."""

    def __init__(
        self,
        settings: Settings,
        service: TriageService,
        store: Store,
        client: AsyncWebClient,
        *,
        intake: AlertIntake,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger | None = None,
        yield_limit: float = 1.0,
    ) -> None:
        self.settings = settings
        # Alert-channel messages go through the intake: recorded, coalesced into incidents, paced to Slack.
        self.intake = intake
        self.service = service
        self.store = store
        self.client = client
        self.background = Background(yield_limit=yield_limit)
        self._clock = clock
        self.membership = Membership(client, clock=clock)
        self.poster = CardPoster(client, store, retry_base=settings.retry_interval, membership=self.membership)
        self._locks = [asyncio.Lock() for _ in range(_LOCK_STRIPES)]
        self._session: aiohttp.ClientSession | None = None
        self.app = AsyncApp(
            client=client,
            signing_secret=reveal(settings.slack_signing_secret) or "",
            process_before_response=False,
            logger=logger,
        )
        # Alert messages are recorded in a middleware, which Bolt runs before it answers Slack: an acked
        # alert is already in the store, so a crash right after the ack cannot lose it.
        self.app.middleware(self.record_alert)
        self.app.command(COMMAND)(self.on_command)
        self.app.event("message")(self.on_message)
        self.app.action(ACTION_PATTERN)(self.on_action)
        self.shortcut = shortcut.MessageShortcut(service, store, client, self.poster)
        self.app.shortcut(shortcut.CALLBACK_ID)(self.on_message_shortcut)
        self.modal = modal.TriageModal(service, client, self.poster, self.membership)
        self.app.view_submission(modal.CALLBACK_ID)(self.on_modal_submission)
        self.home = home.HomeTab(settings, store, client, membership=self.membership)
        self.app.event("app_home_opened")(self.on_home_opened)
        self._http = AsyncSlackRequestHandler(self.app)

    async def handle(self, request: Request) -> Response:
        """The POST /slack/events endpoint: Bolt verifies the signature, acks, and returns at once."""
        self.open_session()
        with self.background.request():
            return await self._http.handle(request)

    def open_session(self) -> None:
        """Give the Web API client one pooled connection set instead of a new session per call.

        aiohttp sessions belong to a running loop, so the pool is opened on first use, not at wiring.
        """
        if self.client.session is None or self.client.session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.client.timeout))
            self.client.session = self._session

    async def aclose(self, timeout: float = 30.0) -> None:
        """Let work already acked finish (cards still get posted) before the process exits."""
        if not await self.background.drain(timeout):
            log.warning("slack_work_abandoned", pending=self.background.pending)
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- listeners: ack, then hand the work to the background ------------------------------------

    async def on_command(self, ack: Any, command: dict[str, Any], respond: Respond) -> None:
        parsed = payloads.parse_command(command.get("text"))
        if parsed.kind == "usage" and command.get("trigger_id"):
            # Bare /triage opens the modal: long, multi-line logs survive there, not in a command line.
            await ack()
            if not await self.modal.open(str(command["trigger_id"]), command.get("channel_id")):
                await respond(response_type="ephemeral", **usage_message())
            return
        if parsed.kind != "triage":
            await ack(response_type="ephemeral", **usage_message())
            return
        await ack()
        self.background.spawn(self.command_card(command, parsed.text, respond), "slack-command")

    async def record_alert(
        self, body: dict[str, Any], context: Any, next_: Callable[[], Awaitable[Any]]
    ) -> BoltResponse | None:
        """Middleware: hand alert-channel messages to the intake before the request is answered.

        With the database down the alert cannot be recorded, so it is not acked: the 503 makes Slack
        deliver the event again later (its retries), and nothing is acked that was not kept.
        """
        event = body.get("event") if body.get("type") == "event_callback" else None
        if isinstance(event, dict) and event.get("type") == "message":
            try:
                await self.take_alert(body, event, context)
            except DatabaseUnavailable as exc:
                log.warning("slack_alert_not_acked", reason=exc.reason, event_id=body.get("event_id"))
                return BoltResponse(
                    status=503, body=json.dumps({"error": exc.reason}),
                    headers={"content-type": "application/json", "retry-after": str(exc.retry_after)},
                )
        await next_()
        return None

    async def take_alert(self, body: dict[str, Any], event: dict[str, Any], context: Any) -> None:
        if self.skipped(event, context):
            return
        channel, ts = str(event["channel"]), str(event["ts"])
        # The claims and the alert go into the store together: a crash cannot keep one without the other.
        keys = (*([str(body["event_id"])] if body.get("event_id") else []), f"message:{channel}:{ts}")
        # A re-delivery is dropped before any work on its text; the claim in take_alert stays the authority.
        if await self.store.run(self.store.claimed, keys):
            log.info("slack_redelivery_dropped", channel=channel, ts=ts)
            return
        # Reading the text is bounded and linear, and done off the event loop: the ack is never late.
        text = await asyncio.to_thread(payloads.alert_text, event)
        if not text:
            return
        await self.intake.accept(
            source="slack:channel", channel=channel, ts=ts, text=text, claims=keys, sender=sender_of(event)
        )

    def skipped(self, event: dict[str, Any], context: Any) -> bool:
        identity = payloads.BotIdentity(context.get("bot_user_id"), context.get("bot_id"))
        reason = payloads.skip_reason(event, channels=self.settings.alert_channels, identity=identity)
        if reason is not None:
            log.debug("slack_message_skipped", reason=reason, channel=event.get("channel"))
        return reason is not None

    async def on_message(self) -> None:
        """Bolt needs a listener for message events; the record_alert middleware has taken them already."""

    async def on_message_shortcut(self, ack: Any, body: dict[str, Any], context: Any, respond: Respond) -> None:
        await ack()
        identity = payloads.BotIdentity(context.get("bot_user_id"), context.get("bot_id"))
        target = shortcut.parse_message_action(body, identity)
        if target is not None:
            self.background.spawn(self.shortcut.run(target, respond), "slack-shortcut")

    async def on_modal_submission(self, ack: Any, body: dict[str, Any]) -> None:
        submission, errors = modal.parse_submission(body)
        if submission is None:
            await ack(response_action="errors", errors=errors)
            return
        # The card goes only where the submitter is a member; said in the modal itself when Slack answers in
        # time, else (checked again after the ack) in a direct message.
        refused = await self.modal.refusal_in_time(submission)
        if refused:
            await ack(response_action="errors", errors={modal.CHANNEL_BLOCK: refused})
            return
        await ack()
        self.background.spawn(self.modal.submit(submission, self.background.yield_to_requests), "slack-modal")

    async def on_home_opened(self, event: dict[str, Any]) -> None:
        user = event.get("user")
        # The Messages and About tabs open the same event; only the Home tab has a view to publish.
        if isinstance(user, str) and user and event.get("tab", "home") == "home":
            self.background.spawn(self.home.publish(user), "slack-home")

    async def on_action(self, ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        await ack()
        self.background.spawn(self.apply_click(body, action, respond), "slack-click")

    # -- the work --------------------------------------------------------------------------------

    async def command_card(self, command: Mapping[str, Any], text: str, respond: Respond) -> None:
        await self.background.yield_to_requests()
        try:
            result = await self.service.triage(text, source="slack:command", must_record=True)
        except InputError as exc:
            await respond(response_type="ephemeral", **error_message(str(exc)))
            return
        except DatabaseUnavailable:
            await respond(response_type="ephemeral", **error_message(DATABASE_DOWN_NOTICE))
            return
        user = command.get("user_id")
        state = CardState(requested_by=str(user) if user else None)
        try:
            await self.poster.post(str(command["channel_id"]), result, state=state)
        except SlackApiError as exc:
            if slack_error(exc) not in CANNOT_POST:
                raise
            # Private channel or DM the bot is not in: the response_url can still answer there.
            log.info("slack_card_via_response_url", error=slack_error(exc), triage_id=result.meta.triage_id)
            await respond(response_type="in_channel", **card_message(result, state))

    async def apply_click(self, body: Mapping[str, Any], action: Mapping[str, Any], respond: Respond) -> None:
        click = payloads.parse_card_action(body, action)
        result = await self.store.run(self.store.get_triage, click.triage_id) if click else None
        if click is None or result is None:
            await respond(response_type="ephemeral", replace_original=False, **stale_action_message())
            return
        refused = await self.refusal(click, result)
        if refused is not None:
            log.info("slack_feedback_refused", triage_id=click.triage_id, user=click.user_id, action=click.action)
            await self.tell(click, notice_message(refused), respond)
            return
        origin = payloads.requested_by(body.get("message"))
        async with self._lock_for(click.triage_id):
            state = await self.card_state(result, origin)
            change = feedback_change(result, state, click)
            if change is None:
                return
            stored = await self.store.run(
                self.store.record_feedback,
                click.triage_id,
                click.user_id,
                change.action,
                change.old_value,
                change.new_value,
                "slack",
            )
            if not stored:
                return
            log.info("slack_feedback", triage_id=click.triage_id, user=click.user_id, action=change.action,
                     old=change.old_value, new=change.new_value)
            await self.redraw(click, result, await self.card_state(result, origin), respond)

    async def card_state(self, result: TriageResult, requested_by: str | None = None) -> CardState:
        """Everything a redraw shows besides the result itself: feedback so far, who asked, and for an
        incident's card its counter and resolution (one builder for every redraw, see bot.slack.card_state)."""
        return await self.poster.state_of(result, requested_by)

    async def redraw(
        self, click: payloads.CardAction, result: TriageResult, state: CardState, respond: Respond
    ) -> None:
        where = (click.channel_id, click.message_ts) if click.channel_id and click.message_ts else None
        where = where or await self.poster.where(click.triage_id)
        if where and await self.poster.redraw(where[0], where[1], click.triage_id, state.requested_by):
            return
        # Cards answered through a response_url (bot not in channel) can only be replaced through one.
        await respond(replace_original=True, **card_message(result, state))

    async def refusal(self, click: payloads.CardAction, result: TriageResult) -> str | None:
        """Why this click may not teach (see feedback.verdict_refusal), asking Slack who the reviewers are."""
        group = self.settings.reviewer_group
        if group:
            members = await self.membership.group_members(group)
            return verdict_refusal(click.user_id, reviewer_group=group, reviewers=members, channel_members=None)
        channel = click.channel_id
        if not channel:
            where = await self.poster.where(result.meta.triage_id)
            channel = where[0] if where else None
        channel_members = await self.membership.members_of(channel) if channel else None
        return verdict_refusal(click.user_id, reviewer_group=None, reviewers=None, channel_members=channel_members)

    async def tell(self, click: payloads.CardAction, message: Message, respond: Respond) -> None:
        """An answer only the clicking person sees: chat.postEphemeral, else the click's response_url."""
        if click.channel_id:
            try:
                await self.client.chat_postEphemeral(
                    channel=click.channel_id, user=click.user_id, text=message["text"], blocks=message["blocks"]
                )
                return
            except SlackApiError as exc:
                log.info("slack_ephemeral_failed", channel=click.channel_id, error=slack_error(exc))
        await respond(response_type="ephemeral", replace_original=False, **message)

    def _lock_for(self, triage_id: str) -> asyncio.Lock:
        # Striped locks: clicks on one card are serialised without a lock per card kept forever.
        return self._locks[zlib.crc32(triage_id.encode()) % _LOCK_STRIPES]
