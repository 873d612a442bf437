"""JSON payloads as their tools send them: webhooks, SNS messages, findings, structured log lines."""
# mypy: disable-error-code="union-attr, arg-type, index"
# (payloads are untrusted JSON of any shape: every access is guarded by isinstance checks or by read()'s handler)

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from bot.reading.draft import Draft, clip, dig, number, prose, text_of

_ARN_NAME = re.compile(r"[:/]([\w.-]{1,120})$")
_ENV_KEYS = ("environment", "env", "stage", "deployment_environment", "tier")
_RESOURCE_KEYS = (
    "service", "deployment", "statefulset", "daemonset", "persistentvolumeclaim", "horizontalpodautoscaler", "cronjob",
    "ingress", "job_name", "pod", "container", "instance", "host",
    "hostname", "node", "queue", "topic", "database", "db", "cluster", "app", "application", "namespace", "job",
)


def parse_json(text: str) -> Any:
    """The JSON value the text holds (a prefix line such as 'SNS message:' allowed), or None."""
    stripped = text.strip()
    start = min((i for i in (stripped.find("{"), stripped.find("[")) if i >= 0), default=-1)
    if start < 0 or start > 200:
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(stripped[start:])
    except (json.JSONDecodeError, RecursionError):
        return None
    return value if isinstance(value, dict | list) else None


def _resource_from(labels: dict[str, str]) -> str:
    """The thing a label set is about: a workload beats a namespace, namespace/name when both are given."""
    namespace = labels.get("namespace", "")
    for key in _RESOURCE_KEYS:
        value = labels.get(key, "")
        if value and key != "namespace":
            if namespace and key in ("deployment", "statefulset", "daemonset", "pod", "job_name", "service",
                                     "container", "app", "persistentvolumeclaim", "horizontalpodautoscaler",
                                     "cronjob", "ingress"):
                return f"{namespace}/{value}"
            return value
    return namespace


def _environment(labels: dict[str, str]) -> str:
    return next((labels[key] for key in _ENV_KEYS if labels.get(key)), "")


# --- Prometheus family -----------------------------------------------------------------------------------
def _alertmanager(data: dict[str, Any], draft: Draft) -> None:
    alerts = [alert for alert in data.get("alerts") or [] if isinstance(alert, dict)]
    grafana = "orgId" in data or "dashboardURL" in str(data)[:20000] or "panelURL" in str(data)[:20000]
    draft.source = "grafana" if grafana else "alertmanager"
    common = data.get("commonLabels") if isinstance(data.get("commonLabels"), dict) else {}
    first = alerts[0] if alerts else {}
    labels = {**(first.get("labels") or {}), **(common or {})} if isinstance(first.get("labels"), dict) else common
    draft.labels_from(labels)
    annotations = {**(first.get("annotations") or {}), **(data.get("commonAnnotations") or {})}
    firing = [alert for alert in alerts if alert.get("status") == "firing"]
    draft.status = text_of(data.get("status") or first.get("status"))
    draft.set(alert_name=draft.labels.get("alertname") or data.get("title"))
    draft.resource = _resource_from(draft.labels)
    draft.environment = _environment(draft.labels)
    draft.description = prose(annotations.get("description") or annotations.get("message")
                                or annotations.get("summary") or data.get("message"))
    for alert in alerts[:20]:
        alert_labels = alert.get("labels") if isinstance(alert.get("labels"), dict) else {}
        alert_notes = alert.get("annotations") if isinstance(alert.get("annotations"), dict) else {}
        draft.event(alert_labels.get("severity", ""), alert_notes.get("summary") or alert_notes.get("description")
                    or alert_labels.get("alertname", ""))
        value = alert.get("values") if isinstance(alert.get("values"), dict) else {}
        for name, measured in list(value.items())[:3]:
            draft.metric(name, measured)
        draft.link("source", alert.get("generatorURL"))
        draft.link("dashboard", alert.get("dashboardURL"))
        draft.link("graph", alert.get("panelURL"))
    for key, kind in (("runbook_url", "runbook"), ("runbook", "runbook"), ("dashboard", "dashboard"),
                      ("grafana_url", "dashboard"), ("dashboard_url", "dashboard"), ("playbook", "runbook")):
        draft.link(kind, annotations.get(key))
    count = len(firing) or len(alerts)
    summary = prose(annotations.get("summary"))
    draft.body = "\n".join(
        part for part in (
            f"[{draft.status.upper() or 'FIRING'}:{count}] {draft.alert_name}",
            " ".join(f"{k}={v}" for k, v in draft.labels.items()),
            summary, draft.description if draft.description != summary else "",
        ) if part
    )


