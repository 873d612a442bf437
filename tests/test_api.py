"""POST /v1/triage, /healthz and /metrics over real HTTP."""

from __future__ import annotations

import httpx
import pytest

from bot.app import create_app
from tests.conftest import GatewayFactory
from tests.fakes.openai_server import FakeOpenAI
from tests.servers import serve

ALERT = "[FIRING:1] KubePodCrashLooping (payments-api-0 prod) | Pod is crash looping"


def test_triage_returns_the_card_and_its_metadata(fake_openai: FakeOpenAI, gateways: GatewayFactory) -> None:
    gateway = gateways.build(fake_openai)
    with serve(create_app(gateway.settings, gateway.service)) as url:
        response = httpx.post(f"{url}/v1/triage", json={"text": ALERT})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"category", "severity", "summary", "steps", "confidence", "meta"}
    assert len(body["steps"]) == 3
    for key in ("triage_id", "engine", "model", "prompt_version", "cached", "degraded", "degraded_reason",
                "needs_review", "latency_ms", "cost_usd", "fingerprint"):
        assert key in body["meta"]
    assert gateway.store.get_triage(body["meta"]["triage_id"]) is not None


@pytest.mark.parametrize(
    ("payload", "status", "message"),
    [
        ({"text": "   "}, 422, "empty"),
        ({}, 422, "text"),
        ({"text": 42}, 422, "text"),
        ({"text": "x", "engine": "magic"}, 422, "engine"),
    ],
)
def test_bad_input_gets_a_clear_json_error(
    payload: dict[str, object], status: int, message: str, gateways: GatewayFactory
) -> None:
    gateway = gateways.build()
    with serve(create_app(gateway.settings, gateway.service)) as url:
        response = httpx.post(f"{url}/v1/triage", json=payload)
    assert response.status_code == status
    assert message in response.json()["error"]


def test_malformed_json_body_is_422(gateways: GatewayFactory) -> None:
    gateway = gateways.build()
    with serve(create_app(gateway.settings, gateway.service)) as url:
        response = httpx.post(f"{url}/v1/triage", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422 and response.json()["error"] == "body is not valid JSON"


def test_oversized_body_is_413(gateways: GatewayFactory) -> None:
    gateway = gateways.build()
    with serve(create_app(gateway.settings, gateway.service)) as url:
        response = httpx.post(f"{url}/v1/triage", json={"text": "x" * 2_100_000})
    assert response.status_code == 413 and "limit" in response.json()["error"]


def test_large_text_is_truncated_not_refused(gateways: GatewayFactory) -> None:
    gateway = gateways.build()
    with serve(create_app(gateway.settings, gateway.service)) as url:
        response = httpx.post(f"{url}/v1/triage", json={"text": "ERROR " + "y" * 100_000})
    assert response.status_code == 200 and response.json()["meta"]["truncated"] is True


def test_bearer_token_guards_v1_but_not_healthz(gateways: GatewayFactory) -> None:
    gateway = gateways.build(api_token="s3cret-token")
    with serve(create_app(gateway.settings, gateway.service)) as url:
        missing = httpx.post(f"{url}/v1/triage", json={"text": ALERT})
        wrong = httpx.post(f"{url}/v1/triage", json={"text": ALERT}, headers={"Authorization": "Bearer nope"})
        right = httpx.post(f"{url}/v1/triage", json={"text": ALERT},
                           headers={"Authorization": "Bearer s3cret-token"})
        health = httpx.get(f"{url}/healthz")
    assert missing.status_code == wrong.status_code == 401
    assert right.status_code == 200 and health.status_code == 200
    assert gateway.store.count_triages() == 1


def test_metrics_expose_requests_latency_cache_circuit_and_cost(
    fake_openai: FakeOpenAI, gateways: GatewayFactory
) -> None:
    gateway = gateways.build(fake_openai)
    with serve(create_app(gateway.settings, gateway.service)) as url:
        httpx.post(f"{url}/v1/triage", json={"text": ALERT})
        httpx.post(f"{url}/v1/triage", json={"text": ALERT})
        text = httpx.get(f"{url}/metrics").text
        health = httpx.get(f"{url}/healthz").json()
    assert 'triage_requests_total{engine="model",outcome="ok"} 1.0' in text
    assert 'triage_requests_total{engine="model",outcome="cached"} 1.0' in text
    assert "triage_cache_hits_total 1.0" in text
    assert 'triage_model_latency_seconds_count{model="gpt-4o-mini"} 1.0' in text
    assert "triage_circuit_state 0.0" in text
    assert 'triage_cost_usd_total{model="gpt-4o-mini"}' in text
    assert "triage_model_retries_total" in text and "triage_errors_total" in text
    assert health == {"status": "ok", "engine": "model", "circuit": "closed",
                      "prompt_version": gateway.service.prompt_version, "slack": False, "database": "up"}
