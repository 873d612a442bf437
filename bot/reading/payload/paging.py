"""Paging webhooks: PagerDuty (v2 and v3, Events API) and Opsgenie."""

# mypy: disable-error-code="union-attr, arg-type, index"
# (payloads are untrusted JSON of any shape: every access is guarded by isinstance checks or by read()'s handler)

from __future__ import annotations

import json
import re
from typing import Any

from bot.reading.draft import Draft, dig, prose, text_of
from bot.reading.payload.fields import environment_of, tags_of

# a title that opens with an alerting rule's CamelCase name and the resource it fired on
_NAMED_TITLE = re.compile(r"^\s*\[?([A-Z][a-z0-9]+(?:[A-Z][A-Za-z0-9]+)+)\]?\s*[:—–-]\s*"
                          r"([a-z0-9][\w.-]{2,120}[a-z0-9])\b")


def pagerduty(data: dict[str, Any], draft: Draft) -> None:
    draft.source = "pagerduty"
    incident = dig(data, "event", "data") or dig(data, "messages", 0, "incident") or data.get("incident") or {}
    payload = data.get("payload") if isinstance(data.get("payload"), dict) else {}
    if not isinstance(incident, dict):
        incident = {}
    title = text_of(incident.get("title") or incident.get("summary") or payload.get("summary"))
    draft.alert_name = title
    named = _NAMED_TITLE.match(title)
    if named is not None:
        # "PostgresPrimaryDown: pg-billing-01 unreachable …": the rule's name, then the thing it fired on
        draft.alert_name, draft.resource = named.group(1), named.group(2)
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


def opsgenie(data: dict[str, Any], draft: Draft) -> None:
    draft.source = "opsgenie"
    alert = data.get("alert") if isinstance(data.get("alert"), dict) else data
    draft.alert_name = text_of(alert.get("message"))
    draft.label("priority", alert.get("priority"))
    draft.labels_from(alert.get("details"))
    tags = alert.get("tags")
    if isinstance(tags, list):
        draft.labels_from(tags_of(tags))
    draft.status = text_of(data.get("action") or alert.get("status"))
    draft.set(resource=alert.get("entity") or alert.get("source"), environment=environment_of(draft.labels))
    draft.description = prose(alert.get("description"))
    draft.body = f"{draft.alert_name}\n{draft.description}"
