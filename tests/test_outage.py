"""Health that tells the truth: with the database gone the gateway says so, answers fast, acks nothing it did
not record, stops in seconds, and recovers by itself when the database is back.

PostgreSQL: a server of this test's own, stopped and started again mid-test. SQLite: the file held locked
by another connection (root ignores file permissions, so a lock is what makes it unwritable here).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from bot.server import build_app
from bot.wiring import Gateway
from tests import pg
from tests.fakes import slack_requests as sr
from tests.fakes.slack import FakeSlack
from tests.gateway import GatewayFactory

ALERT = "[FIRING:1] KubePodCrashLooping payments-api-0 is crash looping in prod"
AM_TOKEN = "am-token"
# Well under the 15 s the pool used to wait, and under TRIAGE_DEADLINE.
FAST = 4.0


class Postgres:
    """A PostgreSQL server that the test may stop and start again on the same port."""

    def __init__(self, bindir: str) -> None:
        self.bindir = bindir
        self.directory = tempfile.mkdtemp(prefix="triage-outage-pg-")
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.port = pg._free_port()
        self.data = os.path.join(self.directory, "data")
        subprocess.run([*self.as_user, f"{bindir}/initdb", "-D", self.data, "-U", "postgres", "--auth=trust",
                        "-E", "UTF8"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.start()

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        subprocess.run([*self.as_user, f"{self.bindir}/pg_ctl", "-D", self.data, *args], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._ctl("-l", os.path.join(self.directory, "log"), "-w", "-o", options, "start")

    def stop(self) -> None:
        self._ctl("-m", "fast", "-w", "stop")

    def remove(self) -> None:
        subprocess.run([*self.as_user, f"{self.bindir}/pg_ctl", "-D", self.data, "-m", "immediate", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture
def postgres() -> Iterator[Postgres]:
    bindir = pg.server_bin()
    if bindir is None:
        reason = "the outage test stops and restarts a PostgreSQL server of its own: it needs initdb and pg_ctl"
        if os.environ.get(pg.ENV_REQUIRE):
            pytest.fail(reason)
        pytest.skip(reason)
    server = Postgres(bindir)
    try:
        yield server
    finally:
        server.remove()


class Served:
    """A gateway served by uvicorn in a thread, with its shutdown timed."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        config = uvicorn.Config(build_app(gateway), host="127.0.0.1", port=0, log_level="warning",
                                access_log=False, lifespan="on", timeout_graceful_shutdown=5)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "gateway did not start"
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)

    def stop(self) -> float:
        """Stop as SIGTERM would; the seconds it took."""
        self.http.close()
        began = time.monotonic()
        self.server.should_exit = True
        self.thread.join(60)
        assert not self.thread.is_alive(), "gateway did not stop"
        took = time.monotonic() - began
        return took

    def triage(self) -> tuple[httpx.Response, float]:
        began = time.monotonic()
        response = self.http.post("/v1/triage", json={"text": ALERT})
        return response, time.monotonic() - began

    def event(self, body: str) -> httpx.Response:
        headers = sr.signed_headers(body, "application/json")
        return self.http.post("/slack/events", content=body.encode(), headers=headers)

    def alertmanager(self) -> httpx.Response:
        payload = {
            "version": "4", "status": "firing", "receiver": "triage", "groupLabels": {"alertname": "DiskFull"},
            "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am", "groupKey": "{}:{}",
            "alerts": [{"status": "firing", "labels": {"alertname": "DiskFull", "instance": "db-1"},
                        "annotations": {"summary": "disk full on db-1"}, "startsAt": "2026-01-01T00:00:00Z",
                        "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prom", "fingerprint": "abc"}],
        }
        return self.http.post("/v1/alerts/alertmanager", json=payload,
                              headers={"authorization": f"Bearer {AM_TOKEN}"})


def wait_until(check: Callable[[], bool], timeout: float = 20.0) -> float:
    began = time.monotonic()
    while not check():
        assert time.monotonic() - began < timeout, "condition not reached in time"
        time.sleep(0.1)
    return time.monotonic() - began


