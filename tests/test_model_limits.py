"""The model as a bounded resource: the circuit probe always resolves, calls are capped, budget is reserved."""

from __future__ import annotations

import asyncio
import time

from bot.triage.resilience import CircuitBreaker
from tests.conftest import GatewayFactory
from tests.fakes.openai_server import FakeOpenAI, Reply

ALERT = "[FIRING:1] KubePodCrashLooping (payments-api-0 prod) | Pod is crash looping"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_probe_that_ends_without_a_verdict_reopens_the_circuit() -> None:
    clock = Clock()
    breaker = CircuitBreaker(1, 10.0, clock)
    assert breaker.enter() == "call"
    breaker.record_failure()
    assert breaker.state == "open" and breaker.enter() is None
    clock.now = 10.0
    probe = breaker.enter()
    assert probe == "probe" and breaker.enter() is None  # one probe at a time
    breaker.settle(probe)  # the probe raised something that is not a model error
    assert breaker.state == "open"
    clock.now = 20.0
    probe = breaker.enter()
    breaker.record_success()
    breaker.settle(probe)
    assert breaker.state == "closed"


def test_a_lost_probe_stops_blocking_after_a_cooldown() -> None:
    clock = Clock()
    breaker = CircuitBreaker(1, 10.0, clock)
    breaker.record_failure()
    clock.now = 10.0
    assert breaker.enter() == "probe"
    clock.now = 15.0
    assert breaker.enter() is None
    clock.now = 20.0
    assert breaker.enter() == "probe"


def test_settling_an_ordinary_call_leaves_a_probe_alone() -> None:
    clock = Clock()
    breaker = CircuitBreaker(1, 10.0, clock)
    call = breaker.enter()
    breaker.record_failure()
    clock.now = 10.0
    assert breaker.enter() == "probe"
    breaker.settle(call)  # the call admitted while closed ends during the probe
    assert breaker.state == "half_open"


async def test_deeply_nested_answer_to_the_probe_resolves_the_circuit(
    fake_openai: FakeOpenAI, gateways: GatewayFactory
) -> None:
    fake_openai.default = Reply.error(503)
    service = gateways.build(fake_openai, model_attempts=1, circuit_failures=1, circuit_cooldown=0.3).service
    await service.triage(ALERT)
    assert service.breaker.state == "open"
    await asyncio.sleep(0.35)
    fake_openai.default = Reply.text('{"a":' * 50_000 + "1" + "}" * 50_000)
    probed = await service.triage(ALERT + " probe")
    assert probed.meta.engine == "heuristic"
    assert service.breaker.state in ("closed", "open")
    fake_openai.default = Reply.card()
    await asyncio.sleep(0.35)
    recovered = await service.triage(ALERT + " later")
    assert recovered.meta.engine == "model" and service.breaker.state == "closed"


async def test_model_calls_in_flight_are_capped(fake_openai: FakeOpenAI, gateways: GatewayFactory) -> None:
    fake_openai.latency = 0.4
    service = gateways.build(fake_openai, model_concurrency=2).service
    started = time.monotonic()
    results = await asyncio.gather(*(service.triage(f"{ALERT} on node-{n}") for n in range(6)))
    elapsed = time.monotonic() - started
    assert all(r.meta.engine == "model" for r in results) and fake_openai.calls == 6
    # Six calls of 0.4 s through two slots take three rounds at least.
    assert elapsed >= 3 * 0.4 - 0.05


async def test_concurrent_calls_reserve_the_budget_before_they_start(
    fake_openai: FakeOpenAI, gateways: GatewayFactory
) -> None:
    fake_openai.latency = 0.3
    service = gateways.build(fake_openai, daily_budget_usd=0.0001).service
    results = await asyncio.gather(*(service.triage(f"{ALERT} on node-{n}") for n in range(5)))
    assert fake_openai.calls == 1
    engines = sorted(r.meta.engine for r in results)
    assert engines == ["heuristic"] * 4 + ["model"]
    assert {r.meta.degraded_reason for r in results if r.meta.engine == "heuristic"} == {"budget_exhausted"}
