"""Running the gateway: `serve` (the HTTP API, and Slack's events when configured) and `socket` (Socket Mode)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import sys

import structlog
from uvicorn import server as uvicorn_server

from bot.observability import version
from bot.settings import Settings
from bot.wiring import build_gateway

log = structlog.get_logger("bot.cli")

# Seconds SIGTERM gives requests in flight before the lifespan shutdown drains the rest.
SHUTDOWN_GRACE = 5


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def announce(settings: Settings, socket_mode: bool = False) -> None:
    """Say on start-up which engine and integrations are live, so nobody wonders (one JSON log event)."""
    if settings.model_enabled:
        model = {"engine": "model", "model_fast": settings.model_fast, "model_strong": settings.model_strong,
                 "model_url": settings.openai_base_url or "the default OpenAI endpoint"}
    else:
        model = {"engine": "heuristic", "model_note": "no OPENAI_API_KEY: using the heuristic engine"}
    if settings.shadow_enabled:
        candidate = " with prompt ".join(
            part for part in (settings.shadow_model or settings.model_fast, settings.shadow_prompt) if part
        )
        state = f"{settings.shadow_rate:.0%} of live triages" if settings.model_enabled else "off (no model engine)"
        model["shadow"] = f"{candidate}, {state}"
    if socket_mode:
        slack = "socket mode (SLACK_APP_TOKEN, SLACK_BOT_TOKEN)"
    elif settings.slack_enabled:
        slack = "enabled at POST /slack/events"
    else:
        slack = "disabled (set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET to enable)"
    log.info("starting", version=version(), **model, slack=slack, database=settings.database_label)


def serve(settings: Settings, host: str, port: int, insecure: bool) -> int:
    if not is_loopback(host) and not settings.api_token and not insecure:
        print(
            f"refusing to listen on {host} without TRIAGE_API_TOKEN; set a token or pass --insecure",
            file=sys.stderr,
        )
        return 2
    import uvicorn

    from bot.server import build_app

    announce(settings)
    gateway = build_gateway(settings)
    app = build_app(gateway)
    # uvicorn's own start-up lines are plain text: they stay below warning, the app logs "listening" as JSON.
    # Its default loop and parser are uvloop and httptools (both dependencies) when they can be imported.
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="on",
                            log_config=None, timeout_graceful_shutdown=SHUTDOWN_GRACE)
    Server(config).run()
    return 0


class Server(uvicorn_server.Server):
    """uvicorn's server, saying where it listens as a JSON event once the sockets are bound."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.started:
            return
        for server in self.servers:
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                log.info("listening on", host=host, port=port, url=f"http://{host}:{port}")


def socket_command(settings: Settings) -> int:
    from bot.slack.socket import socket_main

    async def run() -> int:
        gateway = build_gateway(settings, socket_mode=True)
        announce(settings, socket_mode=True)
        await gateway.start()
        try:
            return await socket_main(
                settings, gateway.service, gateway.store, client=gateway.slack_client, intake=gateway.intake
            )
        finally:
            await gateway.aclose()

    return asyncio.run(run())
