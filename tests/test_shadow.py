"""Shadow runs: a candidate answers sampled live triages in the background, judged beside the live cards."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from bot.report.figures import read_report
from bot.server import build_app
from bot.settings import ConfigError
from bot.shadow.runner import ShadowRunner, load_prompt_file
from bot.shadow.sampling import MAX_PENDING, sampled, shadow_budget, skip_reason
from bot.slack.actions import ACTION_CONFIRM, ACTION_SEVERITY
from bot.wiring import Gateway
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.fakes.slack import FakeSlack
from tests.gateway import GatewayFactory
from tests.servers import serve
from tests.test_slack_scenarios import Harness

LIVE, CANDIDATE = "live-model", "cand-model"
CARD = {"category": "app", "summary": "The checkout service answers slowly.", "confidence": 0.9,
        "steps": ["Check the checkout service's latency dashboard", "Roll back the last deploy",
                  "Post a status update"]}


def two_models(live: str = "P1", candidate: str = "P2", candidate_delay: float = 0.0) -> Any:
    """One fake server answering as two models: the live one and the candidate."""
    def answer(body: dict[str, Any]) -> Reply:
        if body.get("model") == CANDIDATE:
            reply = Reply.card(**CARD, severity=candidate)
            reply.delay = candidate_delay
            return reply
        return Reply.card(**CARD, severity=live)

    return answer


def shadow(gateway: Gateway) -> ShadowRunner:
    assert gateway.service.shadow is not None
    return gateway.service.shadow


# --- pure decisions ----------------------------------------------------------------------------------


@given(st.text(max_size=200))
def test_sampling_is_deterministic_and_bounded_by_the_rate(key: str) -> None:
    assert sampled(key, 1.0) and not sampled(key, 0.0)
    assert sampled(key, 0.3) == sampled(key, 0.3)
    # A triage in the sample at one rate stays in it at any higher rate.
    assert not sampled(key, 0.2) or sampled(key, 0.5)


@settings(max_examples=5)
@given(st.just(" " * 1_000_000))
def test_sampling_takes_a_megabyte_of_blanks(key: str) -> None:
    assert sampled(key, 0.5) in (True, False)


def test_sampling_takes_about_the_rate() -> None:
    taken = sum(sampled(f"{n:032x}", 0.1) for n in range(20_000))
    assert 1700 < taken < 2300


def base(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"triage_id": "t1", "rate": 1.0, "live_engine": "model", "live_degraded": False,
                              "live_circuit": "closed", "shadow_circuit": "closed", "pending": 0, "spent": 0.0,
                              "budget": None}
    values.update(changes)
    return values


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({}, None),
        ({"rate": 0.0}, "not_sampled"),
        ({"live_degraded": True}, "live_degraded"),
        ({"live_engine": "heuristic"}, "live_degraded"),
        ({"live_circuit": "open"}, "circuit_open"),
        ({"live_circuit": "half_open"}, "circuit_open"),
        ({"shadow_circuit": "open"}, "shadow_circuit_open"),
        ({"pending": MAX_PENDING}, "busy"),
        ({"spent": 0.5, "budget": 0.5}, "budget_exhausted"),
        ({"spent": 0.4, "budget": 0.5}, None),
    ],
)
def test_skip_reason(changes: dict[str, Any], reason: str | None) -> None:
    assert skip_reason(**base(**changes)) == reason


def test_shadow_budget_is_a_share_of_the_daily_budget() -> None:
    assert shadow_budget(None, 0.1) is None
    assert shadow_budget(10.0, 0.1) == pytest.approx(1.0)


def test_candidate_prompt_file(tmp_path: Path) -> None:
    path = tmp_path / "candidate.md"
    path.write_text("You triage alerts. Be brief.\n", encoding="utf-8")
    prompt = load_prompt_file(str(path))
    assert prompt.name == "candidate" and prompt.version.startswith("candidate@")
    with pytest.raises(ConfigError, match="TRIAGE_SHADOW_PROMPT"):
        load_prompt_file(str(tmp_path / "missing.md"))
    (tmp_path / "empty.md").write_text("  \n", encoding="utf-8")
    with pytest.raises(ConfigError, match="empty"):
        load_prompt_file(str(tmp_path / "empty.md"))


# --- the service with a candidate beside it ------------------------------------------------------------


async def triage_all(gateway: Gateway, texts: list[str]) -> list[Any]:
    results = [await gateway.service.triage(text, source="api") for text in texts]
    await shadow(gateway).drain(10)
    return results


TEXTS = [f"checkout-{n} p99 latency 2.5s above 1s for 10m" for n in range(4)]


async def test_both_results_are_recorded_against_the_same_triage(
    gateways: GatewayFactory, fake_openai: FakeOpenAI
) -> None:
    fake_openai.default = two_models()
    gateway = gateways.build(fake_openai, model_fast=LIVE, model_strong=LIVE, shadow_model=CANDIDATE,
                             shadow_rate=1.0)
    results = await triage_all(gateway, TEXTS)
    assert [r.severity for r in results] == ["P1"] * 4 and all(r.meta.model == LIVE for r in results)
    rows = gateway.store.shadow_rows()
    assert sorted(row["triage_id"] for row in rows) == sorted(r.meta.triage_id for r in results)
    assert {(row["model"], row["severity"], row["error"]) for row in rows} == {(CANDIDATE, "P2", None)}
    assert {row["prompt_version"] for row in rows} == {gateway.service.prompt_version}
    # The live records are untouched by the candidate.
    assert {row["severity"] for row in gateway.store.triage_rows()} == {"P1"}
    models = [request["json"]["model"] for request in fake_openai.requests]
    assert models.count(LIVE) == 4 and models.count(CANDIDATE) == 4


async def test_a_candidate_on_a_server_of_its_own(gateways: GatewayFactory, fake_openai: FakeOpenAI) -> None:
    fake_openai.default = two_models(live="P1", candidate="P1")
    with FakeOpenAI() as other:
        other.default = two_models(live="P3", candidate="P3")
        gateway = gateways.build(fake_openai, model_fast=LIVE, model_strong=LIVE, shadow_model=CANDIDATE,
                                 shadow_rate=1.0, shadow_base_url=other.base_url,
                                 shadow_api_key=SecretStr("other-key"))
        results = await triage_all(gateway, TEXTS[:2])
        assert [r.severity for r in results] == ["P1", "P1"]
        assert {row["severity"] for row in gateway.store.shadow_rows()} == {"P3"}
        assert [r["json"]["model"] for r in other.requests] == [CANDIDATE, CANDIDATE]
        assert {r["headers"]["Authorization"] for r in other.requests} == {"Bearer other-key"}
        assert all(r["json"]["model"] == LIVE for r in fake_openai.requests)
        await shadow(gateway).aclose()


async def test_rate_zero_and_no_candidate_mean_no_shadow(gateways: GatewayFactory, fake_openai: FakeOpenAI) -> None:
    fake_openai.default = two_models()
    none = gateways.build(fake_openai, model_fast=LIVE, model_strong=LIVE)
    assert none.service.shadow is None
    gateway = gateways.build(fake_openai, model_fast=LIVE, model_strong=LIVE, shadow_model=CANDIDATE, shadow_rate=0)
    await triage_all(gateway, TEXTS)
    assert gateway.store.shadow_rows() == [] and shadow(gateway).skipped == {"not_sampled": 4}


async def test_a_candidate_prompt_file_is_sent_to_the_live_model(
    gateways: GatewayFactory, fake_openai: FakeOpenAI, tmp_path: Path
) -> None:
    candidate = tmp_path / "terse.md"
    candidate.write_text("CANDIDATE PROMPT: classify the alert.", encoding="utf-8")
    fake_openai.default = two_models()
    gateway = gateways.build(fake_openai, model_fast=LIVE, model_strong=LIVE, shadow_prompt=str(candidate),
                             shadow_rate=1.0)
    await triage_all(gateway, TEXTS[:1])
    (row,) = gateway.store.shadow_rows()
    assert row["model"] == LIVE and row["prompt_version"].startswith("terse@")
    systems = [request["json"]["messages"][0]["content"] for request in fake_openai.requests]
    assert sum("CANDIDATE PROMPT" in system for system in systems) == 1


async def test_a_failing_candidate_never_touches_the_live_card(
    gateways: GatewayFactory, fake_openai: FakeOpenAI
) -> None:
    def answer(body: dict[str, Any]) -> Reply:
        return Reply.error(500, "candidate down") if body.get("model") == CANDIDATE else Reply.card(severity="P1")

    fake_openai.default = answer
    gateway = gateways.build(fake_openai, model_fast=LIVE, model_strong=LIVE, shadow_model=CANDIDATE,
                             shadow_rate=1.0, model_attempts=1)
    results = await triage_all(gateway, TEXTS[:2])
    assert all(r.severity == "P1" and not r.meta.degraded for r in results)
    assert gateway.service.breaker.state == "closed"  # the candidate's failures are its own
    rows = gateway.store.shadow_rows()
    assert len(rows) == 2 and all(row["severity"] is None and "server_error" in row["error"] for row in rows)


async def test_no_shadow_while_the_live_model_is_degraded(gateways: GatewayFactory, fake_openai: FakeOpenAI) -> None:
    fake_openai.default = Reply.error(503, "overloaded")
    gateway = gateways.build(fake_openai, model_fast=LIVE, model_strong=LIVE, shadow_model=CANDIDATE,
                             shadow_rate=1.0, model_attempts=1, circuit_failures=1)
    results = await triage_all(gateway, TEXTS[:3])
    assert all(r.meta.degraded for r in results)
    assert gateway.service.breaker.state == "open"
    assert gateway.store.shadow_rows() == []
    assert shadow(gateway).skipped.get("live_degraded") == 3
    assert all(request["json"]["model"] == LIVE for request in fake_openai.requests)


async def test_the_candidate_keeps_to_its_share_of_the_daily_budget(
    gateways: GatewayFactory, fake_openai: FakeOpenAI
) -> None:
    fake_openai.default = two_models()
    # 420 + 96 tokens at $1,000 per million: about $0.52 a candidate call; its share is 0.1 x $5 = $0.50.
    gateway = gateways.build(
        fake_openai, model_fast=LIVE, model_strong=LIVE, shadow_model=CANDIDATE, shadow_rate=1.0,
        daily_budget_usd=5.0, shadow_budget_share=0.1, prices={LIVE: (0.0, 0.0), CANDIDATE: (1000.0, 1000.0)},
    )
    results = await triage_all(gateway, TEXTS[:1])
    results += await triage_all(gateway, TEXTS[1:])
    assert all(r.severity == "P1" and not r.meta.degraded for r in results)  # the live budget is its own
    rows = gateway.store.shadow_rows()
    assert len(rows) == 1 and gateway.store.shadow_spent_since(0) == pytest.approx(0.516)
    assert shadow(gateway).skipped.get("budget_exhausted") == 3


# --- Slack end to end: judged cards, both versions in the report -----------------------------------------


@pytest.fixture
def shadowed(gateways: GatewayFactory, fake_slack: FakeSlack, fake_openai: FakeOpenAI) -> Iterator[Harness]:
    from tests.fakes import slack_requests as sr

    fake_openai.default = two_models(live="P1", candidate="P2", candidate_delay=1.5)
    gateway = gateways.build(
        fake_openai, slack_bot_token="xoxb-test", slack_signing_secret=sr.SECRET, slack_api_url=fake_slack.base_url,
        alert_channels=["CALERT"], model_fast=LIVE, model_strong=LIVE, shadow_model=CANDIDATE, shadow_rate=1.0,
    )
    with serve(build_app(gateway)) as url, httpx.Client(base_url=url, timeout=10) as http:
        yield Harness(gateway, fake_slack, fake_openai, http)


def test_judged_cards_in_slack_score_live_and_shadow_side_by_side(shadowed: Harness) -> None:
    acks = []
    for text in TEXTS[:3]:
        started = time.monotonic()
        response = shadowed.command(text, user="U9")
        acks.append(time.monotonic() - started)
        assert response.status_code == 200
    # The candidate takes 1.5 s an answer: neither the acks nor the cards wait for it.
    assert max(acks) < 1.0, acks
    cards = shadowed.cards(3, timeout=5)
    assert all(":large_orange_circle: P1" in card["blocks"][0]["text"]["text"] or "P1" in card["text"]
               for card in cards)
    store = shadowed.gateway.store
    shadowed.slack.wait_for(lambda: len(store.shadow_rows()) == 3, timeout=10)
    # Never shown: no card was edited and nothing the candidate said reached Slack.
    assert not shadowed.slack.calls_to("chat.update")
    assert CANDIDATE not in json.dumps([call.args for call in shadowed.slack.calls], default=str)
    assert all("P2" not in card["blocks"][0]["text"]["text"] for card in cards)

    by_ts = {card["ts"]: card for card in cards}
    first, second, third = (by_ts[ts] for ts in sorted(by_ts))
    shadowed.click(first, ACTION_CONFIRM, user="U2")          # people: P1 - the live card was right
    shadowed.click(second, ACTION_SEVERITY, "P2", user="U2")  # people: P2 - the candidate was right
    shadowed.click(third, ACTION_CONFIRM, user="U3")          # people: P1
    shadowed.slack.wait_for(lambda: len(store.feedback_rows()) == 3)

    report = read_report(store, 0.0)
    live, candidate = report["versions"]
    assert (live["role"], live["model"], live["judged"]) == ("live", LIVE, 3)
    assert (candidate["role"], candidate["model"], candidate["judged"]) == ("shadow", CANDIDATE, 3)
    assert live["agreement_severity"] == pytest.approx(2 / 3, abs=1e-4)
    assert candidate["agreement_severity"] == pytest.approx(1 / 3, abs=1e-4)
    assert live["agreement_category"] == candidate["agreement_category"] == 1.0
    assert live["agreement"] == pytest.approx(2 / 3, abs=1e-4)
    assert candidate["drift"]["less_severe"] == 2 and candidate["drift"]["moved_from_live"] == 3
    assert live["drift"]["more_severe"] == 1
    assert candidate["latency_ms_p50"] >= 1500 > live["latency_ms_p50"]
    # the existing keys stay as they were
    assert (report["cards"], report["confirmed"], report["overridden"]) == (3, 2, 1)


def test_the_api_answers_without_waiting_for_the_candidate(gateways: GatewayFactory, fake_openai: FakeOpenAI) -> None:
    fake_openai.default = two_models(live="P1", candidate="P3", candidate_delay=1.5)
    gateway = gateways.build(fake_openai, model_fast=LIVE, model_strong=LIVE, shadow_model=CANDIDATE,
                             shadow_rate=1.0)
    with serve(build_app(gateway)) as url:
        started = time.monotonic()
        response = httpx.post(f"{url}/v1/triage", json={"text": TEXTS[0]}, timeout=10)
        elapsed = time.monotonic() - started
        assert response.status_code == 200 and response.json()["severity"] == "P1"
        assert elapsed < 1.0, elapsed
        triage_id = response.json()["meta"]["triage_id"]
        deadline = time.monotonic() + 10
        while not gateway.store.shadow_rows() and time.monotonic() < deadline:
            time.sleep(0.05)
        (row,) = gateway.store.shadow_rows()
        assert (row["triage_id"], row["severity"]) == (triage_id, "P3")
        assert gateway.store.get_triage(triage_id).severity == "P1"  # type: ignore[union-attr]
