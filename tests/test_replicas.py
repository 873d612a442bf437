"""Two `triage-bot serve` replicas on one PostgreSQL database: every decision is taken once, nothing is lost."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import FakeSlack
from tests.replicas import query, replica_env, replicas, slack_message, start_replica

CHANNEL = "CALERT"
PROBLEMS = [
    ("KubePodCrashLooping", "payments-api"), ("NodeDiskPressure", "node-7"), ("PostgresReplicationLag", "db-2"),
    ("HighErrorRate", "checkout"), ("CertificateExpiring", "edge-lb"), ("RedisMemoryHigh", "cache-1"),
    ("KafkaConsumerLag", "orders"), ("TargetDown", "blackbox"), ("HostOutOfMemory", "batch-3"),
    ("FalcoShellInContainer", "web-4"),
]


def alert(problem: int, repeat: int) -> str:
    name, where = PROBLEMS[problem]
    return f"[FIRING:{repeat % 4 + 1}] {name} on {where} | value {repeat * 7 % 97} at 21:{repeat % 60:02d}:03Z"


def settled(database_url: str, incidents: int, alerts: int) -> bool:
    rows = query(database_url, "select count(*), coalesce(sum(count), 0) from incidents"
                               " where post_state = 'posted' and dirty = 0")
    pending = query(database_url, "select count(*) from alerts where status = 'accepted'")
    return rows[0] == (incidents, alerts) and pending[0][0] == 0


def test_a_storm_split_across_two_replicas_makes_one_call_and_one_card_per_incident(
    tmp_path: Path, pg_url: str, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    fake_openai.latency = 0.3
    env = replica_env({"TRIAGE_DATABASE_URL": pg_url}, fake_slack, fake_openai, CHANNEL)
    with replicas(2, env, tmp_path) as (first, second), httpx.Client(timeout=10) as client:
        base = time.time()
        work = [((first, second)[n % 2].url, alert(n % 10, n), f"{base + n / 1000:.6f}") for n in range(500)]
        with ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(lambda item: slack_message(client, item[0], CHANNEL, item[1], item[2]), work))
        assert statuses == [200] * 500
        fake_slack.wait_for(lambda: settled(pg_url, 10, 500), timeout=60)
        assert fake_openai.calls == 10
        threads = Counter(post.args["thread_ts"] for post in fake_slack.posts())
        assert len(threads) == 10 and set(threads.values()) == {1}, threads


def test_a_slack_redelivery_on_the_other_replica_makes_no_second_card(
    tmp_path: Path, pg_url: str, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    env = replica_env({"TRIAGE_DATABASE_URL": pg_url}, fake_slack, fake_openai, CHANNEL)
    with replicas(2, env, tmp_path) as (first, second), httpx.Client(timeout=10) as client:
        ts = f"{time.time():.6f}"
        assert slack_message(client, first.url, CHANNEL, alert(0, 1), ts, event_id="EvSame") == 200
        fake_slack.wait_for(lambda: len(fake_slack.posts()) == 1, timeout=20)
        # Slack did not see the ack in time and sends the same event again, this time to the other replica
        assert slack_message(client, second.url, CHANNEL, alert(0, 1), ts, event_id="EvSame", retry=1) == 200
        # and the same message again under a new event id (the message itself is claimed too)
        assert slack_message(client, second.url, CHANNEL, alert(0, 1), ts, event_id="EvOther") == 200
        # both arrive at the same moment on both replicas
        with ThreadPoolExecutor(4) as pool:
            later = f"{time.time():.6f}"
            statuses = list(pool.map(
                lambda n: slack_message(client, (first, second)[n % 2].url, CHANNEL, alert(1, 1), later,
                                        event_id="EvRace", retry=n), range(4)))
        assert statuses == [200] * 4
        fake_slack.wait_for(lambda: settled(pg_url, 2, 2), timeout=20)
        assert len(fake_slack.posts()) == 2
        assert fake_openai.calls == 2


def test_a_result_cached_by_one_replica_is_served_by_the_other(
    tmp_path: Path, pg_url: str, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    env = replica_env({"TRIAGE_DATABASE_URL": pg_url}, fake_slack, fake_openai, CHANNEL)
    with replicas(2, env, tmp_path) as (first, second), httpx.Client(timeout=30) as client:
        text = {"text": "[FIRING:1] PostgresReplicationLag db-2 lag 340s"}
        answer = client.post(f"{first.url}/v1/triage", json=text).json()
        assert answer["meta"]["cached"] is False and fake_openai.calls == 1
        again = client.post(f"{second.url}/v1/triage", json=text).json()
        assert again["meta"]["cached"] is True and fake_openai.calls == 1
        assert (again["category"], again["severity"]) == (answer["category"], answer["severity"])
        # asked of both at the same moment: one model call between them (single flight across replicas)
        fake_openai.latency = 1.0
        fresh = {"text": "[FIRING:1] KafkaConsumerLag orders lag 90000"}
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(
                lambda n: client.post(f"{(first, second)[n % 2].url}/v1/triage", json=fresh).json(), range(4)))
        assert fake_openai.calls == 2
        assert sorted(a["meta"]["cached"] for a in answers) == [False, True, True, True]


def test_alerts_acked_by_a_replica_killed_at_once_are_carded_by_the_other_exactly_once(
    tmp_path: Path, pg_url: str, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    fake_openai.latency = 2.0  # the killed replica is still waiting on the model for every alert
    env = replica_env({"TRIAGE_DATABASE_URL": pg_url}, fake_slack, fake_openai, CHANNEL, TRIAGE_REPLICA_LEASE="2")
    survivor = start_replica(env, tmp_path / "survivor.log")
    doomed = start_replica(env, tmp_path / "doomed.log")
    try:
        with httpx.Client(timeout=10) as client:
            base = time.time()
            stamps = [f"{base + n:.6f}" for n in range(5)]
            assert [slack_message(client, doomed.url, CHANNEL, alert(n, 0), stamps[n]) for n in range(5)] == [200] * 5
        doomed.kill()
        assert fake_slack.posts() == []
        fake_slack.wait_for(lambda: settled(pg_url, 5, 5), timeout=60)
    finally:
        survivor.stop()
        doomed.stop()
    threads = Counter(post.args["thread_ts"] for post in fake_slack.posts())
    assert threads == Counter(stamps), threads
    assert query(pg_url, "select status, count(*) from alerts group by status") == [("done", 5)]
