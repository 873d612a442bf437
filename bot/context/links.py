"""The alert's own links and names, taken from its structure (an Alertmanager or Grafana JSON payload).

Only structured fields count: a URL written in prose is never a link here, so a sender cannot dress up a
button. Readers that know more sources (bot/reading) hand their links in the same shape.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from bot.context.model import AlertLink, LinkKind

MAX_LINKS = 8
URL_MAX = 2000
_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f<>\"'`|\\]")

# annotation or field name -> kind, for the names alerting tools use
FIELD_KINDS: dict[str, LinkKind] = {
    "runbook_url": "runbook", "runbook": "runbook", "runbookurl": "runbook", "playbook_url": "runbook",
    "generatorurl": "source", "generator_url": "source", "panelurl": "graph", "panel_url": "graph",
    "graph_url": "graph", "graph": "graph",
    "dashboard": "dashboard", "dashboard_url": "dashboard", "dashboardurl": "dashboard", "grafana_url": "dashboard",
    "source_url": "source", "sourceurl": "source", "monitor_url": "source", "console_url": "source",
    "alarm_url": "source", "link": "source", "html_url": "source",
    "run_url": "run", "build_url": "run", "pipeline_url": "run", "job_url": "run",
}
# label names that name the service an alert concerns
SERVICE_LABELS = (
    "service", "service_name", "app", "application", "app_kubernetes_io_name", "k8s_app", "deployment",
    "container", "job", "component",
)
ENVIRONMENT_LABELS = ("environment", "env", "stage", "cluster_env")


def safe_url(value: object) -> str | None:
    """The URL when it is a plain absolute http(s) address, else None."""
    if not isinstance(value, str):
        return None
    url = value.strip()
    if not url or len(url) > URL_MAX or _UNSAFE.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


def links_from_fields(fields: Iterable[tuple[str, object]]) -> list[AlertLink]:
    """Links from (field name, value) pairs of a structure; unknown names and unsafe URLs are skipped."""
    out: list[AlertLink] = []
    for name, value in fields:
        kind = FIELD_KINDS.get(name.lower().replace("-", "_"))
        url = safe_url(value)
        if kind is None or url is None or any(link.url == url for link in out):
            continue
        out.append(AlertLink(kind=kind, url=url))
        if len(out) >= MAX_LINKS:
            break
    return out


def parse_payload(text: str) -> Mapping[str, Any] | None:
    """The JSON object the text is, when it is one (a webhook payload pasted or posted as the text)."""
    stripped = text.strip()
    if not stripped.startswith("{") or len(stripped) > 1_000_000:
        return None
    try:
        data = json.loads(stripped)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, Mapping) else None


def first_alert(payload: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], Mapping[str, Any]]:
    """Labels, annotations and the alert object of an Alertmanager-style payload (or of one alert)."""
    alerts = payload.get("alerts")
    alert: Mapping[str, Any] = payload
    if isinstance(alerts, list) and alerts and isinstance(alerts[0], Mapping):
        alert = alerts[0]
    labels: dict[str, Any] = {}
    annotations: dict[str, Any] = {}
    for source in (payload.get("commonLabels"), alert.get("labels")):
        if isinstance(source, Mapping):
            labels.update(source)
    for source in (payload.get("commonAnnotations"), alert.get("annotations")):
        if isinstance(source, Mapping):
            annotations.update(source)
    return labels, annotations, alert


def payload_links(payload: Mapping[str, Any]) -> list[AlertLink]:
    """Links an Alertmanager, Grafana or CI payload carries: runbook_url, generatorURL, dashboard, run URLs."""
    _, annotations, alert = first_alert(payload)
    fields: list[tuple[str, object]] = list(annotations.items())
    for holder in (alert, payload):
        fields.extend((key, value) for key, value in holder.items() if isinstance(value, str))
    return links_from_fields(fields)


def payload_names(payload: Mapping[str, Any]) -> tuple[str, tuple[str, ...], str]:
    """The alert name, the services and the environment its labels give."""
    labels, _, alert = first_alert(payload)
    name = str(labels.get("alertname") or alert.get("alertname") or alert.get("ruleName") or "")
    services = tuple(dict.fromkeys(str(labels[k]) for k in SERVICE_LABELS if isinstance(labels.get(k), str | int)))
    env = next((str(labels[k]) for k in ENVIRONMENT_LABELS if isinstance(labels.get(k), str)), "")
    return name[:200], tuple(s[:200] for s in services if s), env[:200]


def merge_links(*groups: Iterable[AlertLink]) -> list[AlertLink]:
    """The links of several readers, first reader first, each URL once, only http(s), at most MAX_LINKS."""
    out: list[AlertLink] = []
    for group in groups:
        for link in group:
            if safe_url(link.url) is not None and all(link.url != seen.url for seen in out):
                out.append(link)
    return out[:MAX_LINKS]
