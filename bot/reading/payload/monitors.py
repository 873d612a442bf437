"""SaaS monitors' webhooks: Datadog, New Relic, Sentry."""

from __future__ import annotations

import re
from typing import Any

from bot.reading.draft import Draft, clip, dig, prose, text_of
from bot.reading.payload.fields import environment_of, resource_from, tags_of


def datadog(data: dict[str, Any], draft: Draft) -> None:
    draft.source = "datadog"
    title = text_of(data.get("title") or data.get("event_title") or data.get("alert_title"))
    draft.alert_name = re.sub(r"^\[[^\]]{1,40}\]\s*", "", title)
    tags = tags_of(data.get("tags"))
    draft.labels_from(tags)
    for key in ("priority", "alert_priority", "alert_type", "alert_transition", "alert_status", "severity"):
        draft.label(key, data.get(key))
    draft.status = text_of(data.get("alert_transition") or data.get("alert_status") or data.get("transition"))
    draft.set(resource=data.get("hostname") or data.get("host") or resource_from(tags),
              environment=environment_of(tags))
    body = prose(data.get("body") or data.get("event_msg") or data.get("text") or data.get("message"))
    draft.description = body
    if data.get("alert_metric"):
        draft.metric(data.get("alert_metric"), data.get("alert_value") or data.get("value"),
                     data.get("alert_threshold") or data.get("threshold"))
    draft.link("source", data.get("link") or data.get("url"))
    draft.link("graph", data.get("snapshot"))
    draft.body = f"{title}\n{body}"


def newrelic(data: dict[str, Any], draft: Draft) -> None:
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
    raw = data.get("details")
    details: dict[str, Any] = raw if isinstance(raw, dict) else {}
    value = next((v for v in (details.get("currentValue"), data.get("current_value"), data.get("currentValue"))
                  if v is not None), None)
    if value is not None:
        draft.metric(draft.alert_name or "value", value,
                     details.get("threshold") if details.get("threshold") is not None else data.get("threshold"))
    draft.link("source", data.get("issueUrl") or data.get("incident_url") or data.get("violation_chart_url"))
    draft.link("runbook", data.get("runbook_url"))
    draft.body = f"{draft.alert_name}\n{draft.description}"


_CATCH_ALL_RULE = re.compile(r"(?i)^\s*(?:any|all|every)\b|^\s*new issues?\b")


def sentry(data: dict[str, Any], draft: Draft) -> None:
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
    # a rule of its own ("Refund failures spike") names the alert; a catch-all rule ("Any new issue", "All fatal
    # events") says nothing, and the issue's title ("TypeError: Cannot read properties of undefined") names it
    named = text_of(rule)
    if not named or _CATCH_ALL_RULE.match(named):
        named = title or text_of(exception.get("type")) or named
    draft.alert_name = named
    draft.label("alert_rule", rule)
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


# Checkly's alert types, as its webhook template variable ALERT_TYPE spells them
_CHECKLY_STATUS = {"ALERT_FAILURE": "down", "ALERT_RECOVERY": "resolved", "ALERT_DEGRADED": "degraded",
                   "ALERT_DEGRADED_RECOVERY": "resolved", "ALERT_SSL": "certificate"}


def checkly(data: dict[str, Any], draft: Draft) -> None:
    """Checkly's webhook, with its template's names (CHECK_NAME, ALERT_TYPE) or camelCase ones (checkName)."""
    def field(name: str) -> Any:
        camel = re.sub(r"_([a-z])", lambda hit: hit.group(1).upper(), name.lower())
        return data.get(name) if data.get(name) is not None else data.get(camel)

    draft.source = "checkly"
    name = text_of(field("CHECK_NAME"))
    draft.alert_name = text_of(field("ALERT_TITLE")) or name
    # "Booking API – create reservation": the service before the dash, the check's step after it
    draft.resource = re.split(r"\s[–—-]\s", name, maxsplit=1)[0].strip() or name
    kind = text_of(field("ALERT_TYPE")).upper()
    draft.status = _CHECKLY_STATUS.get(kind, kind.lower())
    for key in ("CHECK_TYPE", "RUN_LOCATION", "RESPONSE_TIME", "GROUP_NAME", "TAGS"):
        draft.label(key.lower(), field(key))
    draft.link("source", field("RESULT_LINK") or field("CHECK_RESULT_LINK"))
    draft.body = "\n".join(f"{key}: {clip(text_of(value), 300)}" for key, value in list(data.items())[:30])

