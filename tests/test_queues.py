"""Card queues: one channel's backlog never delays another, a dropped post lands once, queue gauges."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest

from bot.server import build_app
from bot.wiring import Gateway
from tests.conftest import GatewayFactory
from tests.fakes import slack_requests as sr
from tests.fakes.slack import FakeSlack
from tests.servers import serve

BUSY, QUIET = "CBUSY", "CQUIET"


@dataclass
class Queues:
    gateway: Gateway
    slack: FakeSlack
    http: httpx.Client

    def alert(self, channel: str, text: str, ts: str) -> int:
        body, _ = sr.message_event(user="U777", text=text, ts=ts, channel=channel)
        headers = sr.signed_headers(body, "application/json")
        return self.http.post("/slack/events", content=body.encode(), headers=headers).status_code

    def posts_in(self, channel: str) -> int:
        return sum(1 for p in self.slack.posts() if p.args.get("channel") == channel)


@pytest.fixture
def queues(gateways: GatewayFactory, fake_slack: FakeSlack) -> Iterator[Queues]:
    # No model: heuristic cards are instant, so only the Slack pacing decides when cards arrive.
    gateway = gateways.build(
        slack_bot_token="xoxb-test", slack_signing_secret=sr.SECRET, slack_api_url=fake_slack.base_url,
        alert_channels=[BUSY, QUIET], slack_post_interval=0.5, counter_interval=0.3,
    )
    with serve(build_app(gateway), timeout=30) as url, httpx.Client(base_url=url, timeout=30) as http:
        yield Queues(gateway, fake_slack, http)


def test_a_backlog_in_one_channel_never_delays_another(queues: Queues) -> None:
    base = time.time()
    texts = [f"[FIRING:1] Job{n}Failed on worker-{n} (batch{n}) | job{n} failed" for n in range(120)]
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda n: queues.alert(BUSY, texts[n], f"{base + n / 1000:.6f}"), range(120)))
    assert statuses == [200] * 120
    queues.slack.wait_for(lambda: queues.posts_in(BUSY) >= 1, timeout=20)
    sent = time.monotonic()
    assert queues.alert(QUIET, "[FIRING:1] DiskFull on db-1 | disk 97% full", f"{time.time():.6f}") == 200
    queues.slack.wait_for(lambda: queues.posts_in(QUIET) == 1, timeout=10)
    assert time.monotonic() - sent < 5.0
    # Paced at one card per 0.5 s, most of the busy channel's backlog is still waiting.
    assert queues.posts_in(BUSY) < 60
    metrics = queues.http.get("/metrics").text
    assert 'triage_queue_depth{queue="cards",state="pending"}' in metrics
    assert "triage_queue_oldest_seconds" in metrics
    # Let the backlog go at full speed so shutdown's drain does not have to wait for it.
    assert queues.gateway.pump is not None
    queues.gateway.pump.pace = 0.0


def test_a_post_whose_answer_is_lost_arrives_exactly_once(queues: Queues) -> None:
    queues.slack.drop_after("chat.postMessage")
    assert queues.alert(QUIET, "[FIRING:1] KubePodCrashLooping api-0 prod", f"{time.time():.6f}") == 200

    def posted() -> bool:
        incidents = queues.gateway.store.incidents()
        return bool(incidents) and incidents[0].post_state == "posted"

    queues.slack.wait_for(posted, timeout=20)
    assert len(queues.slack.calls_to("chat.postMessage")) == 1
    assert len(queues.slack.posts()) == 1
    # The second attempt looked in the channel (by the card's metadata) instead of posting again.
    assert queues.slack.calls_to("conversations.replies") or queues.slack.calls_to("conversations.history")
    (incident,) = queues.gateway.store.incidents()
    assert incident.card_ts == queues.slack.posts()[0].response["ts"]
