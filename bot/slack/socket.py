"""Socket Mode: the same Slack app over a WebSocket that Slack opens, for hosts without a public URL."""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

import structlog
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.alerts.intake import AlertIntake
from bot.settings import Settings, reveal
from bot.slack.listeners import SlackBot, build_slack_client
from bot.store import Store
from bot.triage.service import TriageService

log = structlog.get_logger("bot.slack")


class SocketModeUnavailable(RuntimeError):
    """Socket Mode needs an app-level token (xapp-...) and a bot token."""


async def run_socket_mode(
    settings: Settings,
    service: TriageService,
    store: Store,
    client: AsyncWebClient,
    *,
    intake: AlertIntake | None,
    stop: asyncio.Event | None = None,
    ready: asyncio.Event | None = None,
    **bot_options: Any,
) -> None:
    """Connect to Slack over Socket Mode and serve until `stop` is set; then drain acked work."""
    missing = [name for name, value in (("SLACK_APP_TOKEN", settings.slack_app_token),
                                         ("SLACK_BOT_TOKEN", settings.slack_bot_token)) if not value]
    if missing:
        raise SocketModeUnavailable(
            f"set {' and '.join(missing)} (app-level token xapp-... with connections:write; bot token xoxb-...)"
        )
    if intake is None:
        raise SocketModeUnavailable("no alert intake: build the gateway with socket_mode=True and a bot token")
    bot = SlackBot(settings, service, store, client, intake=intake, **bot_options)
    handler = AsyncSocketModeHandler(bot.app, reveal(settings.slack_app_token), web_client=client)
    stop = stop or asyncio.Event()
    bot.open_session()
    # Connecting retries for as long as Slack is unreachable; a stop request must still end it.
    connecting = asyncio.ensure_future(handler.connect_async())
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if connecting.done() and not stop.is_set():
            connecting.result()
            log.info("slack_socket_mode_connected", alert_channels=settings.alert_channels)
            if ready is not None:
                ready.set()
            await stopping
    finally:
        for task in (connecting, stopping):
            task.cancel()
        await handler.close_async()
        await bot.aclose()
        log.info("slack_socket_mode_closed")


async def socket_main(
    settings: Settings,
    service: TriageService,
    store: Store,
    *,
    client: AsyncWebClient | None = None,
    intake: AlertIntake | None = None,
) -> int:
    """`triage-bot socket`: run until SIGINT/SIGTERM; alert channels go through `intake` when given."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await run_socket_mode(
            settings, service, store, client or build_slack_client(settings), stop=stop, intake=intake
        )
    except SocketModeUnavailable as exc:
        log.error("slack_socket_mode_unavailable", reason=str(exc))
        print(f"error: Socket Mode needs its tokens: {exc}", file=sys.stderr)
        return 2
    return 0
