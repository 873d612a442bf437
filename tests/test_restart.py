"""Restart safety: SIGKILL the served gateway mid-storm, start it again, every alert ends in one card."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes import slack_requests as sr
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import FakeSlack
from tests.replicas import query

ROOT = Path(__file__).resolve().parents[1]
CHANNEL = "CALERT"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log.open("ab"),
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError(f"gateway did not start: {log.read_text()[-2000:]}")


def send(port: int, text: str, ts: str) -> int:
    body, _ = sr.message_event(user="U9", text=text, ts=ts, channel=CHANNEL)
    headers = sr.signed_headers(body, "application/json")
    return httpx.post(f"http://127.0.0.1:{port}/slack/events", content=body.encode(), headers=headers).status_code


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[dict[str, str], Callable[[str], list[Any]]]:
    """The gateway's database settings, and a way to query it from the test."""
    if request.param == "postgres":
        url = str(request.getfixturevalue("pg_url"))
        return {"TRIAGE_DATABASE_URL": url}, lambda sql: query(url, sql)
    db = tmp_path / "restart.db"

    def read(sql: str) -> list[Any]:
        with contextlib.closing(sqlite3.connect(db)) as conn:
            return conn.execute(sql).fetchall()

    return {"TRIAGE_DB": str(db)}, read


def test_sigkill_mid_storm_loses_nothing_and_doubles_nothing(
    tmp_path: Path, fake_slack: FakeSlack, fake_openai: FakeOpenAI,
    database: tuple[dict[str, str], Callable[[str], list[Any]]],
) -> None:
    fake_openai.latency = 2.0
    where, read = database
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SLACK_", "TRIAGE_"))}
    env.update(where)
    env.update(
        OPENAI_API_KEY="k", OPENAI_BASE_URL=fake_openai.base_url,
        SLACK_BOT_TOKEN="xoxb-test", SLACK_SIGNING_SECRET=sr.SECRET, SLACK_API_URL=fake_slack.base_url,
        TRIAGE_ALERT_CHANNELS=CHANNEL, TRIAGE_SLACK_POST_INTERVAL="5", TRIAGE_COUNTER_INTERVAL="0.2",
    )
    port = free_port()
    log = tmp_path / "gateway.log"
    gateway = start(port, env, log)
    base = time.time()
    texts = [(f"[FIRING:1] Job{n % 6}Failed (worker-{n % 6}:9100) | failed {n} times", f"{base + n / 1000:.6f}")
             for n in range(120)]
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda item: send(port, *item), texts))
    assert statuses == [200] * len(texts)
    sent = len(texts)
    # some cards are posted, others wait on the model or on pacing: kill now, without any goodbye
    fake_slack.wait_for(lambda: len(fake_slack.posts()) >= 1, timeout=10)
    os.kill(gateway.pid, signal.SIGKILL)
    gateway.wait(10)
    posted_before = len(fake_slack.posts())
    assert posted_before < 6, "the storm ended before the kill; make the model slower"

    # Slow pacing before the kill keeps most cards unposted however slowly the storm was sent; fast after.
    env["TRIAGE_SLACK_POST_INTERVAL"] = "0.5"
    gateway = start(port, env, log)
    try:
        fake_slack.wait_for(lambda: len(fake_slack.posts()) >= 6, timeout=60)
        settled = "select count(*) from incidents where post_state = 'posted' and dirty = 0 and count = 20"
        try:
            fake_slack.wait_for(lambda: read(settled)[0][0] == 6, timeout=60)
        except AssertionError:
            state = read("select count, post_state, dirty from incidents")
            by_status = read("select status, count(*) from alerts group by status")
            raise AssertionError(f"incidents {state}, alerts {by_status}") from None
        alerts = dict(read("select status, count(*) from alerts group by status"))
    finally:
        gateway.send_signal(signal.SIGTERM)
        gateway.wait(30)
    assert alerts == {"done": sent}
    threads = Counter(p.args["thread_ts"] for p in fake_slack.posts())
    assert len(threads) == 6 and set(threads.values()) == {1}, threads
    # uvicorn re-raises SIGTERM once its graceful shutdown is over; ours logged that it finished.
    assert gateway.returncode in (0, -signal.SIGTERM)
    assert '"event": "shutdown_complete"' in log.read_text()
