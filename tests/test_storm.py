"""Alert storms end to end: coalescing, pacing, counters, resolution, retry-later, Alertmanager intake."""

from __future__ import annotations

import itertools
import json
import random
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest

from bot.alerts.alertmanager import PayloadError, parse_payload
from bot.alerts.incidents import Incident, is_resolved, retry_delay, should_retry
from bot.server import build_app
from bot.store import Store
from bot.wiring import Gateway
from tests.conftest import GatewayFactory
from tests.fakes import slack_requests as sr
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.fakes.slack import Call, FakeSlack
from tests.servers import serve
from tests.test_identity import storm_message

CHANNEL = "CALERT"
PACE = 0.05


def incident_text(kind: int, repeat: int) -> str:
    """Repeats of one incident differ in counts, values, timestamps and pod suffixes, like real re-fires."""
    return (
        f"[FIRING:{repeat % 7 + 1}] Service{kind}HighErrorRate (api-{kind}:8080 api) | error rate "
        f"{10 + repeat % 50}.{repeat % 10}% at 2024-09-22T21:{repeat % 60:02d}:03Z "
        f"pod api-{kind}-7a2acd{repeat % 9}96-pdb{repeat % 10}4 request_id={repeat * 7919}"
    )


@dataclass
class Storm:
    gateway: Gateway
    slack: FakeSlack
    openai: FakeOpenAI
    http: httpx.Client

    def event(self, text: str, ts: str, **sender: str) -> int:
        # As an alerting integration posts: a bot message (a person's message is passed as user=...).
        fields = sender or {"subtype": "bot_message", "bot_id": "BALERTS"}
        body, _ = sr.message_event(text=text, ts=ts, channel=CHANNEL, **fields)
        headers = sr.signed_headers(body, "application/json")
        return self.http.post("/slack/events", content=body.encode(), headers=headers).status_code

    def send_many(self, texts: list[str]) -> list[int]:
        base = time.time()
        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(lambda item: self.event(item[1], f"{base + item[0] / 1000:.6f}"), enumerate(texts)))