def _grafana_legacy(data: dict[str, Any], draft: Draft) -> None:
    draft.source = "grafana"
    draft.set(alert_name=data.get("ruleName") or data.get("title"), status=data.get("state"))
    draft.description = prose(data.get("message"))
    draft.labels_from(data.get("tags"))
    for match in (data.get("evalMatches") or [])[:10]:
        if isinstance(match, dict):
            draft.metric(match.get("metric"), match.get("value"))
            tags = match.get("tags") if isinstance(match.get("tags"), dict) else {}
            draft.set(resource=_resource_from({k: str(v) for k, v in tags.items()}))
    draft.set(resource=_resource_from(draft.labels))
    draft.link("dashboard", data.get("ruleUrl"))
    draft.body = f"{data.get('title', '')}\n{draft.description}"


# --- SaaS monitors and paging ----------------------------------------------------------------------------
def _tags(value: Any) -> dict[str, str]:
    """Datadog-style tags ('env:prod,service:x' or a list) as a dict."""
    items = value.split(",") if isinstance(value, str) else value if isinstance(value, list) else []
    found: dict[str, str] = {}
    for item in items[:40]:
        if isinstance(item, str) and ":" in item:
            key, _, val = item.strip().partition(":")
            found.setdefault(key.strip(), val.strip())
    return found


def _datadog(data: dict[str, Any], draft: Draft) -> None:
    draft.source = "datadog"
    title = text_of(data.get("title") or data.get("event_title") or data.get("alert_title"))
    draft.alert_name = re.sub(r"^\[[^\]]{1,40}\]\s*", "", title)
    tags = _tags(data.get("tags"))
    draft.labels_from(tags)
    for key in ("priority", "alert_priority", "alert_type", "alert_transition", "alert_status", "severity"):
        draft.label(key, data.get(key))
    draft.status = text_of(data.get("alert_transition") or data.get("alert_status") or data.get("transition"))
    draft.set(resource=data.get("hostname") or data.get("host") or _resource_from(tags),
              environment=_environment(tags))
    body = prose(data.get("body") or data.get("event_msg") or data.get("text") or data.get("message"))
    draft.description = body
    if data.get("alert_metric"):
        draft.metric(data.get("alert_metric"), data.get("alert_value") or data.get("value"),
                     data.get("alert_threshold") or data.get("threshold"))
    draft.link("source", data.get("link") or data.get("url"))
    draft.link("graph", data.get("snapshot"))
    draft.body = f"{title}\n{body}"


def _newrelic(data: dict[str, Any], draft: Draft) -> None:
    draft.source = "newrelic"
    names = dig(data, "accumulations", "conditionName") or data.get("alertConditionNames") or []
    draft.alert_name = text_of(data.get("condition_name") or data.get("conditionName")
                               or (names[0] if isinstance(names, list) and names else "") or data.get("title"))
    for key in ("priority", "severity", "policy_name", "policyName"):
        draft.label(key, data.get(key))
    draft.status = text_of(data.get("state") or data.get("current_state"))
    entities = (dig(data, "entitiesData", "names") or dig(data, "accumulations", "entity.name")
                or data.get("impactedEntities") or [])
    target = dig(data, "targets", 0, "name")
    draft.set(resource=(entities[0] if isinstance(entities, list) and entities else "") or target)
    draft.description = prose(data.get("details") or data.get("title"))
    draft.link("source", data.get("issueUrl") or data.get("incident_url") or data.get("violation_chart_url"))
    draft.link("runbook", data.get("runbook_url"))
    draft.body = f"{draft.alert_name}\n{draft.description}"


def _sentry(data: dict[str, Any], draft: Draft) -> None:
    draft.source = "sentry"
    event = dig(data, "data", "event") or data.get("event") or {}
    issue = dig(data, "data", "issue") or {}
    if not isinstance(event, dict):
        event = {}
    values = dig(event, "exception", "values") or []
    exception = values[-1] if isinstance(values, list) and values and isinstance(values[-1], dict) else {}
    title = text_of(event.get("title") or issue.get("title") if isinstance(issue, dict) else event.get("title"))
    title = title or text_of(data.get("message") or data.get("title"))
    rules = data.get("triggering_rules") or data.get("triggered_rule") or dig(data, "data", "triggered_rule")
    rule = rules[0] if isinstance(rules, list) and rules else rules
    draft.alert_name = text_of(rule) or title or text_of(exception.get("type"))
    tags = event.get("tags")
    if isinstance(tags, list):
        draft.labels_from({str(t[0]): t[1] for t in tags[:40] if isinstance(t, list) and len(t) == 2})
    draft.label("level", event.get("level") or data.get("level"))
    draft.set(environment=event.get("environment") or draft.labels.get("environment"),
              resource=data.get("project_slug") or data.get("project_name") or data.get("project")
              or draft.labels.get("service") or draft.labels.get("server_name"))
    draft.status = text_of(data.get("action"))
    culprit = text_of(event.get("culprit") or data.get("culprit"))
    draft.description = f"{title} {culprit}".strip()
    draft.event(event.get("level") or data.get("level") or "error", title)
    draft.link("source", event.get("web_url") or data.get("url") or (issue.get("web_url") if isinstance(issue, dict)
                                                                      else None))
    trace = dig(exception, "stacktrace", "frames") or []
    frames = " ".join(
        f"{frame.get('module') or frame.get('filename') or ''}.{frame.get('function') or ''}"
        for frame in trace[-5:] if isinstance(frame, dict)
    )
    draft.body = f"{title}\n{prose(exception.get('value'))}\n{culprit}\n{frames}"


