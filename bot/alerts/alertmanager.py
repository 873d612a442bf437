"""Alertmanager webhook intake: its JSON payload rendered as alert texts for the coalescing path."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Labels that say what fired and where; shown first, in this order.
_KEY_LABELS = ("alertname", "severity", "instance", "job", "namespace", "pod", "service")


class PayloadError(ValueError):
    """The body is not an Alertmanager webhook payload."""


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
    return " | ".join(parts)


def parse_payload(body: Any) -> list[str]:
    """Every alert of a webhook payload, rendered; raises PayloadError on anything else."""
    if not isinstance(body, Mapping) or not isinstance(body.get("alerts"), list):
        raise PayloadError('expected an Alertmanager webhook payload with an "alerts" list')
    common = {"labels": body.get("commonLabels") or {}, "annotations": body.get("commonAnnotations") or {}}
    texts = []
    for index, alert in enumerate(body["alerts"]):
        if not isinstance(alert, Mapping) or not isinstance(alert.get("labels") or {}, Mapping):
            raise PayloadError(f"alerts[{index}] is not an alert object")
        texts.append(render_alert(alert, common))
    return texts
