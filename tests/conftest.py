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


# --- stores on both backends ------------------------------------------------------------------------

import threading  # noqa: E402
from collections.abc import Callable  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402

from bot.store import Store, open_store  # noqa: E402


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


Opener = Callable[[], Store]


@pytest.fixture(params=["sqlite", "postgres"])
def opener(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Iterator[Opener]:
    """Opens stores on one database of the given backend (several stores = several replicas)."""
    opened: list[Store] = []
    if request.param == "postgres":
        url: str | None = request.getfixturevalue("pg_url")
    else:
        url = None

    def open_one() -> Store:
        store = open_store(str(tmp_path / "store.db"), url, clock=clock)
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        store.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(opener: Opener) -> Store:
    return opener()


def race(count: int, work: Callable[[int], object]) -> list[object]:
    """Run `work(i)` for i in range(count) on threads that all start together."""
    barrier = threading.Barrier(count)

    def go(i: int) -> object:
        barrier.wait(timeout=10)
        return work(i)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(go, range(count)))