def _pagerduty(data: dict[str, Any], draft: Draft) -> None:
    draft.source = "pagerduty"
    incident = dig(data, "event", "data") or dig(data, "messages", 0, "incident") or data.get("incident") or {}
    payload = data.get("payload") if isinstance(data.get("payload"), dict) else {}
    if not isinstance(incident, dict):
        incident = {}
    title = text_of(incident.get("title") or incident.get("summary") or payload.get("summary"))
    draft.alert_name = title
    draft.label("urgency", incident.get("urgency"))
    draft.label("priority", dig(incident, "priority", "summary") or dig(incident, "priority", "name"))
    draft.label("severity", payload.get("severity"))
    draft.status = text_of(incident.get("status") or dig(data, "event", "event_type") or data.get("event_action"))
    # Events API v2: `source` is the affected system, `component` the part of it that failed
    draft.set(resource=payload.get("source") or payload.get("component") or dig(incident, "service", "summary")
              or dig(incident, "service", "name"))
    details = payload.get("custom_details")
    draft.description = prose(json.dumps(details)[:2000] if isinstance(details, dict) else details)
    draft.link("source", incident.get("html_url"))
    for link in (data.get("links") or [])[:3]:
        draft.link("dashboard", link.get("href") if isinstance(link, dict) else None)
    draft.body = f"{title}\n{draft.description}"


def _opsgenie(data: dict[str, Any], draft: Draft) -> None:
    draft.source = "opsgenie"
    alert = data.get("alert") if isinstance(data.get("alert"), dict) else data
    draft.alert_name = text_of(alert.get("message"))
    draft.label("priority", alert.get("priority"))
    draft.labels_from(alert.get("details"))
    tags = alert.get("tags")
    if isinstance(tags, list):
        draft.labels_from(_tags(tags))
    draft.status = text_of(data.get("action") or alert.get("status"))
    draft.set(resource=alert.get("entity") or alert.get("source"), environment=_environment(draft.labels))
    draft.description = prose(alert.get("description"))
    draft.body = f"{draft.alert_name}\n{draft.description}"


# --- cloud providers ---------------------------------------------------------------------------------
def _cloudwatch(data: dict[str, Any], draft: Draft) -> None:
    draft.source = "cloudwatch"
    draft.alert_name = text_of(data.get("AlarmName"))
    draft.status = text_of(data.get("NewStateValue"))
    trigger = data.get("Trigger") if isinstance(data.get("Trigger"), dict) else {}
    dims = trigger.get("Dimensions") or []
    for dim in dims[:10] if isinstance(dims, list) else []:
        if isinstance(dim, dict):
            draft.label(str(dim.get("name") or dim.get("Name") or "dimension"), dim.get("value") or dim.get("Value"))
    draft.label("namespace", trigger.get("Namespace"))
    draft.label("region", data.get("Region"))
    dimension = next((v for k, v in draft.labels.items() if k not in ("namespace", "region")), "")
    # load balancer and target group dimensions read 'targetgroup/<name>/<id>': the name is the resource
    parts = dimension.split("/")
    draft.resource = parts[1] if len(parts) == 3 and parts[0] in ("targetgroup", "app", "net") else dimension
    reason = prose(data.get("NewStateReason"))
    measured = re.search(r"\[(-?[\d.]+(?:E-?\d+)?)\s", reason)
    draft.metric(trigger.get("MetricName") or "metric", measured.group(1) if measured else None,
                 trigger.get("Threshold"))
    draft.description = prose(data.get("AlarmDescription"))
    draft.body = (f"ALARM \"{draft.alert_name}\" {trigger.get('Namespace', '')} {trigger.get('MetricName', '')} "
                  f"{' '.join(f'{k}={v}' for k, v in draft.labels.items())}\n{draft.description}\n{reason}")


