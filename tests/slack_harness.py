"""Test helper: a served gateway with the Slack app, signed requests in, the fake Slack API recording."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from bot.server import build_app
from bot.wiring import Gateway
from tests.fakes import slack_requests as sr
from tests.fakes.slack import Call, FakeSlack
from tests.gateway import GatewayFactory
from tests.servers import serve

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


@dataclass
class SlackApp:
    gateway: Gateway
    slack: FakeSlack
    http: httpx.Client

    def send(self, body: str, content_type: str) -> httpx.Response:
        response = self.http.post("/slack/events", content=body.encode(), headers=sr.signed_headers(body, content_type))
        assert response.status_code == 200, response.text
        return response

    def interact(self, body: str) -> httpx.Response:
        return self.send(body, FORM)

    def event(self, body: str) -> httpx.Response:
        return self.send(body, JSON)

    def posted(self, count: int, timeout: float = 5.0) -> list[Call]:
        """Wait for `count` successful chat.postMessage calls."""
        def enough() -> list[Call]:
            posts = self.slack.posts()
            return posts if len(posts) >= count else []

        return self.slack.wait_for(enough, timeout)

    def card(self, post: Call) -> dict[str, Any]:
        found = self.slack.message(post.response["channel"], post.response["ts"])
        assert found is not None
        return found


def blocks_text(message: dict[str, Any]) -> str:
    return json.dumps(message.get("blocks") or [], ensure_ascii=False)


@contextmanager
def slack_app(gateways: GatewayFactory, fake_slack: FakeSlack, **settings: Any) -> Iterator[SlackApp]:
    """The gateway served on loopback with the heuristic engine (cards follow the text) and the fake API."""
    gateway = gateways.build(
        slack_bot_token="xoxb-test",
        slack_signing_secret=sr.SECRET,
        slack_api_url=fake_slack.base_url,
        **{"alert_channels": ["CALERT"], **settings},
    )
    with serve(build_app(gateway)) as url, httpx.Client(base_url=url, timeout=10) as http:
        yield SlackApp(gateway, fake_slack, http)