def assert_unavailable(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert int(response.headers["retry-after"]) > 0
    body = response.json()
    assert "database" in body["error"]
    return body


def slack_settings(fake_slack: FakeSlack) -> dict[str, Any]:
    return {
        "slack_bot_token": "xoxb-test", "slack_signing_secret": sr.SECRET, "slack_api_url": fake_slack.base_url,
        "alert_channels": ["CALERT"], "alertmanager_token": AM_TOKEN, "alertmanager_channel": "CALERT",
        "database_timeout": 1.0,
    }


def test_postgres_stopped_and_started_again(
    postgres: Postgres, gateways: GatewayFactory, fake_slack: FakeSlack
) -> None:
    gateway = gateways.build(database_url=postgres.url, **slack_settings(fake_slack))
    served = Served(gateway)
    try:
        assert served.http.get("/readyz").json() == {"status": "ready", "checks": {"database": "ok"}}
        assert served.triage()[0].status_code == 200

        postgres.stop()
        ready = served.http.get("/readyz")
        assert ready.status_code == 503 and ready.json()["down"] == ["database"]
        assert served.http.get("/healthz").status_code == 200  # liveness: the process itself is fine
        for _ in range(3):
            response, seconds = served.triage()
            assert_unavailable(response)
            assert seconds < FAST
        assert_unavailable(served.alertmanager())
        body, _ = sr.message_event(text="db-2 replication lag 300s on orders")
        refused = served.event(body)
        assert refused.status_code == 503  # not acked: Slack delivers it again

        postgres.start()
        assert wait_until(lambda: served.http.get("/readyz").status_code == 200) < 15
        response, _ = served.triage()
        assert response.status_code == 200, response.text
        assert served.alertmanager().status_code == 200
        # Slack's retry of the event it could not deliver: now recorded, and its card is posted.
        assert served.event(body).status_code == 200
        ts = json.loads(body)["event"]["ts"]
        fake_slack.wait_for(lambda: [p for p in fake_slack.posts() if p.args.get("thread_ts") == ts] or None, 10)
    finally:
        served.stop()


def test_shutdown_takes_seconds_with_postgres_down(
    postgres: Postgres, gateways: GatewayFactory, fake_slack: FakeSlack
) -> None:
    gateway = gateways.build(database_url=postgres.url, **slack_settings(fake_slack))
    served = Served(gateway)
    assert served.triage()[0].status_code == 200
    postgres.stop()
    assert served.triage()[0].status_code == 503
    assert served.stop() < 8


def test_sqlite_locked_by_another_process(gateways: GatewayFactory, tmp_path: Path) -> None:
    gateway = gateways.build(database_timeout=1.0)
    served = Served(gateway)
    holder = sqlite3.connect(gateway.settings.db_path, isolation_level=None, check_same_thread=False)
    try:
        assert served.triage()[0].status_code == 200
        holder.execute("BEGIN EXCLUSIVE")
        ready = served.http.get("/readyz")
        assert ready.status_code == 503 and "database" in ready.json()["checks"]
        for _ in range(2):
            response, seconds = served.triage()
            assert_unavailable(response)
            assert seconds < FAST
        holder.execute("ROLLBACK")
        assert wait_until(lambda: served.http.get("/readyz").status_code == 200) < 10
        response, _ = served.triage()
        assert response.status_code == 200
        # The card that was answered is the one on record.
        triage_id = response.json()["meta"]["triage_id"]
        assert gateway.store.inner.get_triage(triage_id) is not None  # type: ignore[attr-defined]
    finally:
        holder.close()
        assert served.stop() < 8


async def test_the_gate_fails_fast_while_down_and_probes_its_way_back(tmp_path: Path) -> None:
    from bot.health import DatabaseGate, DatabaseUnavailable, is_outage
    from bot.store import open_store

    store = open_store(str(tmp_path / "gate.db"), timeout=0.3)
    now = [0.0]
    gate = DatabaseGate(store, timeout=0.3, monotonic=lambda: now[0])
    holder = sqlite3.connect(str(tmp_path / "gate.db"), isolation_level=None)
    try:
        await gate.call(store.heartbeat, "r1", 1.0)
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(DatabaseUnavailable):
            await gate.call(store.heartbeat, "r1", 2.0)
        assert not gate.available and "locked" in (gate.reason or "")
        began = time.monotonic()
        with pytest.raises(DatabaseUnavailable):
            await gate.call(store.heartbeat, "r1", 3.0)  # no second wait for the lock
        assert time.monotonic() - began < 0.1
        holder.execute("ROLLBACK")
        with pytest.raises(DatabaseUnavailable):
            await gate.call(store.heartbeat, "r1", 4.0)  # not yet time to probe
        now[0] += 1.5
        await gate.call(store.heartbeat, "r1", 5.0)  # the probe
        assert gate.available and await gate.check() is None
    finally:
        holder.close()
        store.close()
    assert is_outage(sqlite3.OperationalError("database is locked"))
    assert not is_outage(sqlite3.OperationalError("no such table: x"))
    assert not is_outage(ValueError("bug"))


async def test_templates_taken_for_a_refused_record_are_saved_with_a_later_one(gateways: GatewayFactory) -> None:
    gateway = gateways.build(database_timeout=0.3)
    service = gateway.service
    identifier = await service.identity.ready()
    holder = sqlite3.connect(gateway.settings.db_path, isolation_level=None, check_same_thread=False)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        await service.triage(ALERT)  # answered, but neither the record nor the new template written
        # The template learned from it was due to be saved with the record: still waiting to be saved.
        assert identifier.has_dirty
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    learned = identifier.identify(ALERT).incident_key
    stored: set[str] = set()
    deadline = time.monotonic() + 10
    while learned not in stored and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        await service.triage("disk full on node-7")  # a later write, once the database answers again
        stored = {row[0] for row in gateway.store.inner.load_templates(1000)}  # type: ignore[attr-defined]
    assert learned in stored
