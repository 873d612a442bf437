"""Single flight across replicas sharing a store (bot/triage/flight.py), on both backends: one of them asks the
model, the others serve its answer; a waiter waits no longer than its deadline and takes over from a dead holder."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.card import TriageResult
from bot.triage.flight import FlightWaitExpired, SharedFlight
from tests.conftest import Clock, Opener
from tests.fakes.openai_server import FakeOpenAI
from tests.gateway import GatewayFactory
from tests.test_slack_blocks import make_result

LEASE = 60.0
REPLICA_LEASE = 10.0


def flights(opener: Opener, clock: Clock, count: int) -> list[SharedFlight]:
    """`count` replicas' flights over two stores on one database, every replica beating now."""
    stores = [opener(), opener()]
    made = [SharedFlight(stores[n % 2], f"r{n}", lease=LEASE, replica_lease=REPLICA_LEASE, clock=clock, poll=0.01)
            for n in range(count)]
    for flight in made:
        flight.store.heartbeat(flight.owner, clock.now)
    return made


async def ask_once(flight: SharedFlight, key: str, answer: TriageResult) -> TriageResult | str:
    """What a replica does: lead (ask, cache, land) or serve what the leader landed."""
    landed = await flight.lead_or_wait(key, until=time.monotonic() + 30)
    if landed is not None:
        return landed
    await asyncio.sleep(0.05)  # the model call
    await flight.store.run(flight.store.put_cached, key, answer, 600.0)
    await flight.land(key)
    return "asked"


async def test_replicas_asked_at_once_make_one_call_and_serve_its_answer(opener: Opener, clock: Clock) -> None:
    made = flights(opener, clock, 6)
    answer = make_result(meta={"triage_id": "cache"})
    for round_ in range(10):
        outcomes = await asyncio.gather(*(ask_once(flight, f"k{round_}", answer) for flight in made))
        assert outcomes.count("asked") == 1, outcomes
        assert [o for o in outcomes if o != "asked"] == [answer] * 5


async def test_a_waiter_gives_up_at_its_deadline_and_takes_over_once_the_holder_is_dead(
    opener: Opener, clock: Clock
) -> None:
    holder, waiter = flights(opener, clock, 2)
    assert await holder.lead_or_wait("k") is None
    began = time.monotonic()
    with pytest.raises(FlightWaitExpired):
        await waiter.lead_or_wait("k", until=began + 0.3)
    assert 0.3 <= time.monotonic() - began < 5
    # the holder's replica stops beating: once its heartbeat is stale the waiter asks instead
    clock.now += REPLICA_LEASE + 1
    waiter.store.heartbeat(waiter.owner, clock.now)
    assert await waiter.lead_or_wait("k", until=time.monotonic() + 5) is None
    await holder.land("k")  # a holder that was only slow cannot end the new holder's flight
    assert not waiter.store.claim_flight("k", "r9", clock.now, LEASE, clock.now - REPLICA_LEASE)


async def test_a_holder_that_lands_without_an_answer_lets_a_waiter_ask(opener: Opener, clock: Clock) -> None:
    holder, waiter = flights(opener, clock, 2)
    assert await holder.lead_or_wait("k") is None
    waiting = asyncio.ensure_future(waiter.lead_or_wait("k", until=time.monotonic() + 10))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await holder.land("k")  # its model call failed: nothing cached
    assert await waiting is None


async def test_a_replica_waiting_on_another_answers_by_the_rules_at_its_deadline_without_a_model_call(
    pg_url: str, fake_openai: FakeOpenAI, gateways: GatewayFactory
) -> None:
    """Two gateways on one PostgreSQL database; the second's deadline comes while the first is still asking."""
    fake_openai.latency = 2.0
    slow = gateways.build(fake_openai, database_url=pg_url, model_timeout=10.0, deadline=10.0)
    hurried = gateways.build(fake_openai, database_url=pg_url, deadline=0.5)
    for gateway in (slow, hurried):
        gateway.store.heartbeat(gateway.replica, time.time())
    text = "[FIRING:1] KafkaConsumerLag group ledger lag 90000 on topic orders"
    asking = asyncio.ensure_future(slow.service.triage(text))
    while fake_openai.calls == 0:  # the first holds the flight once it is asking the model
        await asyncio.sleep(0.01)
    began = time.monotonic()
    degraded = await hurried.service.triage(text)
    assert time.monotonic() - began < 1.5
    assert (degraded.meta.engine, degraded.meta.degraded_reason) == ("heuristic", "deadline")
    assert hurried.service.breaker.state == "closed"
    answered = await asking
    assert (answered.meta.engine, answered.meta.cached) == ("model", False)
    assert fake_openai.calls == 1
    again = await hurried.service.triage(text)
    assert (again.meta.engine, again.meta.cached) == ("model", True) and fake_openai.calls == 1
