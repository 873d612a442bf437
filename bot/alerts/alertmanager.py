"""Alertmanager webhook intake: its JSON payload rendered as alert texts for the coalescing path."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.context.links import safe_url
from bot.identity import Identity, structured_identity

# Labels that say what fired and where; shown first, in this order.
_KEY_LABELS = ("alertname", "severity", "instance", "job", "namespace", "pod", "service")


# Annotations that hold a link (Prometheus conventions), rendered as `name: url` lines.
_LINK_ANNOTATIONS = ("runbook_url", "dashboard", "grafana_url", "dashboard_url")

# Labels that keep one alert's benign and severe variants apart: part of its identity whatever the grouping.
FACET_LABELS = ("severity", "priority", "env", "environment", "stage")

# Labels that say where an alert fired: they vary within one incident (the card lists them).
PLACE_LABELS = frozenset({"instance", "pod", "container", "host", "hostname", "node", "ip", "endpoint", "uid"})


class PayloadError(ValueError):
    """The body is not an Alertmanager webhook payload."""


@dataclass(frozen=True)
class ParsedAlert:
    """One alert of a webhook: the text shown and triaged, and the identity its labels give it."""

    text: str
    identity: Identity


def alert_key(labels: Mapping[str, Any], group_labels: Mapping[str, Any] | None = None) -> str:
    """What identifies an alert, like Alertmanager's own grouping: alertname plus the group labels.

    Without group labels, every label except those naming a place (instance, pod, …) identifies it. The
    severity and environment labels always do: a warning and a critical never share an incident.
    """
    name = str(labels.get("alertname") or "alert")
    if group_labels:
        keys = sorted({k for k in group_labels if k != "alertname"} | {k for k in FACET_LABELS if k in labels})
    else:
        keys = sorted(k for k in labels if k != "alertname" and k.lower() not in PLACE_LABELS)
    groups = group_labels or {}
    parts = [f"{key}={labels.get(key, groups.get(key))}" for key in keys]
    return "\x00".join(["alertmanager", name, *parts])


def render_alert(alert: Mapping[str, Any], common: Mapping[str, Any] | None = None) -> str:
    """One alert as the text a person would see in a Slack notification."""
    labels = {**(common or {}).get("labels", {}), **(alert.get("labels") or {})}
    annotations = {**(common or {}).get("annotations", {}), **(alert.get("annotations") or {})}
    status = str(alert.get("status") or "firing").upper()
    name = str(labels.get("alertname") or "alert")
    where = " ".join(str(labels[key]) for key in ("instance", "job") if labels.get(key))
    head = f"[{status}] {name}" + (f" ({where})" if where else "")
    parts = [head]
    for key in ("summary", "title", "message", "description"):
        value = annotations.get(key)
        if value:
            parts.append(str(value).strip())
    ordered = [k for k in _KEY_LABELS if k in labels] + sorted(k for k in labels if k not in _KEY_LABELS)
    parts.append("labels: " + " ".join(f"{key}={labels[key]}" for key in ordered))
    # The alert's own links, each on a `name: url` line of its own, so that they reach the card as links.
    links = [(key, annotations.get(key)) for key in _LINK_ANNOTATIONS] + [("generatorURL", alert.get("generatorURL"))]
    lines = [f"{key}: {url}" for key, url in links if safe_url(url)]
    return " | ".join(parts) + "".join("\n" + line for line in lines)


def parse_alerts(body: Any) -> list[ParsedAlert]:
    """Every alert of a webhook payload, rendered and identified; raises PayloadError on anything else."""
    if not isinstance(body, Mapping) or not isinstance(body.get("alerts"), list):
        raise PayloadError('expected an Alertmanager webhook payload with an "alerts" list')
    common = {"labels": body.get("commonLabels") or {}, "annotations": body.get("commonAnnotations") or {}}
    group_labels = body.get("groupLabels")
    if not isinstance(group_labels, Mapping):
        group_labels = {}
    parsed = []
    for index, alert in enumerate(body["alerts"]):
        if not isinstance(alert, Mapping) or not isinstance(alert.get("labels") or {}, Mapping):
            raise PayloadError(f"alerts[{index}] is not an alert object")
        labels = {**common["labels"], **(alert.get("labels") or {})}
        text = render_alert(alert, common)
        resolved = str(alert.get("status") or "firing").lower() == "resolved"
        key = alert_key(labels, group_labels)
        identity = structured_identity(key, text, resolved, {k: str(v) for k, v in labels.items()})
        parsed.append(ParsedAlert(text, identity))
    return parsed


def parse_payload(body: Any) -> list[str]:
    """Every alert of a webhook payload, rendered; raises PayloadError on anything else."""
    return [alert.text for alert in parse_alerts(body)]
