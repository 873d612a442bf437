"""The Prometheus family's webhooks: Alertmanager (and Grafana's unified alerting), legacy Grafana."""

# mypy: disable-error-code="union-attr, arg-type, index"
# (payloads are untrusted JSON of any shape: every access is guarded by isinstance checks or by read()'s handler)

from __future__ import annotations

from typing import Any

from bot.reading.draft import Draft, prose, text_of
from bot.reading.payload.fields import environment_of, resource_from


def alertmanager(data: dict[str, Any], draft: Draft) -> None:
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
    draft.resource = resource_from(draft.labels)
    draft.environment = environment_of(draft.labels)
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


def grafana_legacy(data: dict[str, Any], draft: Draft) -> None:
    draft.source = "grafana"
    draft.set(alert_name=data.get("ruleName") or data.get("title"), status=data.get("state"))
    draft.description = prose(data.get("message"))
    draft.labels_from(data.get("tags"))
    for match in (data.get("evalMatches") or [])[:10]:
        if isinstance(match, dict):
            draft.metric(match.get("metric"), match.get("value"))
            tags = match.get("tags") if isinstance(match.get("tags"), dict) else {}
            draft.set(resource=resource_from({k: str(v) for k, v in tags.items()}))
    draft.set(resource=resource_from(draft.labels))
    draft.link("dashboard", data.get("ruleUrl"))
    draft.body = f"{data.get('title', '')}\n{draft.description}"
