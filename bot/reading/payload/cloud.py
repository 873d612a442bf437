"""Cloud providers' payloads: CloudWatch via SNS, EventBridge events, Azure Monitor, Google Cloud, cost anomalies."""

# mypy: disable-error-code="union-attr, arg-type, index"
# (payloads are untrusted JSON of any shape: every access is guarded by isinstance checks or by read()'s handler)

from __future__ import annotations

import re
from typing import Any

from bot.reading.draft import Draft, clip, dig, prose, text_of
from bot.reading.payload.fields import ARN_NAME, resource_from
from bot.reading.payload.security import guardduty, securityhub


def cloudwatch(data: dict[str, Any], draft: Draft) -> None:
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


def eventbridge(data: dict[str, Any], draft: Draft) -> bool:
    detail = data.get("detail") if isinstance(data.get("detail"), dict) else {}
    source = str(data.get("source", ""))
    if source == "aws.guardduty" or "GuardDuty" in str(data.get("detail-type", "")):
        guardduty(detail, draft)
        return True
    if source == "aws.securityhub":
        findings = detail.get("findings") or []
        if findings and isinstance(findings[0], dict):
            securityhub(findings[0], draft)
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
        kind = text_of(detail.get("type"))
        # a finding's own type ("SensitiveData:S3Object/Financial") names it better than the event's generic kind
        draft.alert_name = kind if ":" in kind or "/" in kind else data["detail-type"]
        draft.set(status=detail.get("status") or detail.get("state"))
        resource = detail.get("resource") or detail.get("resourceArn") or detail.get("resourceId")
        draft.resource = _arn_name(text_of(resource)) if resource else _nested_name(
            detail.get("resourcesAffected") or dig(detail, "resources", 0, "details"))
        flat = {k: v for k, v in detail.items() if not isinstance(v, dict | list)}
        draft.labels_from(flat)
        draft.body = f"{draft.source} {draft.alert_name}\n" + "\n".join(
            f"{k}: {clip(text_of(v), 300)}" for k, v in list(detail.items())[:30])
        return True
    return False


_NAME_KEYS = ("name", "repositoryName", "bucketName", "functionName", "clusterName", "dbInstanceIdentifier",
              "instanceId", "userName", "roleName")


def _nested_name(value: Any, depth: int = 0) -> str:
    """The first name a finding's affected-resource block gives (a bucket's, a repository's), 3 levels deep."""
    if depth > 3 or not isinstance(value, dict):
        return ""
    for key in _NAME_KEYS:
        name = value.get(key)
        if isinstance(name, str) and 0 < len(name) <= 200:
            return name
    return next((found for child in value.values() if (found := _nested_name(child, depth + 1))), "")


def _arn_name(value: str) -> str:
    """The name an ARN ends with ('arn:aws:s3:::payroll-exports' -> 'payroll-exports'), else the value."""
    if not value.startswith("arn:"):
        return value
    return re.split(r"[:/]", value)[-1] or value


def azure(data: dict[str, Any], draft: Draft) -> None:
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
        hit = ARN_NAME.search(text_of(targets[0]))
        target = hit.group(1) if hit else ""
    draft.resource = target
    draft.description = prose(essentials.get("description"))
    conditions = dig(data, "data", "alertContext", "condition", "allOf") or []
    for condition in conditions[:5] if isinstance(conditions, list) else []:
        if isinstance(condition, dict):
            draft.metric(condition.get("metricName") or condition.get("searchQuery") or "condition",
                         condition.get("metricValue"), condition.get("threshold"))
    draft.link("source", dig(data, "data", "alertContext", "linkToSearchResultsUI"))
    # a service health event carries its own stage: "Mitigated: …", "stage": "Resolved" is the provider's all clear
    health = dig(data, "data", "alertContext", "properties") or {}
    if isinstance(health, dict):
        stage = text_of(health.get("stage") or health.get("incidentStatus")).lower()
        title = text_of(health.get("title") or health.get("incidentTitle"))
        if stage in ("resolved", "mitigated", "rca", "complete") or re.match(r"(?i)(?:mitigated|resolved)\b", title):
            draft.status = "resolved"
        draft.set(resource=health.get("service") or health.get("impactedServices"))
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


def gcp(data: dict[str, Any], draft: Draft) -> None:
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
                             or resource_from({k: str(v) for k, v in resource_labels.items()}
                                               if isinstance(resource_labels, dict) else {}))
    draft.metric(dig(incident, "metric", "displayName") or dig(incident, "metric", "type") or "metric",
                 incident.get("observed_value"), incident.get("threshold_value"))
    draft.description = prose(incident.get("summary") or dig(incident, "documentation", "content"))
    draft.link("source", incident.get("url"))
    draft.body = f"{draft.alert_name}\n{draft.description}\n{prose(dig(incident, 'documentation', 'content'))}"


def cost_anomaly(data: dict[str, Any], draft: Draft) -> None:
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


def billing_budget(data: dict[str, Any], draft: Draft) -> None:
    """Google Cloud's budget notification: the spend so far against the budget, and the threshold crossed."""
    draft.source = "gcp-billing-budget"
    draft.alert_name = text_of(data.get("budgetDisplayName") or "Budget alert")
    draft.resource = draft.alert_name
    share = data.get("alertThresholdExceeded")
    draft.label("threshold_exceeded", share)
    draft.metric(BUDGET_METRIC, data.get("costAmount"), data.get("budgetAmount"), text_of(data.get("currencyCode")))
    draft.body = (f"Budget {draft.alert_name}: spend {data.get('costAmount', '')} of budget "
                  f"{data.get('budgetAmount', '')}, threshold {share} exceeded")


# a metric's name that says its value is spend held against a budget (the threshold is the budget)
BUDGET_METRIC = "cost against budget"