@pytest.fixture(params=["sqlite", "postgres"])
def storm(
    request: pytest.FixtureRequest, gateways: GatewayFactory, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> Iterator[Storm]:
    database_url = str(request.getfixturevalue("pg_url")) if request.param == "postgres" else None
    gateway = gateways.build(
        fake_openai,
        database_url=database_url,
        slack_bot_token="xoxb-test",
        slack_signing_secret=sr.SECRET,
        slack_api_url=fake_slack.base_url,
        alert_channels=[CHANNEL],
        slack_post_interval=PACE,
        counter_interval=0.3,
        retry_interval=0.2,
        model_attempts=1,
        circuit_failures=100,
    )
    with serve(build_app(gateway)) as url, httpx.Client(base_url=url, timeout=20) as http:
        yield Storm(gateway, fake_slack, fake_openai, http)


def card_says(storm: Storm, card_ts: str, text: str, channel: str = CHANNEL) -> bool:
    message = storm.slack.message(channel, card_ts) or {}
    return text in json.dumps(message.get("blocks"))


def wait_until_card_says(storm: Storm, card_ts: str, text: str, timeout: float = 10.0) -> None:
    storm.slack.wait_for(lambda: card_says(storm, card_ts, text), timeout=timeout)


def wait_for_posts(slack: FakeSlack, count: int, timeout: float) -> list[Call]:
    """All cards posted so far, once there are at least `count` of them."""

    def enough() -> list[Call] | None:
        posts = slack.posts()
        return posts if len(posts) >= count else None

    return slack.wait_for(enough, timeout=timeout)


def wait_for_carded_incidents(storm: Storm) -> list[Incident]:
    """The open incidents, once there is at least one and every one has its card."""

    def carded() -> list[Incident] | None:
        incidents = storm.gateway.store.incidents()
        return incidents if incidents and all(i.card_ts for i in incidents) else None

    return storm.slack.wait_for(carded)


def wait_for_triage_ids(storm: Storm, posts: list[Call]) -> list[str]:
    """The triage id behind each posted card, once every card has one."""

    def all_known() -> list[str] | None:
        ids = [storm.gateway.store.triage_at(CHANNEL, p.response["ts"]) for p in posts]
        known = [triage_id for triage_id in ids if triage_id]
        return known if len(known) == len(ids) else None

    return storm.slack.wait_for(all_known)


def test_storm_of_500_alerts_gives_one_card_and_one_model_call_per_incident(storm: Storm) -> None:
    storm.openai.latency = 0.2
    texts = [incident_text(kind, repeat) for repeat in range(50) for kind in range(10)]
    statuses = storm.send_many(texts)
    assert statuses == [200] * 500

    store = storm.gateway.store
    storm.slack.wait_for(lambda: store.alert_counts().get("done") == 500, timeout=20)
    posts = wait_for_posts(storm.slack, 10, timeout=20)
    incidents = wait_for_carded_incidents(storm)
    assert len(incidents) == 10 and sorted(i.count for i in incidents) == [50] * 10
    assert storm.openai.calls <= 10
    assert len(posts) == 10
    # every card is a thread reply to the first alert of its incident
    assert {p.args["thread_ts"] for p in posts} == {i.thread_ts for i in incidents}
    # the counters catch up, through paced chat.update calls
    for incident in incidents:
        assert incident.card_ts is not None
        wait_until_card_says(storm, incident.card_ts, "Seen 50 times", timeout=20)
    writes = sorted(c.at for c in storm.slack.calls if c.method in ("chat.postMessage", "chat.update"))
    gaps = [b - a for a, b in itertools.pairwise(writes)]
    assert min(gaps) >= PACE * 0.9
    assert store.count_triages() == 10


def test_a_storm_whose_repeats_differ_in_every_volatile_way_gives_ten_cards(storm: Storm) -> None:
    # hex suffixes, req=…, job ids, session numbers, timestamps mid-text, pod names, IPs, durations, counts
    rng = random.Random(11)
    texts = [storm_message(kind, rng) for _ in range(50) for kind in range(10)]
    assert storm.send_many(texts) == [200] * 500
    store = storm.gateway.store
    storm.slack.wait_for(lambda: store.alert_counts().get("done") == 500, timeout=30)
    incidents = wait_for_carded_incidents(storm)
    assert len(incidents) == 10 and sorted(i.count for i in incidents) == [50] * 10
    assert storm.openai.calls == 10 and len(wait_for_posts(storm.slack, 10, timeout=20)) == 10
    # the card of the pod incident lists where it fired
    assert any(len(i.places) > 2 for i in incidents)


def test_resolved_notice_marks_the_card_resolved_without_a_new_card(storm: Storm) -> None:
    storm.event(incident_text(1, 0), "1700000000.000100")
    card = storm.slack.wait_for(lambda: storm.slack.posts(), timeout=10)[0]
    resolved = incident_text(1, 3).replace("[FIRING:4]", "[RESOLVED]")
    assert is_resolved(resolved)
    storm.event(resolved, "1700000000.000200")
    wait_until_card_says(storm, card.response["ts"], "Resolved")
    assert len(storm.slack.posts()) == 1 and storm.openai.calls == 1


def test_only_the_integration_that_opened_an_incident_resolves_it(storm: Storm) -> None:
    storm.event(incident_text(1, 0), "1700000000.000100")
    card = storm.slack.wait_for(lambda: storm.slack.posts(), timeout=10)[0]
    resolved = incident_text(1, 3).replace("[FIRING:4]", "[RESOLVED]")
    store = storm.gateway.store
    # A person pasting the resolved notice, and another integration sending one, change nothing.
    storm.event(resolved, "1700000000.000200", user="U777")
    storm.event(resolved, "1700000000.000300", subtype="bot_message", bot_id="BOTHER")
    storm.slack.wait_for(lambda: store.alert_counts().get("done") == 3, timeout=10)
    (incident,) = store.incidents()
    assert not incident.resolved and incident.count == 1
    assert not card_says(storm, card.response["ts"], "Resolved")
    # The integration that opened it does.
    storm.event(resolved, "1700000000.000400")
    wait_until_card_says(storm, card.response["ts"], "Resolved")
    assert len(storm.slack.posts()) == 1


def test_model_down_gives_heuristic_cards_then_model_cards_after_recovery(storm: Storm) -> None:
    storm.openai.default = Reply.error(503, "down")
    for kind in range(3):
        storm.event(incident_text(kind, 0), f"1700000100.00000{kind}")
    posts = wait_for_posts(storm.slack, 3, timeout=10)
    store = storm.gateway.store
    ids = wait_for_triage_ids(storm, posts)
    degraded = [store.get_triage(triage_id) for triage_id in ids]
    assert all(r is not None and r.meta.engine == "heuristic" and r.meta.degraded for r in degraded), degraded
    storm.slack.wait_for(lambda: store.retry_states().get("pending") == 3, timeout=10)

    # The retry-later job (APScheduler, every TRIAGE_RETRY_INTERVAL) asks again once the model is back.
    storm.openai.default = Reply.card(category="app", severity="P1", confidence=0.9)
    for post in posts:
        wait_until_card_says(storm, post.response["ts"], "Updated by model")
    storm.slack.wait_for(lambda: store.retry_states() == {"updated": 3})
    assert len(storm.slack.posts()) == 3  # updated in place, no new cards


def test_retry_later_never_overwrites_human_feedback(storm: Storm) -> None:
    storm.openai.default = Reply.error(503, "down")
    storm.event(incident_text(4, 0), "1700000200.000001")
    post = storm.slack.wait_for(lambda: storm.slack.posts(), timeout=10)[0]
    store = storm.gateway.store
    triage_id = storm.slack.wait_for(lambda: store.triage_at(CHANNEL, post.response["ts"]))
    storm.slack.wait_for(lambda: store.retry_states().get("pending") == 1, timeout=10)
    store.record_feedback(triage_id, "U1", "severity", "P2", "P0")
    storm.openai.default = Reply.card()
    storm.slack.wait_for(lambda: store.retry_states() == {"human": 1}, timeout=10)
    assert not card_says(storm, post.response["ts"], "Updated by model")
    assert storm.openai.calls == 1  # the model was not even asked again


def test_alertmanager_webhook_posts_coalesced_cards(gateways: GatewayFactory, fake_slack: FakeSlack) -> None:
    gateway = gateways.build(slack_bot_token="xoxb-test", slack_signing_secret=sr.SECRET,
                             slack_api_url=fake_slack.base_url, alertmanager_token="am-secret",
                             alertmanager_channel="CAM", slack_post_interval=PACE, counter_interval=0.1)
    payload = alertmanager_payload("firing", 3)
    with serve(build_app(gateway)) as url:
        auth = {"Authorization": "Bearer am-secret"}
        assert httpx.post(f"{url}/v1/alerts/alertmanager", json=payload).status_code == 401
        assert httpx.post(f"{url}/v1/alerts/alertmanager", json={"nope": 1}, headers=auth).status_code == 422
        first = httpx.post(f"{url}/v1/alerts/alertmanager", json=payload, headers=auth)
        again = httpx.post(f"{url}/v1/alerts/alertmanager", json=payload, headers=auth)
        assert first.json()["accepted"] == 3 and again.status_code == 200
        # One alert name on three instances is one incident: its card says where it fired.
        posts = wait_for_posts(fake_slack, 1, timeout=10)
        assert {p.args["channel"] for p in posts} == {"CAM"} and all(not p.args.get("thread_ts") for p in posts)
        fake_slack.wait_for(
            lambda: any("Seen 6 times on node-0:9100, node-1:9100 (+1 more)" in json.dumps(c.args.get("blocks"))
                        for c in fake_slack.calls_to("chat.update")),
            timeout=10,
        )
        httpx.post(f"{url}/v1/alerts/alertmanager", json=alertmanager_payload("resolved", 3), headers=auth)
        fake_slack.wait_for(
            lambda: all(i.resolved and not i.dirty for i in gateway.store.incidents()), timeout=10
        )
        assert len(fake_slack.posts()) == 1
        [incident] = gateway.store.incidents()
        assert incident.count == 7 and incident.places == ("node-0:9100", "node-1:9100", "node-2:9100")
        # Grouped by instance in Alertmanager, each instance is its own incident.
        by_instance = {**alertmanager_payload("firing", 3), "groupLabels": {"alertname": "x", "instance": "y"}}
        assert httpx.post(f"{url}/v1/alerts/alertmanager", json=by_instance, headers=auth).status_code == 200
        wait_for_posts(fake_slack, 4, timeout=10)


def alertmanager_payload(status: str, alerts: int) -> dict[str, object]:
    return {
        "version": "4", "status": status, "receiver": "triage", "groupKey": "{}:{alertname=\"x\"}",
        "commonLabels": {"job": "node"}, "commonAnnotations": {}, "externalURL": "http://am:9093",
        "alerts": [
            {
                "status": status,
                "labels": {"alertname": "HostOutOfDiskSpace", "instance": f"node-{n}:9100", "severity": "warning"},
                "annotations": {"summary": f"Disk almost full on node-{n}", "description": "Disk is 91.3% full"},
                "startsAt": "2024-09-22T21:41:03Z", "endsAt": "0001-01-01T00:00:00Z", "fingerprint": f"ab{n}",
            }
            for n in range(alerts)
        ],
    }


def test_alertmanager_rendering_and_bad_payloads() -> None:
    texts = parse_payload(alertmanager_payload("firing", 2))
    assert texts[0].startswith("[FIRING] HostOutOfDiskSpace (node-0:9100 node) | Disk almost full on node-0")
    assert "severity=warning" in texts[0]
    assert is_resolved(parse_payload(alertmanager_payload("resolved", 1))[0])
    bad_payloads: list[object] = [None, [], {"alerts": "x"}, {"alerts": [1]}]
    for bad in bad_payloads:
        with pytest.raises(PayloadError):
            parse_payload(bad)


def test_pure_storm_decisions() -> None:
    assert is_resolved("[RESOLVED] HostDown") and is_resolved("status: resolved, alertname=X")
    assert not is_resolved("[FIRING:1] ReplicationNotResolvedYet")
    assert should_retry("timeout", 0) and not should_retry("no_api_key", 0) and not should_retry("timeout", 8)
    assert retry_delay(0, 30) == 30 and retry_delay(3, 30) == 240 and retry_delay(20, 30) == 1800


def test_coalesce_is_idempotent_per_alert(store: Store) -> None:
    first = store.accept_alert("test", "C1", "1.1", "disk full", 100.0)
    second = store.accept_alert("test", "C1", "1.2", "disk full", 101.0)
    assert first is not None and second is not None
    incident, owner = store.coalesce(first, "fp", "C1", "1.1", False, 100.0, 60)
    assert incident is not None and owner
    # a crash before the card was queued: the same alert still owns the incident, nothing is counted twice
    again, owner_again = store.coalesce(first, "fp", "C1", "1.1", False, 100.5, 60)
    assert again is not None and again.id == incident.id and owner_again
    repeat, repeat_owner = store.coalesce(second, "fp", "C1", "1.2", False, 101.0, 60)
    assert repeat is not None and repeat.id == incident.id and not repeat_owner
    store.coalesce(second, "fp", "C1", "1.2", False, 101.0, 60)
    counted = store.get_incident(incident.id)
    assert counted is not None and counted.count == 2
    # outside the window a new incident opens
    third = store.accept_alert("test", "C1", "1.3", "disk full", 500.0)
    assert third is not None
    later, later_owner = store.coalesce(third, "fp", "C1", "1.3", False, 500.0, 60)
    assert later is not None and later.id != incident.id and later_owner


def test_degraded_command_card_is_updated_by_the_model_later(storm: Storm) -> None:
    storm.openai.default = Reply.error(429, "rate limited", {"Retry-After": "0"})
    body = sr.slash_command("payments-api returns 502 for 40% of requests since the deploy", channel="CCMD")
    response = storm.http.post("/slack/events", content=body.encode(),
                               headers=sr.signed_headers(body, "application/x-www-form-urlencoded"))
    assert response.status_code == 200
    post = storm.slack.wait_for(lambda: storm.slack.posts(), timeout=10)[0]
    ts = post.response["ts"]
    assert card_says(storm, ts, "Degraded: rate_limited", "CCMD")
    storm.openai.default = Reply.card(severity="P0", confidence=0.95)
    storm.slack.wait_for(lambda: card_says(storm, ts, "Updated by model", "CCMD"), timeout=10)
    assert not card_says(storm, ts, "Degraded", "CCMD")
    assert card_says(storm, ts, "<@U1>", "CCMD")  # still says who asked for it
    assert len(storm.slack.posts()) == 1


def test_a_refused_post_is_retried_from_the_queue_not_lost(storm: Storm) -> None:
    storm.slack.fail("chat.postMessage", "internal_error", times=1)
    storm.event(incident_text(7, 0), "1700000300.000001")
    storm.slack.wait_for(lambda: storm.slack.posts(), timeout=15)
    attempts = storm.slack.calls_to("chat.postMessage")
    assert len(attempts) == 2 and attempts[1].at - attempts[0].at >= 1.5  # backed off, then posted
    metrics = storm.gateway.metrics.registry
    storm.slack.wait_for(
        lambda: metrics.get_sample_value("triage_slack_writes_total", {"kind": "post", "outcome": "ok"}) == 1
    )
    assert metrics.get_sample_value("triage_slack_writes_total", {"kind": "post", "outcome": "postponed"}) == 1
    assert metrics.get_sample_value("triage_alerts_total", {"outcome": "opened"}) == 1


def test_claims_and_the_alert_are_recorded_together(store: Store) -> None:
    first = store.accept_alert("slack", "C1", "1.1", "disk full", 100.0, ("Ev1", "message:C1:1.1"))
    again = store.accept_alert("slack", "C1", "1.1", "disk full", 101.0, ("Ev1", "message:C1:1.1"))
    other_event_same_message = store.accept_alert("slack", "C1", "1.1", "disk full", 102.0, ("Ev2", "message:C1:1.1"))
    assert first is not None and again is None and other_event_same_message is None
    assert store.alert_counts() == {"accepted": 1}
    assert not store.claim_event("Ev1") and store.claim_event("Ev2")  # nothing of the refused one was kept
