"""JSON payloads as their tools send them: which adapter reads which shape, and any other shape read generically."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from bot.reading.draft import Draft, clip, dig, text_of
from bot.reading.payload import cicd, cloud, logs, monitors, paging, prometheus, security
from bot.reading.payload.fields import resource_from


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


Adapter = tuple[Callable[[dict[str, Any]], bool], Callable[[dict[str, Any], Draft], None]]

_ADAPTERS: tuple[Adapter, ...] = (
    (lambda d: isinstance(d.get("alerts"), list) and ("receiver" in d or "groupLabels" in d or "commonLabels" in d),
     prometheus.alertmanager),
    (lambda d: "evalMatches" in d or ("ruleName" in d and "state" in d), prometheus.grafana_legacy),
    (lambda d: "AlarmName" in d and ("NewStateValue" in d or "Trigger" in d), cloud.cloudwatch),
    (lambda d: d.get("schemaId") == "azureMonitorCommonAlertSchema" or dig(d, "data", "essentials") is not None,
     cloud.azure),
    (lambda d: isinstance(d.get("incident"), dict) and ("policy_name" in d["incident"] or "condition_name"
                                                         in d["incident"] or "scoping_project_id" in d["incident"]),
     cloud.gcp),
    (lambda d: "anomalyId" in d or ("rootCauses" in d and "impact" in d), cloud.cost_anomaly),
    (lambda d: "budgetDisplayName" in d and "costAmount" in d, cloud.billing_budget),
    (lambda d: ("CHECK_NAME" in d and ("ALERT_TYPE" in d or "ALERT_TITLE" in d))
     or ("checkName" in d and "alertType" in d), monitors.checkly),
    (lambda d: isinstance(d.get("workflow_run") or d.get("workflow_job") or d.get("check_run"), dict)
     or (isinstance(d.get("alert"), dict) and isinstance(d.get("repository"), dict)), cicd.github),
    (lambda d: d.get("object_kind") in ("pipeline", "build"), cicd.gitlab),
    (lambda d: isinstance(d.get("rule"), dict) and "level" in d["rule"] and isinstance(d.get("agent"), dict),
     security.wazuh),
    (lambda d: "output" in d and "rule" in d and "priority" in d, security.falco),
    (lambda d: "schemaVersion" in d and "type" in d and ("resource" in d or "service" in d), security.guardduty),
    (lambda d: "ProductArn" in d and "Severity" in d, security.securityhub),
    (lambda d: ("event_type" in d and "alert_transition" in d) or "alert_metric" in d or "alert_priority" in d
     or ("title" in d and "body" in d and ("tags" in d or "org" in d)), monitors.datadog),
    (lambda d: ("condition_name" in d and ("incident_url" in d or "policy_name" in d)) or "issueUrl" in d
     or isinstance(d.get("accumulations"), dict) or "alertConditionNames" in d, monitors.newrelic),
    (lambda d: (isinstance(dig(d, "data", "event"), dict) or isinstance(dig(d, "data", "issue"), dict)
                or ("culprit" in d and "project" in d)), monitors.sentry),
    (lambda d: (isinstance(dig(d, "event", "data"), dict) and str(dig(d, "event", "event_type")).startswith("incident"))
     or isinstance(dig(d, "messages", 0, "incident"), dict)
     or ("routing_key" in d and isinstance(d.get("payload"), dict)), paging.pagerduty),
    (lambda d: isinstance(d.get("alert"), dict) and ("integrationName" in d or "alertId" in d["alert"]
                                                      or "priority" in d["alert"]), paging.opsgenie),
    (lambda d: (isinstance(d.get("app"), dict) and isinstance(dig(d, "app", "status"), dict))
     or ("health" in d and "sync" in d), cicd.argocd),
    (lambda d: d.get("kind") == "Event" or isinstance(d.get("involvedObject"), dict), logs.kube_event),
    (lambda d: "search_name" in d and ("result" in d or "results_link" in d), logs.splunk),
    (lambda d: any(k in d for k in ("msg", "message", "MESSAGE")) and any(k in d for k in ("level", "severity", "lvl",
                                                                                           "s", "PRIORITY", "ts",
                                                                                           "time", "timestamp")),
     logs.log_line),
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
    if "detail-type" in value and "detail" in value and cloud.eventbridge(value, draft):
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
              resource=resource_from({k: str(v) for k, v in flat.items()}) or nested.get("host.name")
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