def _eventbridge(data: dict[str, Any], draft: Draft) -> bool:
    detail = data.get("detail") if isinstance(data.get("detail"), dict) else {}
    source = str(data.get("source", ""))
    if source == "aws.guardduty" or "GuardDuty" in str(data.get("detail-type", "")):
        _guardduty(detail, draft)
        return True
    if source == "aws.securityhub":
        findings = detail.get("findings") or []
        if findings and isinstance(findings[0], dict):
            _securityhub(findings[0], draft)
            return True
    if source == "aws.health":
        draft.source = "aws-health"
        draft.set(alert_name=detail.get("eventTypeCode"), status=detail.get("statusCode"))
        text = dig(detail, "eventDescription", 0, "latestDescription")
        draft.description = prose(text)
        draft.body = f"{draft.alert_name}\n{draft.description}"
        return True
    if source == "aws.cloudwatch" and isinstance(detail.get("alarmName"), str):
        draft.source = "cloudwatch"
        draft.alert_name = detail["alarmName"]
        draft.status = text_of(dig(detail, "state", "value"))
        reason = prose(dig(detail, "state", "reason"))
        metric = dig(detail, "configuration", "metrics", 0, "metricStat", "metric") or {}
        dimensions = metric.get("dimensions") if isinstance(metric, dict) else None
        draft.labels_from(dimensions)
        draft.label("namespace", metric.get("namespace") if isinstance(metric, dict) else None)
        dimension = next((v for k, v in draft.labels.items() if k != "namespace"), "")
        parts = dimension.split("/")
        draft.resource = parts[1] if len(parts) == 3 and parts[0] in ("targetgroup", "app", "net") else dimension
        measured = re.search(r"\[(-?[\d.]+(?:E-?\d+)?)\s", reason)
        limit = re.search(r"threshold \((-?[\d.]+(?:E-?\d+)?)\)", reason)
        draft.metric(metric.get("name") if isinstance(metric, dict) else "metric", measured.group(1) if measured
                     else None, limit.group(1) if limit else None)
        draft.description = prose(dig(detail, "configuration", "description"))
        draft.body = (f"ALARM \"{draft.alert_name}\" {draft.labels.get('namespace', '')} "
                      f"{' '.join(f'{k}={v}' for k, v in draft.labels.items())}\n{draft.description}\n{reason}")
        return True
    if source.startswith("aws.") and isinstance(data.get("detail-type"), str):
        # any other AWS service's event: the service names the tool, the detail type the alert, the detail's own
        # resource (an ARN's last part) the thing affected
        draft.source = source.removeprefix("aws.")
        draft.alert_name = data["detail-type"]
        draft.set(status=detail.get("status") or detail.get("state"))
        resource = detail.get("resource") or detail.get("resourceArn") or detail.get("resourceId")
        draft.resource = _arn_name(text_of(resource)) if resource else ""
        flat = {k: v for k, v in detail.items() if not isinstance(v, dict | list)}
        draft.labels_from(flat)
        draft.body = f"{draft.source} {draft.alert_name}\n" + "\n".join(
            f"{k}: {clip(text_of(v), 300)}" for k, v in list(detail.items())[:30])
        return True
    return False


def _arn_name(value: str) -> str:
    """The name an ARN ends with ('arn:aws:s3:::payroll-exports' -> 'payroll-exports'), else the value."""
    if not value.startswith("arn:"):
        return value
    return re.split(r"[:/]", value)[-1] or value


_GD_LEVEL = ((9.0, "critical"), (7.0, "high"), (4.0, "medium"), (0.0, "low"))


def _guardduty(finding: dict[str, Any], draft: Draft) -> None:
    draft.source = "guardduty"
    draft.alert_name = text_of(finding.get("type") or finding.get("Type"))
    score = number(finding.get("severity"))
    if score is not None:
        draft.label("severity", next(word for floor, word in _GD_LEVEL if score >= floor))
        draft.label("severity_score", score)
    resource = finding.get("resource") if isinstance(finding.get("resource"), dict) else {}
    draft.set(
        resource=dig(resource, "instanceDetails", "instanceId") or dig(resource, "accessKeyDetails", "userName")
        or dig(resource, "s3BucketDetails", 0, "name") or dig(resource, "eksClusterDetails", "name")
        or resource.get("resourceType"),
    )
    draft.label("region", finding.get("region"))
    draft.description = prose(finding.get("description") or finding.get("title"))
    draft.event(draft.labels.get("severity", ""), finding.get("title"))
    draft.body = f"GuardDuty finding {draft.alert_name}\n{text_of(finding.get('title'))}\n{draft.description}"


_DETAIL_NAME_KEYS = ("RepositoryName", "FunctionName", "BucketName", "DBInstanceIdentifier", "ClusterName", "Name")


def _finding_resource_name(details: Any) -> str:
    """The name a finding's resource details give it (an image's repository, a function), not its id or digest."""
    if not isinstance(details, dict):
        return ""
    for typed in details.values():
        if isinstance(typed, dict):
            for key in _DETAIL_NAME_KEYS:
                name = text_of(typed.get(key))
                if name:
                    return name
    return ""


def _securityhub(finding: dict[str, Any], draft: Draft) -> None:
    draft.source = "securityhub"
    draft.alert_name = text_of(finding.get("Title") or finding.get("GeneratorId"))
    draft.label("severity", dig(finding, "Severity", "Label"))
    draft.label("compliance", dig(finding, "Compliance", "Status"))
    draft.label("workflow", dig(finding, "Workflow", "Status"))
    product = text_of(dig(finding, "ProductFields", "aws/securityhub/ProductName") or finding.get("ProductName"))
    draft.label("product", product)
    res_id = text_of(dig(finding, "Resources", 0, "Id"))
    hit = _ARN_NAME.search(res_id)
    draft.resource = _finding_resource_name(dig(finding, "Resources", 0, "Details")) or (
        hit.group(1) if hit else res_id)
    draft.status = text_of(finding.get("RecordState"))
    draft.description = prose(finding.get("Description"))
    draft.body = f"Security Hub finding ({product}) {draft.alert_name}\n{draft.description}"


