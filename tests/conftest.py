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


# --- PostgreSQL ---------------------------------------------------------------------------------

import os  # noqa: E402

from tests import pg  # noqa: E402


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """Admin URL of a PostgreSQL server: TRIAGE_TEST_DATABASE_URL, or a throwaway server started here.

    Without either, the PostgreSQL tests fail when TRIAGE_REQUIRE_POSTGRES is set (CI sets it) and are
    reported as skipped, with the reason, otherwise.
    """
    url = os.environ.get(pg.ENV_URL)
    if url:
        yield url
        return
    bindir = pg.server_bin()
    if bindir is None:
        reason = f"PostgreSQL tests need {pg.ENV_URL} or the PostgreSQL server binaries (initdb, pg_ctl)"
        if os.environ.get(pg.ENV_REQUIRE):
            pytest.fail(reason)
        pytest.skip(reason)
    with pg.throwaway_server(bindir) as admin_url:
        yield admin_url


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    with pg.fresh_database(pg_server) as url:
        yield url
