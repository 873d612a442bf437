"""The served application: the gateway's deps, the HTTP app and its start-up/shutdown."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from bot.alerts.alertmanager import PayloadError
from bot.app import bearer_ok, create_app
from bot.settings import reveal
from bot.wiring import Gateway


def add_alertmanager_route(app: FastAPI, gateway: Gateway) -> None:
    """POST /v1/alerts/alertmanager: Alertmanager's webhook, through the same coalescing path as Slack."""
    settings = gateway.settings

    @app.post("/v1/alerts/alertmanager")
    async def alertmanager(request: Request) -> JSONResponse:
        token = reveal(settings.alertmanager_token)
        if not token:
            return JSONResponse({"error": "Alertmanager intake is off: set TRIAGE_ALERTMANAGER_TOKEN"}, 404)
        supplied = request.headers.get("authorization") or ""
        if not bearer_ok(supplied, token):
            return JSONResponse({"error": "missing or invalid bearer token"}, 401, {"WWW-Authenticate": "Bearer"})
        if gateway.spool is None:
            message = "Alertmanager intake needs Slack (SLACK_BOT_TOKEN) and TRIAGE_ALERTMANAGER_CHANNEL"
            return JSONResponse({"error": message}, 503)
        try:
            # Stored (sealed) before the answer, split into alerts after it: a notification of any size is
            # acknowledged at once, and one acknowledged is never lost.
            spool_id, count = await gateway.spool.accept(await request.body())
        except PayloadError as exc:
            return JSONResponse({"error": str(exc)}, 422)
        return JSONResponse({"accepted": count, "queued": spool_id})


def build_app(gateway: Gateway) -> FastAPI:
    slack_handler = gateway.slack.handle if gateway.slack is not None else None
    app = create_app(
        gateway.settings,
        gateway.service,
        slack_handler=slack_handler,
        judge=gateway.judge,
        gate=gateway.gate,
        extra_routes=lambda app: add_alertmanager_route(app, gateway),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await gateway.start()
        yield
        await gateway.aclose()

    app.router.lifespan_context = lifespan
    return app
