"""The product learns from corrections: 30 cards judged with signed Slack clicks decide later alerts of the same
incidents on every entry point, leave other alerts alone, and come back out as exactly 30 eval cases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.card import CATEGORIES, SEVERITIES
from bot.server import build_app
from bot.slack.actions import ACTION_CATEGORY, ACTION_CONFIRM, ACTION_SEVERITY
from tests.fakes import slack_requests as sr
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import FakeSlack
from tests.gateway import GatewayFactory
from tests.servers import serve
from tests.test_slack_scenarios import Harness

JUDGED_KINDS = [
    ("KafkaConsumerGroupLag", "consumer group billing lags behind by {n} messages"),
    ("RedisMemoryHigh", "redis memory usage at {n}% of maxmemory"),
    ("NginxUpstreamErrors", "upstream returned {n} errors in the last 5 minutes"),
    ("CertificateExpiry", "TLS certificate expires in {n} days"),
    ("PostgresReplicationLag", "replica is {n} seconds behind the primary"),
    ("NodeHighLoad", "load average is {n} on 8 cores"),
    ("ElasticsearchHeapHigh", "JVM heap at {n}% on the search cluster"),
    ("RabbitmqQueueBacklog", "queue orders.created holds {n} ready messages"),
    ("DnsResolutionFailures", "{n} DNS lookups failed for internal zone"),
    ("CronJobMissed", "nightly export job did not run for {n} hours"),
    ("ApiLatencyHigh", "p99 latency of checkout endpoint is {n} ms"),
    ("LoginFailuresBurst", "{n} failed logins for admin accounts from one network"),
    ("DiskInodesLow", "only {n}% inodes left on the uploads volume"),
    ("MongoConnectionsHigh", "{n} open connections on the mongo primary"),
    ("ObjectReplicationFailed", "{n} objects failed to replicate to the backup bucket"),
    ("ContainerOomKilled", "worker container was OOM killed {n} times"),
    ("HpaMaxedOut", "autoscaler at maximum replicas for {n} minutes"),
    ("LoadBalancerUnhealthyTargets", "{n} unhealthy targets behind the public load balancer"),
    ("BackupJobFailed", "database backup failed with exit code {n}"),
    ("SmtpBounceRate", "email bounce rate reached {n}% for transactional mail"),
    ("CdnOriginErrors", "CDN reports {n} origin errors per minute"),
    ("FeatureFlagServiceDown", "flag service health check failed {n} times"),
    ("PaymentWebhookRetries", "payment provider webhooks retried {n} times"),
    ("SearchIndexStale", "search index not refreshed for {n} minutes"),
    ("VaultSealed", "secrets vault reported sealed state {n} times"),
    ("ClockSkewDetected", "node clock drifted by {n} ms from NTP"),
    ("ZookeeperSessionExpired", "{n} zookeeper sessions expired on the coordination ensemble"),
    ("ThumbnailQueueStuck", "image thumbnail workers idle with {n} jobs waiting"),
    ("AuditLogGap", "audit log pipeline dropped {n} events"),
    ("QuotaNearLimit", "cloud project quota usage at {n}% of the limit"),
]
OTHER_KINDS = [
    ("MemcachedEvictions", "memcached evicted {n} items per second"),
    ("GrpcDeadlineExceeded", "{n} gRPC calls exceeded their deadline in the inventory service"),
    ("IngressCertMismatch", "ingress serves a certificate that does not match host for {n} requests"),
    ("JenkinsAgentOffline", "{n} build agents went offline"),
    ("WalArchiveFailing", "WAL archiving failed {n} times on the primary"),
    ("SidekiqRetriesGrowing", "sidekiq retry set grew to {n} jobs"),
    ("CassandraHintsPiling", "{n} hints pending on the cassandra ring"),
    ("PodPendingTooLong", "{n} pods pending for more than ten minutes"),
    ("PrivilegeEscalationAttempt", "sudo used by a service account {n} times"),
    ("SlowQueryBurst", "{n} slow queries logged by the orders database"),
    ("NatGatewayErrors", "NAT gateway dropped {n} packets"),
    ("WebsocketDisconnects", "{n} websocket clients disconnected at once"),
    ("ConfigDriftDetected", "{n} hosts differ from the configuration baseline"),
    ("LicenseExpiring", "commercial license for the APM agent ends in {n} days"),
    ("EtcdLeaderChanges", "etcd changed leader {n} times in an hour"),
    ("ImagePullBackOff", "{n} pods cannot pull their image from the registry"),
    ("RateLimiterRejections", "API gateway rejected {n} requests for rate limits"),
    ("MailQueueGrowing", "postfix queue holds {n} deferred messages"),
    ("GpuTemperatureHigh", "GPU temperature reached {n} degrees on the training node"),
    ("SessionStoreLatency", "session store reads take {n} ms at p95"),
]


def alert(kind: tuple[str, str], n: int, host: str = "node-1.prod") -> str:
    name, description = kind
    return f"[FIRING:1] {name} ({host} prod) | {description.format(n=n)}"


def run_cli(args: list[str], db: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SLACK_", "TRIAGE_"))}
    env["TRIAGE_DB"] = db
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, env=env,
                          timeout=120, check=False)


@pytest.fixture
def slack(gateways: GatewayFactory, fake_slack: FakeSlack, fake_openai: FakeOpenAI) -> Iterator[Harness]:
    # The heuristic engine: the human verdict must decide over every engine, the rules included.
    gateway = gateways.build(
        slack_bot_token="xoxb-test", slack_signing_secret=sr.SECRET, slack_api_url=fake_slack.base_url,
        alert_channels=["CALERT"],
    )
    with serve(build_app(gateway)) as url, httpx.Client(base_url=url, timeout=20) as http:
        yield Harness(gateway, fake_slack, fake_openai, http)


def other(value: str, choices: tuple[str, ...], step: int) -> str:
    return choices[(choices.index(value) + step) % len(choices)]


def triage(slack: Harness, text: str) -> dict[str, Any]:
    response = slack.http.post("/v1/triage", json={"text": text})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_thirty_judged_cards_decide_their_incidents_and_become_thirty_cases(slack: Harness) -> None:
    before = {kind[0]: triage(slack, alert(kind, 7)) for kind in OTHER_KINDS}

    for kind in JUDGED_KINDS:
        slack.command(alert(kind, 10), user="U9")
    cards = slack.cards(len(JUDGED_KINDS), timeout=30)
    texts = {row["id"]: row for row in slack.triages() if row["source"] == "slack:command"}
    expected: dict[str, tuple[str, str, str]] = {}
    for number, card in enumerate(cards):
        triage_id = card["blocks"][-1]["block_id"].split(":", 1)[1]
        row = texts[triage_id]
        if number % 3 == 0:
            severity = other(row["severity"], SEVERITIES, 1)
            slack.click(card, ACTION_SEVERITY, severity, user="U2")
            expected[row["text"]] = (severity, row["category"], "override")
        elif number % 3 == 1:
            category = other(row["category"], CATEGORIES, 2)
            slack.click(card, ACTION_CATEGORY, category, user="U3")
            expected[row["text"]] = (row["severity"], category, "override")
        else:
            slack.click(card, ACTION_CONFIRM, user="U4")
            expected[row["text"]] = (row["severity"], row["category"], "confirm")
    slack.slack.wait_for(lambda: len(slack.slack.calls_to("chat.update")) >= len(JUDGED_KINDS), timeout=30)
    assert len(slack.feedback()) == len(JUDGED_KINDS)

    # New variants (other values, other hosts) and the exact judged texts: the people's labels and history.
    for kind in JUDGED_KINDS:
        judged_text = alert(kind, 10)
        severity, category, verdict = expected[judged_text]
        # (values within one class of impact: 10 % and 10,000 % of a limit are two incidents, 10 % and 97 % one)
        variants = (alert(kind, 97), alert(kind, 3, "node-17.prod"), alert(kind, 55, "ip-10-2-3-4"))
        for text in (judged_text, *variants):
            card = triage(slack, text)
            assert (card["severity"], card["category"]) == (severity, category), text
            precedent = card["meta"]["precedent"]
            assert precedent is not None and precedent["verdict"] == verdict, (text, card["meta"]["fingerprint"])
            assert card["meta"]["similar"] and card["meta"]["similar"][0]["triage_id"] == precedent["triage_id"]

    # Alerts nobody judged come back as they were, without a precedent.
    for kind in OTHER_KINDS:
        card = triage(slack, alert(kind, 7))
        assert card["meta"]["precedent"] is None
        old = before[kind[0]]
        assert (card["severity"], card["category"]) == (old["severity"], old["category"]), kind

    db = slack.gateway.settings.db_path
    done = run_cli(["cases"], db)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(lines) == len(JUDGED_KINDS)
    for line in lines:
        severity, category, verdict = expected[line["text"]]
        assert line["expected"] == {"category": [category], "severity": [severity]}
        assert line["verdict"] == verdict and line["by"] in {"U2", "U3", "U4"} and line["at"] > 0
    scored = run_cli(["eval", "--feedback", "--json"], db)
    assert scored.returncode == 0, scored.stderr
    summary = json.loads(scored.stdout)
    assert summary["cases"] == len(JUDGED_KINDS) and summary["engine"] == "heuristic"
    assert run_cli(["cases", "--since", "1"], db).stdout.count("\n") == len(JUDGED_KINDS)


def test_cases_and_eval_feedback_on_a_database_nobody_judged(tmp_path: Path) -> None:
    db = str(tmp_path / "nobody.db")
    assert run_cli(["triage", "disk full on db-1"], db).returncode == 0
    done = run_cli(["cases"], db)
    assert done.returncode == 0 and done.stdout == ""
    scored = run_cli(["eval", "--feedback", "--json"], db)
    assert scored.returncode == 0 and json.loads(scored.stdout)["cases"] == 0
    assert "no judged cards" in scored.stderr
    assert run_cli(["cases", "--since", "0"], db).returncode == 2
    missing = run_cli(["cases"], str(tmp_path / "absent.db"))
    assert missing.returncode == 2 and "no database" in missing.stderr
