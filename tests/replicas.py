"""Test helper: several `triage-bot serve` processes (replicas) on one database, with the fakes behind them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg

from tests.fakes import slack_requests as sr
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import FakeSlack

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def replica_env(
    database: dict[str, str], slack: FakeSlack, model: FakeOpenAI, channel: str, **extra: str
) -> dict[str, str]:
    """The environment of a serving replica: `database` is TRIAGE_DATABASE_URL or TRIAGE_DB."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SLACK_", "TRIAGE_"))}
    env.update(
        PYTHONPATH=str(ROOT), OPENAI_API_KEY="k", OPENAI_BASE_URL=model.base_url, SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET=sr.SECRET, SLACK_API_URL=slack.base_url, TRIAGE_ALERT_CHANNELS=channel,
        TRIAGE_SLACK_POST_INTERVAL="0.05", TRIAGE_COUNTER_INTERVAL="0.2", TRIAGE_LOG_LEVEL="info",
    )
    env.update(database)
    env.update(extra)
    return env


@dataclass
class Replica:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


def start_replica(env: dict[str, str], log: Path, timeout: float = 30.0) -> Replica:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log.open("ab"),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return Replica(process, url, log)
        except httpx.HTTPError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError(f"replica did not start: {log.read_text()[-3000:]}")


@contextmanager
def replicas(count: int, env: dict[str, str], directory: Path) -> Iterator[list[Replica]]:
    started: list[Replica] = []
    try:
        for n in range(count):
            started.append(start_replica(env, directory / f"replica-{n}.log"))
        yield started
    finally:
        for replica in started:
            replica.stop()


def slack_message(
    client: httpx.Client, url: str, channel: str, text: str, ts: str, event_id: str | None = None, retry: int = 0
) -> int:
    """Deliver a signed message event to one replica, as Slack does (a re-delivery carries X-Slack-Retry-Num)."""
    body, _ = sr.message_event(event_id, user="U9", text=text, ts=ts, channel=channel)
    headers = sr.signed_headers(body, "application/json")
    if retry:
        headers.update({"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"})
    return client.post(f"{url}/slack/events", content=body.encode(), headers=headers).status_code


def query(database_url: str, sql: Any, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(sql, args).fetchall()