def _azure(data: dict[str, Any], draft: Draft) -> None:
    draft.source = "azure-monitor"
    essentials = dig(data, "data", "essentials") or {}
    draft.alert_name = text_of(essentials.get("alertRule"))
    draft.label("severity", essentials.get("severity"))
    draft.label("signalType", essentials.get("signalType"))
    draft.label("monitoringService", essentials.get("monitoringService"))
    draft.status = text_of(essentials.get("monitorCondition"))
    items = essentials.get("configurationItems") or []
    targets = essentials.get("alertTargetIDs") or []
    target = text_of(items[0]) if isinstance(items, list) and items else ""
    if not target and isinstance(targets, list) and targets:
        hit = _ARN_NAME.search(text_of(targets[0]))
        target = hit.group(1) if hit else ""
    draft.resource = target
    draft.description = prose(essentials.get("description"))
    conditions = dig(data, "data", "alertContext", "condition", "allOf") or []
    for condition in conditions[:5] if isinstance(conditions, list) else []:
        if isinstance(condition, dict):
            draft.metric(condition.get("metricName") or condition.get("searchQuery") or "condition",
                         condition.get("metricValue"), condition.get("threshold"))
    draft.link("source", dig(data, "data", "alertContext", "linkToSearchResultsUI"))
    # the provider segment of the target id says what kind of resource it is (a SQL database, a web app)
    kind = re.search(r"/providers/(microsoft\.[a-z]+/[a-z]+)", text_of(targets[0]) if isinstance(targets, list)
                     and targets else "", re.IGNORECASE)
    typed = f" ({kind.group(1).lower()})" if kind else ""
    # the rule's own custom properties are the team's words about impact; the metric says what crossed
    custom = dig(data, "data", "customProperties") or dig(data, "data", "alertContext", "customProperties") or {}
    extra = "\n".join(f"{key}: {clip(text_of(value), 300)}" for key, value in list(custom.items())[:20]
                      if not isinstance(value, dict | list)) if isinstance(custom, dict) else ""
    measured = "\n".join(f"{m.name} {m.value:g} (threshold {m.threshold:g})" for m in draft.metrics
                         if m.value is not None and m.threshold is not None)
    draft.body = f"Azure Monitor alert {draft.alert_name} on {target}{typed}\n{draft.description}\n{measured}\n{extra}"


def _gcp(data: dict[str, Any], draft: Draft) -> None:
    draft.source = "gcp-monitoring"
    incident = data["incident"]
    draft.alert_name = text_of(incident.get("policy_name") or incident.get("condition_name"))
    draft.status = text_of(incident.get("state"))
    draft.label("severity", incident.get("severity"))
    resource_labels = dig(incident, "resource", "labels") or {}
    draft.labels_from(resource_labels)
    draft.labels_from(dig(incident, "metric", "labels"))
    draft.labels_from(incident.get("policy_user_labels"))
    draft.resource = text_of(incident.get("resource_display_name") or incident.get("resource_name")
                             or _resource_from({k: str(v) for k, v in resource_labels.items()}
                                               if isinstance(resource_labels, dict) else {}))
    draft.metric(dig(incident, "metric", "displayName") or dig(incident, "metric", "type") or "metric",
                 incident.get("observed_value"), incident.get("threshold_value"))
    draft.description = prose(incident.get("summary") or dig(incident, "documentation", "content"))
    draft.link("source", incident.get("url"))
    draft.body = f"{draft.alert_name}\n{draft.description}\n{prose(dig(incident, 'documentation', 'content'))}"


def _cost_anomaly(data: dict[str, Any], draft: Draft) -> None:
    draft.source = "aws-cost-anomaly"
    cause = dig(data, "rootCauses", 0) or {}
    draft.alert_name = text_of(data.get("monitorName") or "Cost anomaly")
    draft.resource = text_of(cause.get("service") if isinstance(cause, dict) else "")
    impact = data.get("impact") if isinstance(data.get("impact"), dict) else {}
    draft.metric("totalImpact", impact.get("totalImpact") or impact.get("maxImpact"),
                 impact.get("totalExpectedSpend"), "USD")
    draft.link("source", data.get("anomalyDetailsLink"))
    draft.body = (f"Cost anomaly detected: {draft.resource} spend impact ${impact.get('totalImpact', '')}"
                  f" (expected {impact.get('totalExpectedSpend', '')})")


