"""Test helper: real gateways wired to a fake OpenAI server and a temporary database."""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any

from bot.settings import Settings
from bot.wiring import Gateway, build_gateway
from tests.fakes.openai_server import FakeOpenAI


class GatewayFactory:
    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.built: list[Gateway] = []

    def settings(self, fake: FakeOpenAI | None = None, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "db_path": os.path.join(self.directory, f"triage-{len(self.built)}.db"),
            "model_timeout": 2.0,
            "deadline": 6.0,
            "slack_post_interval": 0.05,
        }
        if fake is not None:
            values.update(openai_api_key="test-key", openai_base_url=fake.base_url)
        values.update(overrides)
        return Settings(**values)

    def build(self, fake: FakeOpenAI | None = None, *, socket_mode: bool = False, **overrides: Any) -> Gateway:
        gateway = build_gateway(self.settings(fake, **overrides), socket_mode=socket_mode)
        self.built.append(gateway)
        return gateway

    def close(self) -> None:
        for gateway in self.built:
            if gateway.openai_client is not None:
                # The test's loop that owned the client's connections may be gone already.
                with contextlib.suppress(Exception):
                    asyncio.run(gateway.openai_client.close())
            gateway.store.close()
