"""The reading stage: each tool's format read as that tool writes it, never failing, in bounded time; and a
right model's answer kept by the gateway's checks."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.reading import read
from bot.reading.text.servers import server_resource
from bot.triage.heuristics import analyse, heuristic_card
from bot.triage.rules import default_rules
from bot.triage.severity import reading_label
from tests.conftest import GatewayFactory
from tests.fakes.openai_server import FakeOpenAI, Reply

EVALS = Path(__file__).resolve().parents[1] / "evals"

ALERTMANAGER = json.dumps({
    "receiver": "oncall", "status": "firing", "groupLabels": {"alertname": "KubeDeploymentReplicasMismatch"},
    "commonLabels": {"alertname": "KubeDeploymentReplicasMismatch", "namespace": "shop",
                     "deployment": "checkout-api", "severity": "warning"},
    "commonAnnotations": {"runbook_url": "https://runbooks.example.com/kube/replicas",
                          "description": "Deployment shop/checkout-api has not matched the expected replicas."},
    "alerts": [{"status": "firing", "labels": {"alertname": "KubeDeploymentReplicasMismatch", "namespace": "shop",
                                               "deployment": "checkout-api", "severity": "warning"},
                "annotations": {"summary": "Deployment replicas mismatch", "dashboard": "javascript:alert(1)"},
                "generatorURL": "http://prometheus.example.com/graph?g0.expr=x"}],
})
SNS = json.dumps({
    "Type": "Notification", "Subject": "ALARM: \"orders-db-cpu\"",
    "Message": json.dumps({
        "AlarmName": "orders-db-cpu", "NewStateValue": "ALARM", "AlarmDescription": "CPU high on orders-db",
        "NewStateReason": "Threshold Crossed: 1 datapoint [97.1 (04/12/26 10:00:00)] was greater than the threshold"
                          " (90.0).", "Region": "EU (Ireland)",
        "Trigger": {"MetricName": "CPUUtilization", "Namespace": "AWS/RDS", "Threshold": 90.0,
                    "Dimensions": [{"name": "DBInstanceIdentifier", "value": "orders-db"}]},
    }),
})
GUARDDUTY = json.dumps({
    "version": "0", "detail-type": "GuardDuty Finding", "source": "aws.guardduty", "region": "us-east-1",
    "detail": {"schemaVersion": "2.0", "type": "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
               "severity": 8, "title": "Credentials for instance role used from an external IP",
               "resource": {"resourceType": "Instance", "instanceDetails": {"instanceId": "i-0abc123"}}},
})
AZURE = json.dumps({
    "schemaId": "azureMonitorCommonAlertSchema",
    "data": {"essentials": {"alertRule": "sqldb-orders DTU > 95%", "severity": "Sev1", "monitorCondition": "Fired",
                            "signalType": "Metric", "configurationItems": ["sqldb-orders"],
                            "alertTargetIDs": ["/subscriptions/x/resourceGroups/rg/providers/Microsoft.Sql/servers/s"
                                               "/databases/sqldb-orders"]},
             "alertContext": {"condition": {"allOf": [{"metricName": "dtu_consumption_percent", "threshold": "95",
                                                       "metricValue": 99.2}]}}},
})
GCP = json.dumps({"incident": {"incident_id": "0.x", "scoping_project_id": "acme", "policy_name": "quote-api 5xx",
                               "state": "open", "resource_display_name": "quote-api", "observed_value": "0.31",
                               "threshold_value": "0.05", "url": "https://console.cloud.google.com/monitoring/x",
                               "summary": "5xx ratio for quote-api is above the threshold"}})
PAGERDUTY = json.dumps({"event": {"event_type": "incident.triggered", "data": {
    "type": "incident", "title": "Checkout latency over SLO", "urgency": "high", "status": "triggered",
    "service": {"summary": "checkout-api"}, "html_url": "https://acme.pagerduty.com/incidents/Q1"}}})


@pytest.mark.parametrize(
    ("text", "source", "name", "resource"),
    [
        (ALERTMANAGER, "alertmanager", "KubeDeploymentReplicasMismatch", "shop/checkout-api"),
        (SNS, "cloudwatch", "orders-db-cpu", "orders-db"),
        (GUARDDUTY, "guardduty", "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS", "i-0abc123"),
        (AZURE, "azure-monitor", "sqldb-orders DTU > 95%", "sqldb-orders"),
        (GCP, "gcp-monitoring", "quote-api 5xx", "quote-api"),
        (PAGERDUTY, "pagerduty", "Checkout latency over SLO", "checkout-api"),
        ("[FIRING:2] KubePodCrashLooping\nnamespace=media pod=transcoder-7d9f-k2x4q severity=critical\n"
         "Pod is restarting 3 times / 5 minutes.", "alertmanager", "KubePodCrashLooping",
         "media/transcoder-7d9f-k2x4q"),
        ("[P2] Triggered on {host:cache-01}: Redis memory usage high on cache-01\nused_memory is 91% of maxmemory",
         "datadog", "Redis memory usage high on cache-01", "cache-01"),
        ("LAST SEEN   TYPE      REASON             OBJECT                         MESSAGE\n"
         "2m          Normal    Pulled             pod/web-84b6f-lm2rd            Pulled image\n"
         "1m          Warning   Failed             pod/web-84b6f-lm2rd            Error: ImagePullBackOff",
         "kubernetes", "ImagePullBackOff", "web-84b6f-lm2rd"),
        ("Mar 14 02:11:09 lb-edge-02 systemd[1]: haproxy.service: Main process exited, code=killed, status=9/KILL",
         "journald", "", "haproxy.service on lb-edge-02"),
    ],
    ids=["alertmanager-json", "sns", "guardduty", "azure", "gcp", "pagerduty", "alertmanager-text", "datadog-text",
         "kubectl-events", "journald"],
)
def test_each_tool_is_read_as_it_writes(text: str, source: str, name: str, resource: str) -> None:
    reading = read(text).reading
    assert reading.source == source
    assert reading.alert_name == name
    assert reading.resource == resource


def test_links_come_only_from_structured_fields_and_only_http() -> None:
    links = read(ALERTMANAGER).links
    assert [(link.kind, link.url) for link in links] == [
        ("source", "http://prometheus.example.com/graph?g0.expr=x"),
        ("runbook", "https://runbooks.example.com/kube/replicas"),
    ]
    assert read("The runbook is at https://wiki.example.com/x, see it").links == ()


def test_the_worst_of_several_events_is_the_label() -> None:
    text = ("10:00:01.000000000: Notice Unexpected connection (user=app container=api-1)\n"
            "10:00:02.000000000: Critical Shell spawned in container (user=root container=api-1 shell=bash)")
    reading = read(text).reading
    assert reading.source == "falco"
    assert reading.labels["priority"] == "Critical"
    assert [event.level for event in reading.events] == ["notice", "critical"]


def test_vendor_scales_are_read_by_their_own_definition() -> None:
    rules = default_rules()
    low = read("Opsgenie Alert [P4] #1: Certificate renewal reminder for docs-site").reading
    assert low.source == "opsgenie" and reading_label(rules, low) is not None
    assert heuristic_card("Opsgenie Alert [P4] #1: Certificate renewal reminder for docs-site").severity == "P3"
    azure = analyse(AZURE)
    assert azure.label is not None and azure.label.word == "sev1" and azure.severity in ("P1", "P2")


def test_a_severity_word_in_a_description_is_prose_not_a_label() -> None:
    text = ("alert: PostgresReadErrors\ninstance: pg-main-0\n"
            "description: \"severity: info — routine, no action required\"\n"
            "ERROR:  invalid page in block 48213 of relation base/16384/24576")
    analysis = analyse(text)
    assert analysis.reading.alert_name == "PostgresReadErrors"
    assert analysis.severity in ("P0", "P1")


def test_people_text_is_read_as_people_text() -> None:
    reading = read("Hi team, customers are telling us every checkout fails since this morning, we lost ~40 "
                   "orders already. Can someone look?").reading
    assert reading.people_text and reading.source in ("chat", "ticket")


def test_stated_impact_outranks_the_label() -> None:
    text = ("[FIRING:1] KubeDeploymentReplicasMismatch (checkout-api payments warning)\n"
            "namespace=payments deployment=checkout-api severity=warning\n"
            "Available replicas: 0 of 4. Ingress is returning 503 for all requests.")
    card = heuristic_card(text)
    assert card.severity == "P0"
    assert card.summary.startswith("KubeDeploymentReplicasMismatch — payments/checkout-api")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=2000))
def test_reading_never_fails(text: str) -> None:
    read(text)
    analyse(text)


@settings(max_examples=150, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                        st.sampled_from(["alerts", "labels", "detail", "incident", "data", "essentials", "alert",
                                         "Message", "Type", "AlarmName", "Trigger", "event", "payload", "rule",
                                         "output", "priority", "status", "title", "body", "tags", "source"]),
                        inner, max_size=5), max_leaves=25))
def test_any_json_shape_gets_a_reading(value: object) -> None:
    read(json.dumps(value))


@pytest.mark.parametrize(
    "text",
    [" " * 1_000_000, "{" * 200_000, "[FIRING:1] A\n" + "a=b " * 250_000, "Warning  BackOff  pod/x " * 40_000,
     "key = value\n" * 80_000, "at com.x.Y(Y.java:1)\n" * 40_000, '{"alerts": [' + "{}," * 300_000 + "{}]}",
     "Mar 14 02:11:09 h p[1]: x\n" * 40_000],
    ids=["blanks", "braces", "pairs", "events", "kv-lines", "java", "json-alerts", "syslog"],
)
def test_reading_is_bounded_on_a_megabyte(text: str) -> None:
    started = time.monotonic()
    read(text)
    assert time.monotonic() - started < 5.0


# --- a right model keeps its answer ----------------------------------------------------------------------------
def _fresh_cases() -> list[dict[str, object]]:
    cases: list[dict[str, object]] = []
    for path in sorted(EVALS.glob("fresh-a-*.jsonl")):
        cases.extend(json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    return cases


async def test_a_right_model_keeps_its_category_severity_and_steps(
    fake_openai: FakeOpenAI, gateways: GatewayFactory
) -> None:
    cases = _fresh_cases()
    steps = ["Check the thing the alert names", "Compare it with the last change", "Tell the owning team"]

    def answer(body: dict[str, object]) -> Reply:
        user = str(body["messages"][-1]["content"])  # type: ignore[index]
        case = next(c for c in cases if str(c["id"]) in user)
        expected = case["expected"]
        assert isinstance(expected, dict)
        return Reply.card(category=expected["category"][0], severity=expected["severity"][0], confidence=0.9,
                          steps=steps)

    fake_openai.default = answer
    gateway = gateways.build(fake_openai)
    kept = 0
    for case in cases:
        # the id rides along in the text so the fake model can answer this very case
        result = await gateway.service.triage(f"{case['text']}\n(case {case['id']})")
        expected = case["expected"]
        assert isinstance(expected, dict)
        assert result.meta.engine == "model"
        assert result.steps == steps
        kept += result.category == expected["category"][0] and result.severity == expected["severity"][0]
    assert kept / len(cases) >= 0.98
    assert "<<<READING" in str(fake_openai.requests[0]["json"])


async def test_a_model_card_keeps_its_own_words_and_carries_the_reading(
    fake_openai: FakeOpenAI, gateways: GatewayFactory
) -> None:
    fake_openai.script(Reply.card(category="infra", severity="P2", confidence=0.9,
                                  summary="Deployment has fewer ready replicas than desired.\nCheck the rollout."))
    result = await gateways.build(fake_openai).service.triage(ALERTMANAGER)
    assert result.meta.engine == "model"
    assert result.summary.startswith("Deployment has fewer ready replicas")
    assert result.meta.reading is not None and result.meta.reading.alert_name == "KubeDeploymentReplicasMismatch"
    assert result.meta.reading.resource == "shop/checkout-api"
    assert [link.kind for link in result.meta.links] == ["source", "runbook"]


def test_the_slack_header_names_the_alert_and_its_resource() -> None:
    from bot.card import TriageMeta, TriageResult
    from bot.reading import Reading
    from bot.slack.card import card_message

    reading = Reading(source="alertmanager", alert_name="KubeDeploymentReplicasMismatch <!channel>",
                      resource="shop/checkout-api")
    result = TriageResult(
        category="infra", severity="P2", summary="s", steps=["Check a", "Check b", "Check c"], confidence=0.8,
        meta=TriageMeta(triage_id="t", engine="heuristic", prompt_version="heuristic", fingerprint="f",
                        reading=reading),
    )
    header = card_message(result)["blocks"][0]["text"]["text"]
    assert "KubeDeploymentReplicasMismatch" in header and "shop/checkout-api" in header
    assert "<" not in header


@pytest.mark.parametrize(
    ("text", "category", "severities", "place"),
    [
        ("hi team, customers are telling us every checkout fails since this morning, we lost ~40 orders already",
         "app", ("P0",), "checkout"),
        ("anyone else seeing checkout being really slow for EU customers? p95 went from 300ms to 4s since lunch",
         "app", ("P2",), "checkout"),
        ("New Relic: Incident opened - Host not reporting\n\nPriority: Critical\nTarget: batch-worker-3\n\n"
         "Description: batch-worker-3 has not reported for 10 minutes. 5 of 6 hosts in the pool report normally.",
         "infra", ("P2",), "batch-worker-3"),
        ("[P1] Triggered on {host:ci-runner-7}: Disk usage high on ci-runner-7\nDisk usage is 81% (threshold 80%). "
         "This runner is in the non-production CI pool.", "infra", ("P3",), "ci-runner-7"),
        ("Opsgenie Alert [P1] #1: Scheduled maintenance window started for db-replica-2\n\nNo action required.",
         "data", ("P3",), "db-replica-2"),
        ("PingdomAlert DOWN:\napi-eu (api.eu.example.io) is down since 09:41.\nDown from 1 location: Frankfurt\n"
         "UP from 4 locations: Amsterdam, London, Paris, Stockholm", "infra", ("P2",), "api.eu.example.io"),
        ('{"Type": "Notification", "Message": "{\\"AlarmName\\": \\"web-tg-HealthyHostCount\\", \\"NewStateValue\\": '
         '\\"ALARM\\", \\"NewStateReason\\": \\"Threshold Crossed: 3 datapoints [0.0 (x)] were less than the threshold '
         '(2.0).\\", \\"Trigger\\": {\\"MetricName\\": \\"HealthyHostCount\\", '
         '\\"Namespace\\": \\"AWS/ApplicationELB\\", '
         '\\"Threshold\\": 2.0, \\"Dimensions\\": [{\\"name\\": \\"TargetGroup\\", \\"value\\": '
         '\\"targetgroup/web-tg/6d0e\\"}]}}"}', "infra", ("P0",), "web-tg"),
        ("$ kubectl get nodes\nNAME     STATUS     ROLES    AGE   VERSION\nnode-1   Ready      <none>   41d   v1.29\n"
         "node-2   NotReady   <none>   41d   v1.29\nnode-3   Ready      <none>   41d   v1.29\n"
         "node-4   Ready      <none>   41d   v1.29", "infra", ("P2",), "node-2"),
    ],
    ids=["customer-loss", "slow-checkout", "one-host-of-six", "non-production", "maintenance", "one-location",
         "no-healthy-targets", "one-node-of-four"],
)
def test_severity_follows_impact_and_scope(text: str, category: str, severities: tuple[str, ...], place: str) -> None:
    card = heuristic_card(text)
    assert card.category == category
    assert card.severity in severities
    assert place in card.summary and any(place in step for step in card.steps)


async def test_a_customer_report_gives_a_card_about_what_they_reported(gateways: GatewayFactory) -> None:
    text = ("Subject: Can't place any order\n\nHello, every time I try to check out the page says 'Something went "
            "wrong'. I was charged twice and nothing shows under My Orders. Please help.")
    result = await gateways.build().service.triage(text)
    assert result.meta.reading is not None and result.meta.reading.people_text
    assert result.category == "app" and result.severity in ("P0", "P1")
    assert "check out" in result.summary or "checkout" in result.summary
    assert "reporter" in " ".join(result.steps)


@pytest.mark.parametrize(
    ("text", "severities", "category"),
    [
        ('{"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": {"alertRule": "api-web-staging 5xx", '
         '"severity": "Sev0", "monitorCondition": "Fired", "alertTargetIDs": ["/subscriptions/1/resourcegroups/rg-a/'
         'providers/microsoft.web/sites/api-web-staging"], "configurationItems": ["api-web-staging"]}}}',
         ("P3",), "app"),
        ('{"detail-type": "Security Hub Findings - Imported", "source": "aws.securityhub", "detail": {"findings": '
         '[{"ProductArn": "arn:aws:securityhub:::product/aws/inspector", "Title": "CVE-2024-0001 - openssl", '
         '"Severity": {"Label": "CRITICAL"}, "ProductName": "Inspector", "Resources": [{"Type": '
         '"AwsEcrContainerImage", "Id": "arn:aws:ecr:eu-west-1:1:repository/billing/sha256:abcdef", "Details": '
         '{"AwsEcrContainerImage": {"RepositoryName": "billing"}}}]}]}}', ("P2",), "security"),
        ("May 02 04:10:01 gw-3 sshd[11]: Failed password for invalid user test from 203.0.113.9 port 4 ssh2\n"
         "May 02 04:10:03 gw-3 sshd[12]: Failed password for invalid user pi from 203.0.113.9 port 5 ssh2\n"
         "2024-05-02 04:10:04,001 fail2ban.actions [9]: NOTICE  [sshd] Ban 203.0.113.9", ("P3",), "security"),
        ("May 02 04:10:01 db-7 chronyd[80]: Source 10.1.0.5 offline\n"
         "May 02 04:10:02 db-7 chronyd[80]: Can't synchronise: no selectable sources", ("P2", "P3"), "infra"),
        ("2024-05-02 06:00:00.001 UTC [7] app@shop WARNING:  database \"shop\" must be vacuumed within 5000000 "
         "transactions", ("P1",), "data"),
        ("Build agent ci-linux-3: [Pipeline] sh\n> java.io.IOException: No space left on device\nBUILD FAILED\n"
         "Finished: FAILURE\njenkins.log: Making ci-linux-3 offline temporarily due to the lack of disk space",
         ("P2", "P3"), ""),
    ],
    ids=["azure-staging-web-app", "image-cve-finding", "attacker-banned", "clock-sync-lost", "xid-wraparound",
         "ci-agent-disk"],
)
def test_scope_and_stated_facts_bound_severity(text: str, severities: tuple[str, ...], category: str) -> None:
    card = heuristic_card(text)
    assert card.severity in severities
    assert card.category == category or not category


def test_kubectl_names_the_warning_event_and_the_lost_node() -> None:
    reading = read(
        "$ kubectl get events -A\nNAMESPACE   LAST SEEN   TYPE      REASON         OBJECT              MESSAGE\n"
        "default     2m          Normal    NodeNotReady   node/worker-9       Node worker-9 is now: NodeNotReady\n"
        "shop        2m          Warning   NodeNotReady   pod/cart-7f9-abcde  Node is not ready\n"
        "shop        1m          Normal    Scheduled      pod/cart-7f9-xyz12  Successfully assigned shop/cart to w-2"
        + " " * 400
    ).reading
    assert reading.alert_name == "NodeNotReady"
    assert "worker-9" in reading.resource and "LAST" not in reading.resource


@pytest.mark.parametrize(
    "text",
    ["  Warning  ProvisioningFailed  2m  x  " + "m" * 1_000_000, "  ScalingLimited  True  " * 40_000,
     " --- [" * 150_000, '"alertTargetIDs": ["/providers/microsoft.' + "a" * 1_000_000],
    ids=["long-event", "conditions", "spring-brackets", "azure-provider"],
)
def test_new_readings_are_bounded_on_a_megabyte(text: str) -> None:
    started = time.monotonic()
    read(text)
    analyse(text)
    assert time.monotonic() - started < 5.0


@pytest.mark.parametrize(
    ("text", "resource"),
    [
        ("[2025-01-09 10:00:01,100] ERROR [ReplicaManager broker=2] Error processing append operation on partition "
         "billing.invoices-3 (kafka.server.ReplicaManager)", "billing.invoices"),
        ("2025/01/09 10:00:01 [error] 7#7: *91 no live upstreams while connecting to upstream, client: 192.0.2.1, "
         'server: shop.example.org, request: "GET /cart HTTP/1.1", upstream: "http://cart_pool/cart", '
         'host: "shop.example.org"', "cart_pool"),
        ("Jan  9 10:00:01 lb-9 haproxy[311]: [WARNING]  (311) : Server be_api/api-2 is DOWN, reason: Layer7 "
         "wrong status. 3 active and 0 backup servers left.", "be_api/api-2"),
        ('2025-01-09 10:00:01.100 UTC [88] PANIC:  could not write to file "pg_wal/xlogtemp.88": No space left on '
         "device", "pg_wal"),
    ],
    ids=["kafka-topic", "nginx-upstream-group", "haproxy-server", "postgres-full-directory"],
)
def test_a_server_log_names_the_object_that_failed(text: str, resource: str) -> None:
    assert read(text).reading.resource == resource


@pytest.mark.parametrize(
    ("text", "severities"),
    [
        ('type=PROCTITLE msg=audit(1.2:3): proctitle=sh -c echo "ssh-rsa AAAAB3NzaC1yc2EAAAADAQAB x@y" >> '
         "/root/.ssh/authorized_keys", ("P0",)),
        ("ERROR billing.close: month-end close failed: ledger out of balance by 1,200.00 USD, 40 invoices posted "
         "twice", ("P0",)),
        ('2025/01/09 10:00:01 [error] 7#7: *91 no live upstreams while connecting to upstream, upstream: '
         '"http://pay_pool/pay"', ("P0",)),
        ("Warning FailedScheduling pod/web-1 0/5 nodes are available: 5 Insufficient memory.", ("P1",)),
        ("Jan  9 10:00:01 lb-9 haproxy[311]: [WARNING]  (311) : Server be_api/api-2 is DOWN, reason: Layer7 "
         "wrong status. 3 active and 0 backup servers left.", ("P2", "P3")),
    ],
    ids=["root-key-planted", "ledger-out-of-balance", "no-live-upstreams", "unschedulable", "one-server-of-four"],
)
def test_the_stated_failure_family_sets_severity(text: str, severities: tuple[str, ...]) -> None:
    assert heuristic_card(text).severity in severities


@pytest.mark.parametrize(
    "text",
    ["partition " + "a" * 1_000_000, 'could not write to file "' + "b" * 1_000_000,
     "no live upstreams while " + " " * 1_000_000, "Server " + "c/" * 500_000, " " * 1_000_000],
    ids=["partition", "pg-file", "nginx", "haproxy", "blanks"],
)
def test_server_resources_are_bounded_on_a_megabyte(text: str) -> None:
    started = time.monotonic()
    for server in ("kafka", "postgresql", "nginx", "haproxy"):
        server_resource(server, text)
    read(text)
    assert time.monotonic() - started < 5.0


@given(st.text(max_size=2000))
@settings(max_examples=200, deadline=None)
def test_server_resource_never_fails(text: str) -> None:
    for server in ("kafka", "postgresql", "nginx", "haproxy", "redis"):
        assert isinstance(server_resource(server, text), str)


def test_argocd_app_get_names_the_application_and_the_failed_sync() -> None:
    reading = read("Name:               shop-web-staging\nProject:            shop\n"
                   "Repo:               https://git.example.org/ops/manifests.git\n"
                   "Sync Status:        OutOfSync from main (1a2b3c4)\nHealth Status:      Progressing\n\n"
                   "Operation:          Sync\nPhase:              Failed\n"
                   "Message:            one or more objects failed to apply (argocd)").reading
    assert reading.source == "argocd"
    assert reading.resource == "shop-web-staging"
    assert reading.alert_name == "SyncFailed"