# --- code hosting, CI/CD and security scanners ------------------------------------------------------------
def _github(data: dict[str, Any], draft: Draft) -> None:
    repo = text_of(dig(data, "repository", "full_name"))
    run = data.get("workflow_run") or data.get("workflow_job") or data.get("check_run")
    alert = data.get("alert") if isinstance(data.get("alert"), dict) else None
    draft.labels["repository"] = repo
    if isinstance(run, dict):
        draft.source = "github-actions"
        draft.alert_name = text_of(run.get("name") or run.get("workflow_name"))
        draft.status = text_of(run.get("conclusion") or run.get("status"))
        draft.label("branch", run.get("head_branch"))
        draft.resource = repo
        draft.link("run", run.get("html_url"))
        draft.body = (f"GitHub Actions workflow {draft.alert_name} {draft.status} on {repo} "
                      f"branch {run.get('head_branch')}")
    elif alert is not None and "secret_type" in alert:
        draft.source = "github-secret-scanning"
        draft.alert_name = text_of(alert.get("secret_type_display_name") or alert.get("secret_type"))
        draft.status = text_of(alert.get("state"))
        draft.resource = repo
        draft.label("validity", alert.get("validity"))
        draft.link("source", alert.get("html_url"))
        draft.body = (f"Secret scanning alert: {draft.alert_name} secret leaked in repository {repo}; "
                      f"validity {alert.get('validity', 'unknown')}")
    elif alert is not None:
        draft.source = "dependabot"
        advisory = alert.get("security_advisory") if isinstance(alert.get("security_advisory"), dict) else {}
        package = dig(alert, "dependency", "package", "name") or dig(alert, "security_vulnerability", "package", "name")
        draft.alert_name = text_of(advisory.get("ghsa_id") or advisory.get("cve_id") or advisory.get("summary"))
        draft.label("severity", advisory.get("severity") or dig(alert, "security_vulnerability", "severity"))
        draft.label("package", package)
        draft.status = text_of(alert.get("state"))
        draft.resource = repo
        draft.description = prose(advisory.get("summary"))
        draft.link("source", alert.get("html_url"))
        draft.body = f"Dependabot vulnerability advisory for dependency {package} in {repo}: {draft.description}"


def _gitlab(data: dict[str, Any], draft: Draft) -> None:
    draft.source = "gitlab-ci"
    attrs = data.get("object_attributes") if isinstance(data.get("object_attributes"), dict) else {}
    draft.resource = text_of(dig(data, "project", "path_with_namespace") or dig(data, "project", "name"))
    draft.alert_name = text_of(attrs.get("name") or f"pipeline {attrs.get('id', '')}".strip())
    draft.status = text_of(attrs.get("status") or data.get("build_status"))
    draft.label("ref", attrs.get("ref"))
    failed = [b for b in data.get("builds") or [] if isinstance(b, dict) and b.get("status") == "failed"]
    for build in failed[:5]:
        draft.event("error", f"job {build.get('name')} ({build.get('stage')}) failed")
    draft.link("run", attrs.get("url") or dig(data, "project", "web_url"))
    jobs = ", ".join(str(b.get("name")) for b in failed[:5])
    draft.body = f"GitLab CI pipeline {draft.status} on {draft.resource} ref {attrs.get('ref')}; failed jobs: {jobs}"


def _argocd(data: dict[str, Any], draft: Draft) -> None:
    draft.source = "argocd"
    app = data.get("app") if isinstance(data.get("app"), dict) else data
    name = dig(app, "metadata", "name") or app.get("application") or app.get("app")
    draft.resource = text_of(name)
    health = dig(app, "status", "health", "status") or app.get("health") or app.get("healthStatus")
    sync = dig(app, "status", "sync", "status") or app.get("sync") or app.get("syncStatus")
    phase = dig(app, "status", "operationState", "phase")
    draft.label("health", health)
    draft.label("sync", sync)
    draft.status = text_of(phase or health)
    draft.alert_name = text_of(data.get("trigger") or data.get("title") or f"Argo CD {draft.resource}")
    message = dig(app, "status", "operationState", "message") or data.get("message")
    draft.description = prose(message)
    draft.body = (f"Argo CD application {draft.resource} health {health} sync {sync} operation {phase}\n"
                  f"{draft.description}")


def _falco(data: dict[str, Any], draft: Draft) -> None:
    draft.source = "falco"
    draft.alert_name = text_of(data.get("rule"))
    draft.label("priority", data.get("priority"))
    fields = data.get("output_fields") if isinstance(data.get("output_fields"), dict) else {}
    named = dict(re.findall(r"\b(k8s_pod|k8s\.pod\.name|container_name|container\.name)=([\w./-]{1,200})",
                            text_of(data.get("output"))[:4000]))
    draft.set(resource=fields.get("k8s.pod.name") or fields.get("container.name") or named.get("k8s_pod")
              or named.get("k8s.pod.name") or named.get("container_name") or named.get("container.name")
              or data.get("hostname"), environment=None)
    draft.label("k8s.ns.name", fields.get("k8s.ns.name"))
    draft.event(data.get("priority"), data.get("output"))
    draft.body = f"{data.get('time', '')}: {data.get('priority', '')} {prose(data.get('output'))}\n{draft.alert_name}"


