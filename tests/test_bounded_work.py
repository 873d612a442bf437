"""Bounded work per message: huge Slack events and Alertmanager notifications never stall the gateway."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.alerts.spool import check_payload, seal, unseal
from bot.slack import payloads
from tests.fakes import slack_requests as sr
from tests.fakes.slack import FakeSlack
from tests.gateway import GatewayFactory
from tests.slack_harness import SlackApp, slack_app

AM_TOKEN = "am-token"
SECRET = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"


def alertmanager_payload(count: int) -> dict[str, Any]:
    alerts = [
        {
            "status": "firing",
            "labels": {"alertname": f"HighLatency{n % 20}", "severity": "warning",
                       "instance": f"10.0.{n % 250}.1:9100"},
            "annotations": {"summary": f"p99 latency above 500ms on api-{n}", "description": f"token={SECRET}"},
            "startsAt": "2026-12-04T10:00:00Z",
            "generatorURL": f"http://prometheus:9090/graph?g0.expr=x{n}",
        }
        for n in range(count)
    ]
    return {"version": "4", "status": "firing", "receiver": "triage", "groupLabels": {}, "alerts": alerts}


def huge_event(fields: int) -> dict[str, Any]:
    attachment = {
        "title": "Disk almost full on db-2",
        "fields": [{"title": f"field {n}", "value": f"value {n} of the alert", "short": True} for n in range(fields)],
    }
    return {"type": "message", "subtype": "bot_message", "bot_id": "BALERTS", "channel": "CALERT",
            "text": "", "attachments": [attachment]}


@pytest.fixture
def app(gateways: GatewayFactory, fake_slack: FakeSlack) -> Iterator[SlackApp]:
    with slack_app(gateways, fake_slack, alertmanager_token=AM_TOKEN, alertmanager_channel="CAM") as served:
        yield served


class HealthProbe:
    """Asks /healthz every 50 ms from its own thread and remembers the slowest answer."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.slowest = 0.0
        self.answers = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as http:
            while not self._stop.is_set():
                started = time.monotonic()
                assert http.get("/healthz").status_code == 200
                self.slowest = max(self.slowest, time.monotonic() - started)
                self.answers += 1
                self._stop.wait(0.05)


def test_health_answers_while_a_huge_event_and_a_huge_webhook_are_handled(app: SlackApp) -> None:
    event, _ = sr.message_event(**{k: v for k, v in huge_event(11_000).items() if k != "type"})
    webhook = json.dumps(alertmanager_payload(20_000)).encode()
    with HealthProbe(str(app.http.base_url)) as probe:
        time.sleep(0.2)
        started = time.monotonic()
        acked = app.event(event)
        slack_ack = time.monotonic() - started
        started = time.monotonic()
        response = app.http.post(
            "/v1/alerts/alertmanager", content=webhook,
            headers={"Authorization": f"Bearer {AM_TOKEN}", "Content-Type": "application/json"},
        )
        webhook_ack = time.monotonic() - started
        assert response.status_code == 200, response.text
        assert response.json()["accepted"] == 20_000
        store = app.gateway.store
        # Processing goes on in the background while health checks keep being answered.
        app.slack.wait_for(lambda: store.alert_counts().get("done", 0) + store.alert_counts().get("accepted", 0)
                           > 500, timeout=30)
        time.sleep(1.0)
    assert acked.status_code == 200 and slack_ack < 2.5, slack_ack
    assert webhook_ack < 1.0, webhook_ack
    assert probe.answers > 5 and probe.slowest < 0.5, probe.slowest
    # Nothing of the payload's credential reached the database in the clear.
    database = app.gateway.settings.db_path
    for path in (database, f"{database}-wal"):
        try:
            content = open(path, "rb").read()  # noqa: SIM115
        except FileNotFoundError:
            continue
        assert SECRET.encode() not in content


def test_a_resent_event_is_dropped_before_its_text_is_read(app: SlackApp) -> None:
    body, event_id = sr.message_event(subtype="bot_message", bot_id="BALERTS", text="Disk /var on db-2 at 97%")
    app.event(body)
    app.posted(1)
    app.event(body)
    time.sleep(0.3)
    assert len(app.gateway.store.feedback_rows()) == 0 and len(app.slack.posts()) == 1
    assert app.gateway.store.claimed((event_id,))


def test_a_spooled_payload_survives_and_is_sealed() -> None:
    raw = json.dumps(alertmanager_payload(3)).encode()
    blob = seal(raw, "s3cret")
    assert SECRET.encode() not in blob and b"HighLatency" not in blob
    assert unseal(blob, "s3cret") == raw
    assert unseal(blob, "another") is None and unseal(blob[:-1] + bytes([blob[-1] ^ 1]), "s3cret") is None
    assert check_payload(raw)["alerts"][0]["labels"]["alertname"] == "HighLatency0"


def test_text_of_a_huge_message_is_bounded_and_quick() -> None:
    started = time.monotonic()
    text = payloads.alert_text(huge_event(11_000))
    assert time.monotonic() - started < 0.5
    assert text.startswith("Disk almost full on db-2") and len(text) <= payloads.MAX_TEXT_CHARS
    # Each part once; a repeated fallback is left out.
    same = "Disk full on db-2"
    event = {"text": same, "attachments": [{"fallback": same, "text": same}]}
    assert payloads.alert_text(event) == "Disk full on db-2"


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(max_size=300), max_size=60))
def test_alert_text_never_fails_and_stays_bounded(values: list[str]) -> None:
    event = {"text": values[0] if values else None,
             "attachments": [{"fields": [{"title": v, "value": v} for v in values]}],
             "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": v}} for v in values]}
    assert len(payloads.alert_text(event)) <= payloads.MAX_TEXT_CHARS


def test_a_megabyte_of_blanks_is_read_quickly() -> None:
    started = time.monotonic()
    assert payloads.alert_text({"text": " " * 1_000_000, "attachments": [{"text": "\n" * 1_000_000}]}) == ""
    assert time.monotonic() - started < 1.0
