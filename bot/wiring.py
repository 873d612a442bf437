"""Builds the real dependencies from Settings: store, metrics, OpenAI client, service."""

from __future__ import annotations

from dataclasses import dataclass

import openai
from slack_sdk.web.async_client import AsyncWebClient

from bot.observability import Metrics
from bot.settings import Settings
from bot.slack.listeners import SlackBot, build_slack_client
from bot.store import Store
from bot.triage.model import ModelClient
from bot.triage.prompt import load_prompt
from bot.triage.service import TriageService


@dataclass
class Gateway:
    settings: Settings
    store: Store
    metrics: Metrics
    service: TriageService
    openai_client: openai.AsyncOpenAI | None
    slack: SlackBot | None = None

    async def aclose(self) -> None:
        if self.slack is not None:
            await self.slack.aclose()
        if self.openai_client is not None:
            await self.openai_client.close()
        self.store.close()


def build_openai_client(settings: Settings) -> openai.AsyncOpenAI:
    # tenacity owns retries: the client's own must be off or the two multiply.
    return openai.AsyncOpenAI(
        api_key=settings.openai_api_key,
        base_url=settings.openai_base_url,
        max_retries=0,
        timeout=settings.model_timeout,
    )


def build_gateway(
    settings: Settings,
    *,
    openai_client: openai.AsyncOpenAI | None = None,
    slack_client: AsyncWebClient | None = None,
) -> Gateway:
    store = Store.open(settings.db_path)
    metrics = Metrics()
    client = openai_client
    if client is None and settings.model_enabled:
        client = build_openai_client(settings)
    model = None
    if client is not None:
        model = ModelClient(
            client,
            load_prompt(),
            timeout=settings.model_timeout,
            attempts=settings.model_attempts,
            on_retry=lambda name, kind: metrics.retries.labels(name, kind).inc(),
        )
    service = TriageService(settings, store, metrics, model=model)
    slack = None
    if settings.slack_enabled:
        slack = SlackBot(settings, service, store, slack_client or build_slack_client(settings))
    return Gateway(settings, store, metrics, service, client, slack)


def build_service(settings: Settings) -> TriageService:
    return build_gateway(settings).service