def _wazuh(data: dict[str, Any], draft: Draft) -> None:
    draft.source = "wazuh"
    rule = data["rule"]
    draft.alert_name = text_of(rule.get("description"))
    level = number(rule.get("level"))
    draft.label("rule.level", rule.get("level"))
    if level is not None:
        draft.label("severity", "critical" if level >= 13 else "high" if level >= 10 else "medium" if level >= 7
                    else "low")
    groups = rule.get("groups")
    if isinstance(groups, list):
        draft.label("groups", ",".join(str(g) for g in groups[:8]))
    draft.resource = text_of(dig(data, "agent", "name") or dig(data, "agent", "id"))
    draft.description = prose(data.get("full_log"))
    draft.body = f"Wazuh alert: {draft.alert_name} on agent {draft.resource}\n{draft.description}"


# --- structured logs and Kubernetes objects -----------------------------------------------------------------
_PINO_LEVELS = {10: "trace", 20: "debug", 30: "info", 40: "warning", 50: "error", 60: "fatal"}


def _log_line(data: dict[str, Any], draft: Draft) -> None:
    # pino (Node) writes numeric levels with pid and hostname; zap (Go) writes ts and caller
    pino = isinstance(data.get("level"), int) and "pid" in data
    draft.source = "node" if pino else "go" if "caller" in data and "ts" in data else "json-log"
    level = data.get("level") or data.get("severity") or data.get("lvl") or data.get("log.level") or data.get("s")
    if isinstance(level, int):
        level = _PINO_LEVELS.get(level, "info")
    if data.get("s") and data.get("c"):  # MongoDB's structured log
        draft.source = "mongodb"
        level = {"F": "fatal", "E": "error", "W": "warning", "I": "info"}.get(str(data.get("s")), "info")
    message = data.get("msg") or data.get("message") or data.get("MESSAGE") or data.get("error")
    draft.event(level or "", message)
    draft.label("level", level)
    for key in ("service", "logger", "app", "component", "c", "host", "hostname", "_HOSTNAME", "SYSLOG_IDENTIFIER"):
        draft.label(key, data.get(key))
    draft.set(resource=data.get("service") or data.get("app") or data.get("_HOSTNAME") or data.get("hostname"))
    # JSON lines: the rules read them as they are, every line counts
    draft.body = ""


def _kube_event(data: dict[str, Any], draft: Draft) -> None:
    draft.source = "kubernetes"
    obj = data.get("involvedObject") or data.get("regarding") or {}
    draft.alert_name = text_of(data.get("reason"))
    kind, name, namespace = (text_of(dig(obj, k)) for k in ("kind", "name", "namespace"))
    draft.resource = f"{namespace}/{name}" if namespace and name else name
    draft.label("kind", kind)
    draft.label("type", data.get("type"))
    draft.label("namespace", namespace)
    draft.event(data.get("type"), data.get("message") or data.get("note"))
    draft.body = f"{data.get('type', '')} {draft.alert_name} {kind.lower()}/{name}: {text_of(data.get('message'))}"


def _splunk(data: dict[str, Any], draft: Draft) -> None:
    """A Splunk alert webhook: the saved search names the alert, its first result holds the fields."""
    draft.source = "splunk"
    draft.alert_name = text_of(data.get("search_name"))
    result = data.get("result") if isinstance(data.get("result"), dict) else {}
    flat = {k: v for k, v in result.items() if not isinstance(v, dict | list) and not str(k).startswith("_")}
    draft.labels_from(flat)
    draft.description = prose(result.get("description") or result.get("message"))
    draft.set(resource=_resource_from({k: text_of(v) for k, v in flat.items()}) or text_of(result.get("app")))
    draft.link("source", text_of(data.get("results_link")))
    draft.body = f"{draft.alert_name}\n" + "\n".join(f"{k}: {clip(text_of(v), 300)}" for k, v in flat.items())


# --- dispatch ---------------------------------------------------------------------------------------------
Adapter = tuple[Callable[[dict[str, Any]], bool], Callable[[dict[str, Any], Draft], None]]

