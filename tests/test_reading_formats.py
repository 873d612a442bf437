"""Formats read as their tools write them, the impact counts they state, and both bounded on hostile text."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.reading import read
from bot.reading.text.head import status_of_head
from bot.triage.heuristics import heuristic_card
from bot.triage.impact import all_failing


def test_an_aws_eventbridge_event_names_its_service_type_and_resource() -> None:
    event = {"version": "0", "detail-type": "Access Analyzer Finding", "source": "aws.access-analyzer",
             "region": "eu-west-1", "detail": {"status": "ACTIVE", "resourceType": "AWS::S3::Bucket",
                                               "resource": "arn:aws:s3:::ledger-exports", "isPublic": True}}
    reading = read(json.dumps(event)).reading
    assert (reading.source, reading.alert_name, reading.resource) == (
        "access-analyzer", "Access Analyzer Finding", "ledger-exports")
    assert heuristic_card(json.dumps(event)).category == "security"


def test_a_splunk_webhook_names_the_saved_search() -> None:
    payload = {"search_name": "Brute force then success", "results_link": "https://splunk.example.org/x",
               "result": {"host": "bastion-2", "count": "912", "_time": "2025-01-01"}}
    reading = read(json.dumps(payload)).reading
    assert (reading.source, reading.alert_name, reading.resource) == ("splunk", "Brute force then success",
                                                                      "bastion-2")


def test_google_cloud_monitoring_mail_names_the_policy_and_the_resource() -> None:
    text = ("From: Google Cloud Alerting <alerting-noreply@google.com>\nSubject: [ALERT] queue age\n\n"
            "Incident #0.abc is open for project shop-prod\n\nPolicy: Queue age (orders)\n"
            "Resource: pubsub_subscription orders-sub (project shop-prod)\n")
    reading = read(text).reading
    assert (reading.source, reading.alert_name, reading.resource, reading.status) == (
        "gcp-monitoring", "Queue age (orders)", "orders-sub", "open")


def test_a_kibana_rule_action_names_the_rule_and_the_service() -> None:
    reading = read("*Log threshold rule 'cart-api ERROR logs' is active:*\n- Value: 4\n"
                   "2025-01-01T00:00:00Z ERROR [cart-api] timeout\n").reading
    assert (reading.source, reading.alert_name, reading.resource, reading.status) == (
        "kibana", "cart-api ERROR logs", "cart-api", "firing")


def test_datadog_in_slack_markup_is_read_as_datadog() -> None:
    reading = read(":red_circle: *Triggered: [P2] Queue depth high on billing-worker*\nscope service:billing-worker\n"
                   "<https://app.datadoghq.com/monitors/1|View>").reading
    assert (reading.source, reading.status, reading.labels.get("priority")) == ("datadog", "triggered", "P2")


@pytest.mark.parametrize("head", [":white_check_mark: *Resolved:* Incident on docs was resolved automatically.",
                                  "Checkout outage\n\nResolved - This incident has been resolved.",
                                  "*Recovered: Disk usage high on db-2*"])
def test_a_head_announcing_the_end_is_resolved(head: str) -> None:
    assert status_of_head(head) == "resolved"
    assert heuristic_card(head).severity == "P3"


@pytest.mark.parametrize("head", ["Resolved tickets this week: 14", "Investigating - checkout errors"])
def test_a_head_that_does_not_announce_the_end_is_not_resolved(head: str) -> None:
    assert status_of_head(head) == ""


@pytest.mark.parametrize("text", ["UnHealthyHostCount for target group tg-web is 6 of 6.",
                                  "Probe servers reporting DOWN: Paris, Tokyo, Ohio (3/3)",
                                  "312 of 312 orders failed in the last minute",
                                  "0 of 5 replicas are available",
                                  "deployment.apps/api   0/3     3            0           9d"])
def test_every_member_of_a_whole_failing_is_read(text: str) -> None:
    assert all_failing(text)


@pytest.mark.parametrize("text", ["2 of 6 hosts unhealthy", "1 of 1 pod not ready", "0/9 nodes are available: "
                                  "3 Insufficient memory", "5 of 6 hosts reporting normally"])
def test_part_of_a_whole_or_a_single_member_is_not_everything_failing(text: str) -> None:
    assert not all_failing(text)


@given(st.text(max_size=2000))
@settings(max_examples=200, deadline=None)
def test_the_counts_and_heads_never_fail(text: str) -> None:
    assert isinstance(all_failing(text), str)
    assert status_of_head(text) in ("", "resolved")


@pytest.mark.parametrize("text", [" " * 1_000_000, "8 of " * 200_000, "unhealthy " * 100_000 + "1 of 1",
                                  "*Resolved" * 100_000, "Incident #1 is open " * 50_000,
                                  "rule '" + "a" * 1_000_000, '{"search_name": "' + "b" * 1_000_000 + '"}'])
def test_the_counts_and_formats_are_bounded_on_a_megabyte(text: str) -> None:
    started = time.monotonic()
    all_failing(text)
    status_of_head(text)
    read(text)
    assert time.monotonic() - started < 5.0


def test_the_worst_of_several_events_is_the_reading() -> None:
    lines = [{"output": "10:00:00: Notice Shell spawned (container_name=web k8s_pod=web-1)", "priority": "Notice",
              "rule": "Shell spawned"},
             {"output": "10:00:02: Critical Dropped binary ran (container_name=web k8s_pod=web-1)",
              "priority": "Critical", "rule": "Drop and execute new binary in container"}]
    taken = read("\n".join(json.dumps(line) for line in lines))
    assert (taken.reading.alert_name, taken.reading.labels["priority"], taken.reading.resource) == (
        "Drop and execute new binary in container", "Critical", "web-1")
    assert len(taken.reading.events) == 2
    assert heuristic_card("\n".join(json.dumps(line) for line in lines)).severity == "P0"


def test_a_text_falco_line_is_named_without_its_fields() -> None:
    line = ("2024-09-25T09:30:57.29+0000: Warning Symlinks created over sensitive files | target=/etc/shadow "
            "evt_type=symlinkat user=root")
    assert read(line).reading.alert_name == "Symlinks created over sensitive files"


def test_an_e_mail_is_read_by_its_subject() -> None:
    text = ("From: nagios@mon.example.org\nSubject: ** PROBLEM Service Alert: db-7/Disk Usage is CRITICAL **\n\n"
            "Service: Disk Usage\nHost: db-7\nState: CRITICAL\n")
    reading = read(text).reading
    assert (reading.source, reading.resource, reading.alert_name) == ("nagios", "db-7", "Disk Usage")


def test_a_checkmk_notification_names_host_service_and_state() -> None:
    text = ("Checkmk notification\nHost:     build-3 (build-3.lab.example.org)\nService:  Filesystem /\n"
            "State:    OK -> CRIT\nHost tags: site:lab, criticality:test\n")
    reading = read(text).reading
    assert (reading.source, reading.resource, reading.alert_name, reading.status) == (
        "checkmk", "build-3", "Filesystem /", "problem")
    assert heuristic_card(text).severity == "P3"


def test_a_leak_report_without_the_tools_name_is_still_a_finding_on_its_file() -> None:
    text = ("Finding:     key=REDACTED\nSecret:      REDACTED\nRuleID:      github-pat\nFile:        ops/release.sh\n"
            "Fingerprint: abc:ops/release.sh:github-pat:3\n\n10:14AM WRN leaks found: 1")
    reading = read(text).reading
    assert (reading.source, reading.alert_name, reading.resource) == ("gitleaks", "github-pat", "ops/release.sh")


def test_a_unit_systemd_restarted_and_started_is_over() -> None:
    text = ("Mar 14 09:40:12 web-2 systemd[1]: api.service: Main process exited, code=killed, status=9/KILL\n"
            "Mar 14 09:40:12 web-2 systemd[1]: api.service: Failed with result 'signal'.\n"
            "Mar 14 09:40:17 web-2 systemd[1]: Started API server.\n")
    assert read(text).reading.status == "recovered"
    assert heuristic_card(text).severity == "P3"


@pytest.mark.parametrize(("text", "severity"), [("# WARNING: 97% of maxmemory used (policy=noeviction)", "P1"),
                                                ("disk /data is 91% full on db-3", "P2")])
def test_a_capacity_nearly_used_up_sets_severity(text: str, severity: str) -> None:
    assert heuristic_card(text).severity == severity


def test_a_trivy_report_names_the_image_and_its_worst_finding() -> None:
    text = ("registry.example.org/ci/builder:1.2 (debian 12.5)\n=====\nTotal: 2 (UNKNOWN: 0, LOW: 1, MEDIUM: 0, "
            "HIGH: 0, CRITICAL: 1)\n│ libcurl4 │ CVE-2023-38545 │ CRITICAL │ fixed │ 7.88 │ 7.89 │ curl: overflow │\n")
    reading = read(text).reading
    assert (reading.source, reading.resource, reading.alert_name, reading.labels["severity"]) == (
        "trivy", "builder", "CVE-2023-38545", "critical")
    assert heuristic_card(text).severity in ("P2", "P3")


def test_a_status_page_incident_names_its_component_and_latest_update() -> None:
    text = ("Checkout API — Partial Outage\n\nResolved - This incident has been resolved.\nJun 11, 15:10 UTC\n\n"
            "Investigating - We are investigating errors.\nJun 11, 14:08 UTC")
    reading = read(text).reading
    assert (reading.source, reading.resource, reading.status) == ("statuspage", "Checkout API", "resolved")


def test_an_opensearch_monitor_names_the_monitor_and_trigger() -> None:
    reading = read("Monitor logs-prod-health just entered alert status. Please investigate the issue.\n"
                   "  - Trigger: cluster-red\n  - Severity: 1\n").reading
    assert (reading.source, reading.resource, reading.alert_name) == ("opensearch", "logs-prod-health", "cluster-red")


@pytest.mark.parametrize("text", ["a (b)\nTotal: 1 (" + "X: 1, " * 200_000,
                                  "x — Major Outage\n" + "Update - " * 200_000, "Monitor " + "m" * 1_000_000])
def test_the_new_formats_are_bounded_on_a_megabyte(text: str) -> None:
    started = time.monotonic()
    read(text)
    assert time.monotonic() - started < 5.0


def test_an_error_trackers_issue_in_chat_is_read_without_its_link() -> None:
    text = ("*TypeError*: Cannot read properties of undefined\n`app/cart.tsx` in `totals`\n"
            "*Events:* 3,412 in the last 10 minutes · *Users:* 1,987\n*First seen:* 6 minutes ago in release "
            "`shop-web@2025.04.17-1` · *Environment:* production\n")
    reading = read(text).reading
    assert (reading.source, reading.alert_name, reading.resource) == ("sentry", "TypeError", "shop-web")
    assert heuristic_card(text).severity in ("P0", "P1")


def test_pagerdutys_slack_message_names_the_incident_and_its_resource() -> None:
    reading = read(":rotating_light: *Triggered* #91144 — *[prod] orders-db-1: connections exhausted*\n"
                   "*Service:* Orders Database · *Urgency:* High\n").reading
    assert (reading.source, reading.status, reading.resource) == ("pagerduty", "triggered", "orders-db-1")


def test_kubectl_describe_names_the_described_object() -> None:
    text = ("$ kubectl describe hpa web -n shop\nName:        web\nNamespace:   shop\n"
            "Labels:      app.kubernetes.io/name=web\nEvents:\n  Type    Reason  Age  From  Message\n"
            "  Normal  SuccessfulRescale  2m  horizontal-pod-autoscaler  New size: 24\n")
    assert read(text).reading.resource == "shop/web"


def test_a_ticket_naming_a_tool_in_passing_is_a_persons_report() -> None:
    text = ("Subject: Can't log in since this morning\nTicket #4821 | Priority: Normal\n\nHi,\n\n"
            "Nobody at our office can sign in to the portal through our Okta SSO; we get bounced back.\n")
    reading = read(text).reading
    assert reading.source == "ticket" and reading.people_text
