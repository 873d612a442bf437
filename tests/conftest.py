"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.slack import FakeSlack


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """A fake Slack Web API on 127.0.0.1:<random port>, fresh for each test."""
    with FakeSlack() as fake:
        yield fake


# --- gateway fixtures ---------------------------------------------------------------------------

from tests.fakes.openai_server import FakeOpenAI  # noqa: E402
from tests.gateway import GatewayFactory  # noqa: E402


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A fake OpenAI-compatible server on 127.0.0.1:<random port>, fresh for each test."""
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def gateways(tmp_path: object) -> Iterator[GatewayFactory]:
    """Builds real gateways (store in a temp dir) and closes them after the test."""
    factory = GatewayFactory(str(tmp_path))
    yield factory
    factory.close()
