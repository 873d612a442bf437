"""The HTTP edge under abuse: body limits while reading, one error shape, text/plain, the served process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.app import create_app
from tests.conftest import GatewayFactory
from tests.fakes import slack_requests as sr
from tests.fakes.slack import FakeSlack
from tests.servers import serve
from tests.test_restart import free_port

ROOT = Path(__file__).resolve().parents[1]
MB = 1024 * 1024


def chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    """A body httpx sends with Transfer-Encoding: chunked (no Content-Length)."""
    block = b"x" * size
    sent = 0
    while sent < total:
        yield block
        sent += size


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.fixture
def served(tmp_path: Path, fake_slack: FakeSlack) -> Iterator[tuple[str, int]]:
    """`triage-bot serve` in its own process (so its memory can be read), Slack on, no model."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SLACK_", "TRIAGE_"))}
    env.update(TRIAGE_DB=str(tmp_path / "edge.db"), SLACK_BOT_TOKEN="xoxb-test", SLACK_SIGNING_SECRET=sr.SECRET,
               SLACK_API_URL=fake_slack.base_url)
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--port", str(port)], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=(tmp_path / "log").open("ab"))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise AssertionError((tmp_path / "log").read_text()[-2000:]) from None
            time.sleep(0.05)
    try:
        yield url, process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def test_a_30mb_chunked_body_is_refused_while_reading(served: tuple[str, int]) -> None:
    url, pid = served
    before = peak_rss_mb(pid)
    response = httpx.post(f"{url}/v1/triage", content=chunks(30 * MB),
                          headers={"content-type": "application/json"}, timeout=60)
    assert response.status_code == 413 and "limit" in response.json()["error"]
    assert peak_rss_mb(pid) - before < 100
    assert httpx.get(f"{url}/healthz").status_code == 200


def test_a_30mb_unsigned_body_to_slack_is_refused_without_buffering(served: tuple[str, int]) -> None:
    url, pid = served
    before = peak_rss_mb(pid)
    chunked = httpx.post(f"{url}/slack/events", content=chunks(30 * MB),
                         headers={"content-type": "application/json"}, timeout=60)
    assert chunked.status_code in (401, 413) and chunked.json()["error"]
    forged = sr.signed_headers("{}", "application/json", secret="not-the-secret")
    signed_wrong = httpx.post(f"{url}/slack/events", content=chunks(30 * MB), headers=forged, timeout=60)
    assert signed_wrong.status_code in (401, 413) and signed_wrong.json()["error"]
    declared = httpx.post(f"{url}/slack/events", content=b"x" * (30 * MB), headers=forged, timeout=60)
    assert declared.status_code == 413 and declared.json()["error"]
    assert peak_rss_mb(pid) - before < 100


def test_a_small_unsigned_body_to_slack_is_401(served: tuple[str, int]) -> None:
    url, _ = served
    response = httpx.post(f"{url}/slack/events", content=b'{"type": "event_callback"}',
                          headers={"content-type": "application/json"})
    assert response.status_code == 401 and response.json() == {"error": "invalid request"}


def test_every_client_error_has_one_shape(gateways: GatewayFactory) -> None:
    gateway = gateways.build()
    with serve(create_app(gateway.settings, gateway.service)) as url:
        responses = {
            "unknown route": httpx.get(f"{url}/v2/nothing"),
            "wrong method": httpx.get(f"{url}/v1/triage"),
            "bad utf-8": httpx.post(f"{url}/v1/triage", content=b'{"text": "\xff\xfe"}',
                                    headers={"content-type": "application/json"}),
            "not json": httpx.post(f"{url}/v1/triage", content=b"{", headers={"content-type": "application/json"}),
            "deep json": httpx.post(f"{url}/v1/triage", content=b"[" * 100_000 + b"]" * 100_000,
                                    headers={"content-type": "application/json"}),
            "not an object": httpx.post(f"{url}/v1/triage", json=["text"]),
            "form": httpx.post(f"{url}/v1/triage", data={"text": "disk full"}),
            "no text": httpx.post(f"{url}/v1/triage", json={"source": "x"}),
        }
    statuses = {name: r.status_code for name, r in responses.items()}
    assert statuses == {"unknown route": 404, "wrong method": 405, "bad utf-8": 422, "not json": 422,
                        "deep json": 422, "not an object": 422, "form": 415, "no text": 422}
    for name, response in responses.items():
        body = response.json()
        assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"], name
    assert responses["wrong method"].headers["allow"] == "POST"
    assert "/v2/nothing" in responses["unknown route"].json()["error"]


def test_plain_text_body_is_triaged_as_the_text(gateways: GatewayFactory) -> None:
    gateway = gateways.build()
    with serve(create_app(gateway.settings, gateway.service)) as url:
        response = httpx.post(f"{url}/v1/triage", content=b"[FIRING:1] KubePodCrashLooping payments-api-0",
                              headers={"content-type": "text/plain; charset=utf-8"})
        empty = httpx.post(f"{url}/v1/triage", content=b"  \n", headers={"content-type": "text/plain"})
    assert response.status_code == 200, response.text
    assert response.json()["meta"]["source"] == "api" and response.json()["category"] == "infra"
    assert empty.status_code == 422 and "empty" in empty.json()["error"]


def test_declared_oversize_is_refused_before_reading(gateways: GatewayFactory) -> None:
    gateway = gateways.build()
    with serve(create_app(gateway.settings, gateway.service)) as url:
        response = httpx.post(f"{url}/v1/triage", content=b"x" * (9 * MB), headers={"content-type": "text/plain"})
    assert response.status_code == 413 and response.json()["error"]