_ADAPTERS: tuple[Adapter, ...] = (
    (lambda d: isinstance(d.get("alerts"), list) and ("receiver" in d or "groupLabels" in d or "commonLabels" in d),
     _alertmanager),
    (lambda d: "evalMatches" in d or ("ruleName" in d and "state" in d), _grafana_legacy),
    (lambda d: "AlarmName" in d and ("NewStateValue" in d or "Trigger" in d), _cloudwatch),
    (lambda d: d.get("schemaId") == "azureMonitorCommonAlertSchema" or dig(d, "data", "essentials") is not None,
     _azure),
    (lambda d: isinstance(d.get("incident"), dict) and ("policy_name" in d["incident"] or "condition_name"
                                                         in d["incident"] or "scoping_project_id" in d["incident"]),
     _gcp),
    (lambda d: "anomalyId" in d or ("rootCauses" in d and "impact" in d), _cost_anomaly),
    (lambda d: isinstance(d.get("workflow_run") or d.get("workflow_job") or d.get("check_run"), dict)
     or (isinstance(d.get("alert"), dict) and isinstance(d.get("repository"), dict)), _github),
    (lambda d: d.get("object_kind") in ("pipeline", "build"), _gitlab),
    (lambda d: isinstance(d.get("rule"), dict) and "level" in d["rule"] and isinstance(d.get("agent"), dict), _wazuh),
    (lambda d: "output" in d and "rule" in d and "priority" in d, _falco),
    (lambda d: "schemaVersion" in d and "type" in d and ("resource" in d or "service" in d), _guardduty),
    (lambda d: "ProductArn" in d and "Severity" in d, _securityhub),
    (lambda d: ("event_type" in d and "alert_transition" in d) or "alert_metric" in d or "alert_priority" in d
     or ("title" in d and "body" in d and ("tags" in d or "org" in d)), _datadog),
    (lambda d: ("condition_name" in d and ("incident_url" in d or "policy_name" in d)) or "issueUrl" in d
     or isinstance(d.get("accumulations"), dict) or "alertConditionNames" in d, _newrelic),
    (lambda d: (isinstance(dig(d, "data", "event"), dict) or isinstance(dig(d, "data", "issue"), dict)
                or ("culprit" in d and "project" in d)), _sentry),
    (lambda d: (isinstance(dig(d, "event", "data"), dict) and str(dig(d, "event", "event_type")).startswith("incident"))
     or isinstance(dig(d, "messages", 0, "incident"), dict)
     or ("routing_key" in d and isinstance(d.get("payload"), dict)), _pagerduty),
    (lambda d: isinstance(d.get("alert"), dict) and ("integrationName" in d or "alertId" in d["alert"]
                                                      or "priority" in d["alert"]), _opsgenie),
    (lambda d: (isinstance(d.get("app"), dict) and isinstance(dig(d, "app", "status"), dict))
     or ("health" in d and "sync" in d), _argocd),
    (lambda d: d.get("kind") == "Event" or isinstance(d.get("involvedObject"), dict), _kube_event),
    (lambda d: "search_name" in d and ("result" in d or "results_link" in d), _splunk),
    (lambda d: any(k in d for k in ("msg", "message", "MESSAGE")) and any(k in d for k in ("level", "severity", "lvl",
                                                                                           "s", "PRIORITY", "ts",
                                                                                           "time", "timestamp")),
     _log_line),
)


def read_payload(value: Any, draft: Draft) -> bool:
    """Fill the draft from a parsed JSON value; False when its shape is not one this module knows."""
    if isinstance(value, list):
        value = next((item for item in value[:5] if isinstance(item, dict)), None)
    if not isinstance(value, dict):
        return False
    draft.structured = True
    # SNS wraps the tool's message as a JSON string
    message = value.get("Message")
    if value.get("Type") == "Notification" and isinstance(message, str):
        inner = parse_json(message)
        if isinstance(inner, dict) and read_payload(inner, draft):
            return True
        draft.source = "aws-sns"
        draft.set(alert_name=value.get("Subject"))
        draft.body = f"{value.get('Subject', '')}\n{message}"
        return True
    if "detail-type" in value and "detail" in value and _eventbridge(value, draft):
        return True
    for accepts, adapter in _ADAPTERS:
        try:
            matched = accepts(value)
        except (TypeError, AttributeError):
            matched = False
        if matched:
            adapter(value, draft)
            return True
    draft.source = "json"
    flat = {k: v for k, v in value.items() if not isinstance(v, dict | list)}
    draft.labels_from(flat)
    nested = _flatten(value)
    draft.set(alert_name=value.get("alertname") or value.get("title") or value.get("name")
              or nested.get("rule.name") or nested.get("alert.name") or nested.get("event.name"),
              resource=_resource_from({k: str(v) for k, v in flat.items()}) or nested.get("host.name")
              or nested.get("host.hostname") or nested.get("resource.name") or nested.get("service.name"))
    # an unknown shape is matched on every field it holds, nested ones included, never on its keys alone
    draft.body = "\n".join(f"{k}: {clip(v, 500)}" for k, v in list(nested.items())[:60])
    return True


def _flatten(value: dict[str, Any], prefix: str = "", depth: int = 0) -> dict[str, str]:
    """A nested object's scalar fields by dotted key ('host.name'), three levels deep, lists of scalars joined."""
    out: dict[str, str] = {}
    for key, item in list(value.items())[:80]:
        name = f"{prefix}{key}"
        if isinstance(item, dict):
            if depth < 3:
                out.update(_flatten(item, f"{name}.", depth + 1))
        elif isinstance(item, list):
            scalars = [text_of(x) for x in item[:20] if not isinstance(x, dict | list)]
            if scalars:
                out[name] = ", ".join(scalars)
            elif item and isinstance(item[0], dict) and depth < 3:
                out.update(_flatten(item[0], f"{name}.", depth + 1))
        elif item is not None:
            out[name] = text_of(item)
    return out
