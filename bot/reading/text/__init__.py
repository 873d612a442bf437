"""Text as tools print it: alert messages, e-mails, kubectl output, logs, traces, CI output, prose.

Each adapter reads (head, first line, draft) and says whether it recognised the text; `ADAPTERS` tries them
in order and the first that recognises the text reads it, so the order matters.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.reading.draft import Draft
from bot.reading.text import (
    alerting,
    certificates,
    checks,
    cicd,
    cloud,
    kubernetes,
    logs,
    named,
    paging,
    people,
    security,
)

ADAPTERS: tuple[Callable[[str, str, Draft], bool], ...] = (
    alerting.alertmanager,
    alerting.grafana_text,
    cloud.cloudwatch_mail,
    alerting.datadog_slack,
    cloud.gcp_mail,
    alerting.kibana_rule,
    alerting.splunk_alert,
    security.trivy,
    alerting.opensearch_monitor,
    checks.status_page,
    alerting.error_tracker,
    paging.paging,
    checks.host_checks,
    alerting.datadog,
    security.security,
    kubernetes.kubernetes,
    cicd.ci,
    named.tool_by_word("pagerduty", "pagerduty"),
    named.tool_by_word("opsgenie", "opsgenie"),
    named.tool_by_word("new relic", "newrelic"),
    named.tool_by_word("sentry", "sentry"),
    named.tool_by_word("azure monitor", "azure-monitor"),
    named.tool_by_word("google cloud monitoring", "gcp-monitoring"),
    named.tool_by_word("cloud monitoring", "gcp-monitoring"),
    named.tool_by_word("zabbix", "zabbix"),
    named.tool_by_word("okta", "okta"),
    named.tool_by_word("nagios", "nagios"),
    named.tool_by_word("icinga", "icinga"),
    checks.uptime,
    cloud.cost,
    certificates.certificate,
    logs.logs,
    people.people,
)
