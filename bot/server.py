"""The served application: the gateway's deps, the HTTP app and its start-up/shutdown."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from bot.app import create_app
from bot.wiring import Gateway


def build_app(gateway: Gateway) -> FastAPI:
    slack_handler = gateway.slack.handle if gateway.slack is not None else None
    app = create_app(gateway.settings, gateway.service, slack_handler=slack_handler)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await gateway.aclose()

    app.router.lifespan_context = lifespan
    return app
