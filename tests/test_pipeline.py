"""The pipeline against a fake OpenAI-compatible server over real HTTP: retries, deadline, circuit, cache."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import time

import pytest

from bot.observability import configure_logging
from tests.conftest import GatewayFactory
from tests.fakes.openai_server import FakeOpenAI, Reply

ALERT = "[FIRING:1] HostHighCpuLoad (node-7:9100 node) | CPU load is above 80% on node-7 | VALUE = 93"


async def test_valid_card_from_the_model_is_recorded_with_metadata(
    fake_openai: FakeOpenAI, gateways: GatewayFactory
) -> None:
    gateway = gateways.build(fake_openai)
    result = await gateway.service.triage(ALERT)
    meta = result.meta
    assert (result.category, result.severity, meta.engine, meta.model) == ("infra", "P1", "model", "gpt-4o-mini")
    assert meta.prompt_version.startswith("triage@") and not meta.degraded and not meta.cached
    assert meta.cost_usd == pytest.approx((420 * 0.15 + 96 * 0.60) / 1e6)
    assert fake_openai.calls == 1
    request = fake_openai.requests[0]["json"]
    assert request["response_format"]["type"] == "json_schema"
    assert request["response_format"]["json_schema"]["strict"] is True
    assert gateway.store.get_triage(meta.triage_id) == result


async def test_openai_client_makes_no_retries_of_its_own(gateways: GatewayFactory, fake_openai: FakeOpenAI) -> None:
    gateway = gateways.build(fake_openai)
    assert gateway.openai_client is not None and gateway.openai_client.max_retries == 0


async def test_429_honours_retry_after_then_succeeds(fake_openai: FakeOpenAI, gateways: GatewayFactory) -> None:
    fake_openai.script(Reply.error(429, "slow down", {"Retry-After": "1"}))
    result = await gateways.build(fake_openai).service.triage(ALERT)
    assert result.meta.engine == "model" and result.meta.retries == 1
    first, second = fake_openai.requests
    assert second["at"] - first["at"] >= 0.95


@pytest.mark.parametrize("status", [500, 503, 408, 409])
async def test_transient_errors_are_retried(status: int, fake_openai: FakeOpenAI, gateways: GatewayFactory) -> None:
    fake_openai.script(Reply.error(status), Reply.error(status))
    result = await gateways.build(fake_openai).service.triage(ALERT)
    assert result.meta.engine == "model" and fake_openai.calls == 3 and result.meta.retries == 2


async def test_retries_are_bounded_then_the_heuristic_answers(
    fake_openai: FakeOpenAI, gateways: GatewayFactory
) -> None:
    fake_openai.default = Reply.error(503, "overloaded")
    result = await gateways.build(fake_openai, model_attempts=3).service.triage(ALERT)
    assert fake_openai.calls == 3
    assert result.meta.engine == "heuristic" and result.meta.degraded
    assert result.meta.degraded_reason == "server_error"


@pytest.mark.parametrize(("status", "kind"), [(400, "http_400"), (401, "auth_error"), (403, "auth_error"),
                                               (404, "http_404"), (422, "http_422")])
async def test_client_errors_are_never_retried(
    status: int, kind: str, fake_openai: FakeOpenAI, gateways: GatewayFactory
) -> None:
    fake_openai.script(Reply.error(status, "nope"))
    result = await gateways.build(fake_openai).service.triage(ALERT)
    assert fake_openai.calls == 1
    assert result.meta.engine == "heuristic" and result.meta.degraded_reason == kind


async def test_deadline_holds_when_the_model_hangs(fake_openai: FakeOpenAI, gateways: GatewayFactory) -> None:
    fake_openai.default = Reply.hang(10)
    gateway = gateways.build(fake_openai, model_timeout=0.5, deadline=1.5, model_attempts=5)
    started = time.monotonic()
    result = await gateway.service.triage(ALERT)
    elapsed = time.monotonic() - started
    assert elapsed < 2.5
    assert result.meta.engine == "heuristic" and result.meta.degraded_reason in ("timeout", "deadline")
    assert 1 <= fake_openai.calls <= 3


async def test_connection_refused_degrades(gateways: GatewayFactory) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gateway = gateways.build(openai_api_key="k", openai_base_url=f"http://127.0.0.1:{port}/v1", model_attempts=2)
    result = await gateway.service.triage(ALERT)
    assert result.meta.degraded_reason == "connection_error" and result.meta.retries == 1


async def test_garbage_body_is_retried_then_degrades(fake_openai: FakeOpenAI, gateways: GatewayFactory) -> None:
    fake_openai.default = Reply.garbage()
    result = await gateways.build(fake_openai, model_attempts=2).service.triage(ALERT)
    assert fake_openai.calls == 2 and result.meta.degraded_reason == "bad_response"


async def test_malformed_json_gets_one_repair_attempt(fake_openai: FakeOpenAI, gateways: GatewayFactory) -> None:
    fake_openai.script(Reply.text('{"category": "infra", "severity": "P1", "summary": "cut off'))
    result = await gateways.build(fake_openai).service.triage(ALERT)
    assert result.meta.engine == "model" and fake_openai.calls == 2
    repair = fake_openai.requests[1]["json"]["messages"]
    assert repair[-2]["role"] == "assistant" and "invalid" in repair[-1]["content"]


async def test_invalid_fast_answers_escalate_to_the_strong_model(
    fake_openai: FakeOpenAI, gateways: GatewayFactory
) -> None:
    bad = Reply.card(severity="P9")
    fake_openai.script(bad, bad)
    result = await gateways.build(fake_openai).service.triage(ALERT)
    models = [r["json"]["model"] for r in fake_openai.requests]
    assert models == ["gpt-4o-mini", "gpt-4o-mini", "gpt-4o"]
    assert result.meta.model == "gpt-4o" and result.meta.engine == "model"


async def test_schema_violations_everywhere_fall_back_to_heuristics(
    fake_openai: FakeOpenAI, gateways: GatewayFactory
) -> None:
    fake_openai.default = Reply.card(steps=["only one"])
    result = await gateways.build(fake_openai).service.triage(ALERT)
    assert fake_openai.calls == 4  # fast + repair, strong + repair
    assert result.meta.engine == "heuristic" and result.meta.degraded_reason == "invalid_output"
    assert result.meta.cost_usd > 0  # the failed answers were still paid for


async def test_low_confidence_fast_answer_escalates(fake_openai: FakeOpenAI, gateways: GatewayFactory) -> None:
    fake_openai.script(Reply.card(confidence=0.3), Reply.card(confidence=0.9, severity="P0"))
    result = await gateways.build(fake_openai).service.triage(ALERT)
    assert result.meta.model == "gpt-4o" and result.severity == "P0" and fake_openai.calls == 2


async def test_low_confidence_result_needs_review(fake_openai: FakeOpenAI, gateways: GatewayFactory) -> None:
    fake_openai.default = Reply.card(confidence=0.3)
    result = await gateways.build(fake_openai).service.triage(ALERT)
    assert result.meta.needs_review and result.meta.engine == "model"


@pytest.mark.parametrize("status", [400, 500])
async def test_rejected_json_schema_falls_back_and_is_remembered(
    status: int, fake_openai: FakeOpenAI, gateways: GatewayFactory
) -> None:
    fake_openai.reject_json_schema = status
    service = gateways.build(fake_openai).service
    first = await service.triage(ALERT)
    second = await service.triage(ALERT + " again")
    kinds = [(r["json"].get("response_format") or {}).get("type") for r in fake_openai.requests]
    assert kinds == ["json_schema", "json_object", "json_object"]
    assert first.meta.engine == second.meta.engine == "model"


async def test_circuit_opens_skips_the_model_then_closes(fake_openai: FakeOpenAI, gateways: GatewayFactory) -> None:
    fake_openai.default = Reply.error(503)
    gateway = gateways.build(fake_openai, model_attempts=1, circuit_failures=2, circuit_cooldown=0.5)
    service = gateway.service
    for n in range(2):
        await service.triage(f"{ALERT} {n}")
    assert service.breaker.state == "open" and fake_openai.calls == 2
    started = time.monotonic()
    skipped = await service.triage(ALERT + " during outage")
    assert skipped.meta.degraded_reason == "circuit_open" and fake_openai.calls == 2
    assert time.monotonic() - started < 0.2
    await asyncio.sleep(0.6)
    fake_openai.default = Reply.card()
    recovered = await service.triage(ALERT + " after outage")
    assert recovered.meta.engine == "model" and service.breaker.state == "closed"
    metrics = json.dumps(gateway.metrics.registry.get_sample_value("triage_circuit_state"))
    assert metrics == "0.0"


async def test_identical_input_is_served_from_cache(fake_openai: FakeOpenAI, gateways: GatewayFactory) -> None:
    service = gateways.build(fake_openai).service
    first = await service.triage(ALERT)
    second = await service.triage("  " + ALERT + "\n")
    assert fake_openai.calls == 1
    assert second.meta.cached and second.meta.cost_usd == 0 and second.meta.triage_id != first.meta.triage_id
    assert second.card == first.card


async def test_cache_ttl_zero_calls_again(fake_openai: FakeOpenAI, gateways: GatewayFactory) -> None:
    service = gateways.build(fake_openai, cache_ttl=0).service
    await service.triage(ALERT)
    await service.triage(ALERT)
    assert fake_openai.calls == 2


async def test_fifty_concurrent_identical_requests_make_one_model_call(
    fake_openai: FakeOpenAI, gateways: GatewayFactory
) -> None:
    fake_openai.latency = 0.3
    gateway = gateways.build(fake_openai)
    results = await asyncio.gather(*(gateway.service.triage(ALERT) for _ in range(50)))
    assert fake_openai.calls == 1
    assert sum(not r.meta.cached for r in results) == 1
    assert len({r.meta.triage_id for r in results}) == 50
    assert gateway.store.count_triages() == 50


async def test_budget_routes_to_heuristics_once_spent(fake_openai: FakeOpenAI, gateways: GatewayFactory) -> None:
    service = gateways.build(fake_openai, daily_budget_usd=0.0001).service
    first = await service.triage(ALERT)
    second = await service.triage(ALERT + " other")
    assert first.meta.engine == "model"
    assert second.meta.engine == "heuristic" and second.meta.degraded_reason == "budget_exhausted"
    assert fake_openai.calls == 1


async def test_no_api_key_uses_heuristics_without_degrading(gateways: GatewayFactory) -> None:
    result = await gateways.build().service.triage(ALERT)
    assert result.meta.engine == "heuristic" and not result.meta.degraded


async def test_secrets_never_reach_the_model_nor_the_logs(fake_openai: FakeOpenAI, gateways: GatewayFactory) -> None:
    secrets = ["AKIAIOSFODNN7EXAMPLE", "hunter2secret", "xoxb-1234567890-0987654321-AbCdEf",
               "abcDEF123456ghiJKL789"]
    text = (f"deploy failed: key {secrets[0]} url postgres://svc:{secrets[1]}@db:5432/x slack {secrets[2]} "
            f"Authorization: Bearer {secrets[3]}")
    stream = io.StringIO()
    configure_logging("debug", stream)
    try:
        fake_openai.script(Reply.error(500), Reply.card())
        gateway = gateways.build(fake_openai)
        result = await gateway.service.triage(text)
    finally:
        configure_logging("info")
    sent = " ".join(r["raw"] for r in fake_openai.requests)
    logged = stream.getvalue()
    stored = json.dumps(gateway.store.triage_rows())
    assert "[REDACTED:aws_access_key]" in sent
    for secret in secrets:
        assert secret not in sent and secret not in logged and secret not in stored
    assert set(result.meta.redactions) >= {"aws_access_key", "url_password", "slack_token", "bearer_token"}
    events = [json.loads(line) for line in logged.splitlines()]
    triage_event = next(e for e in events if e["event"] == "triage")
    for key in ("triage_id", "fingerprint", "engine", "model", "prompt_version", "latency_ms", "tokens_in",
                "cost_usd", "retries", "outcome"):
        assert key in triage_event


async def test_every_triage_is_recorded_whatever_happened(fake_openai: FakeOpenAI, gateways: GatewayFactory) -> None:
    fake_openai.script(Reply.card(), Reply.error(400), Reply.garbage(), Reply.garbage(), Reply.garbage())
    gateway = gateways.build(fake_openai)
    results = [await gateway.service.triage(f"{ALERT} #{n}") for n in range(3)]
    results.append(await gateway.service.triage(f"{ALERT} #0"))  # cached
    rows = {row["id"]: row for row in gateway.store.triage_rows()}
    assert set(rows) == {r.meta.triage_id for r in results}
    assert [rows[r.meta.triage_id]["outcome"] for r in results] == ["ok", "degraded", "degraded", "cached"]
    assert all(rows[r.meta.triage_id]["text"].startswith("[FIRING:1]") for r in results)


async def test_cache_survives_a_restart(fake_openai: FakeOpenAI, gateways: GatewayFactory) -> None:
    first = gateways.build(fake_openai)
    await first.service.triage(ALERT)
    again = gateways.build(fake_openai, db_path=first.settings.db_path)
    result = await again.service.triage(ALERT)
    assert result.meta.cached and fake_openai.calls == 1
    await again.service.triage(ALERT + " something new")
    assert fake_openai.calls == 2
