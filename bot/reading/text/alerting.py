"""Alerting tools' messages: Alertmanager, Grafana, Datadog, Kibana, OpenSearch, an error tracker's issue."""

from __future__ import annotations

import re

from bot.reading.draft import Draft, clip
from bot.reading.text.fields import labels_resource, read_environment, read_fields, read_pairs

_CAMEL = re.compile(r"^[A-Z][A-Za-z0-9]{2,80}$")


# the Kubernetes monitoring mixins' descriptions: "Pod shop/cart-7d9 has been ... on cluster staging."
_MIXIN_OBJECT = re.compile(r"\b(?:Pod|Deployment|StatefulSet|DaemonSet|Job|CronJob|HPA|PersistentVolumeClaim|Container)"
                           r" ([a-z0-9][a-z0-9-]{0,62}/[a-z0-9][a-z0-9.-]{0,200}[a-z0-9])\b")


_AM_HEAD = re.compile(r"^\s*(?::[\w+-]{1,30}:\s*)?\**\[(FIRING|RESOLVED)(?::(\d{1,5}))?\]\s*([A-Za-z_][\w:.-]{0,120})")
_SLACK_NAME = re.compile(r"^\s*(?::[\w+-]{1,30}:\s*)?\*?([A-Z][A-Za-z0-9_]{2,120})\*?\s*$")


_GRAFANA_HEAD = re.compile(
    r"^\W{0,4}(?:\*\*)?(Firing|Resolved)(?:\*\*)?\s*$|^\s*\[(Alerting|OK|No Data|Pending)\]\s+(.{1,200})$",
    re.IGNORECASE,
)
_METRIC_LABELS = re.compile(r"\b([a-z_]{2,40})=\"([^\"\n]{1,120})\"")


def grafana_text(head: str, first: str, draft: Draft) -> bool:
    """Grafana's own templates: '**Firing**' with a label list, or legacy '[Alerting] rule name'."""
    hit = _GRAFANA_HEAD.match(first)
    if hit is None:
        return False
    draft.source = "grafana"
    draft.status = (hit.group(1) or hit.group(2) or "").lower()
    read_pairs(head, draft)
    read_fields(head, draft)
    for label in _METRIC_LABELS.finditer(head[:4000]):
        draft.label(label.group(1), label.group(2))
    draft.alert_name = draft.labels.get("alertname") or (hit.group(3) or "").strip()
    draft.resource = labels_resource(draft)
    read_environment(draft)
    return True


def alertmanager(head: str, first: str, draft: Draft) -> bool:
    hit = _AM_HEAD.match(first)
    slack = _SLACK_NAME.match(first) if hit is None and "*Alert:*" in head else None
    if hit is None and slack is None:
        return False
    grafana = "grafana_folder" in head or "/alerting/" in head or "Grafana" in head[:300]
    draft.source = "grafana" if grafana else "alertmanager"
    if hit is not None:
        draft.status = hit.group(1).lower()
        draft.alert_name = hit.group(3).rstrip(":.,")
    else:
        draft.status = "firing"
        draft.alert_name = slack.group(1) if slack else ""
    read_pairs(head, draft)
    read_fields(head, draft)
    if draft.labels.get("alertname") and hit is not None and not _CAMEL.match(draft.alert_name):
        draft.alert_name = draft.labels["alertname"]
    draft.resource = labels_resource(draft)
    if not draft.resource:
        named = _MIXIN_OBJECT.search(head[:20_000])
        draft.resource = named.group(1) if named else ""
    read_environment(draft, head)
    for value in ("value", "VALUE"):
        if draft.labels.get(value):
            draft.metric(draft.alert_name or "value", draft.labels[value])
    return True


_DD_HEAD = re.compile(r"^\s*(?::[\w+-]{1,30}:\s*)?\*?\[(Triggered|Recovered|Warn|Re-Triggered|No Data|Alert|Renotify)"
                      r"(?: on ([^\]]{1,200}))?\]"
                      r"\s*(?:\[(P[1-5])\]\s*)?(.{0,200}?)\*?\s*$", re.IGNORECASE)


# Datadog's Slack message: ":red_circle: *Triggered: [P1] Error rate high on checkout-service*"
_DD_SLACK = re.compile(r"^\s*(?::[\w+-]{1,30}:\s*)?\*?(Triggered|Recovered|Warn|Re-Triggered|No Data)\s*:\s*"
                       r"(?:\[(P[1-5])\]\s*)?(.{1,200}?)\*?\s*$")


def datadog_slack(head: str, first: str, draft: Draft) -> bool:
    hit = _DD_SLACK.match(first)
    if hit is None or "datadog" not in head[:4000].lower():
        return False
    draft.source = "datadog"
    draft.status, draft.alert_name = hit.group(1).lower(), hit.group(3).strip()
    if hit.group(2):
        draft.label("priority", hit.group(2))
    read_fields(head, draft)
    for tag in re.finditer(r"(?<![\w/])(service|host|env|kube_deployment|kube_namespace|device):([\w./-]{1,100})",
                           head):
        draft.label(tag.group(1), tag.group(2))
    draft.set(resource=draft.labels.get("service") or draft.labels.get("kube_deployment") or draft.labels.get("host"))
    read_environment(draft)
    return True


# Kibana's rule action text: "Elasticsearch query rule 'payment-gateway ERROR logs' is active:"
_KIBANA_RULE = re.compile(r"^\W{0,4}(?:[\w ]{0,40}?)\brule '([^'\n]{1,200})' (?:is (active|recovered)|has been "
                          r"(recovered))", re.IGNORECASE)


def kibana_rule(head: str, first: str, draft: Draft) -> bool:
    hit = _KIBANA_RULE.match(first)
    if hit is None:
        return False
    draft.source = "kibana"
    draft.alert_name = hit.group(1)
    draft.status = "firing" if (hit.group(2) or "").lower() == "active" else "resolved"
    read_fields(head, draft)
    named = re.match(r"([a-z][\w-]{1,80}[a-z0-9])\s", draft.alert_name)
    service = re.search(r"\[([a-z][\w-]{1,80})\]", head)
    draft.resource = (service.group(1) if service else "") or (named.group(1) if named else "")
    return True


# Splunk's alert action as chat or e-mail shows it: "*Splunk Alert: VPN - Brute force followed by successful login*"
_SPLUNK = re.compile(r"^\W{0,3}(?:Splunk Alert|\[Splunk\]|Splunk)\s*[:—–-]\s*(.{2,200}?)\W{0,3}$", re.IGNORECASE)


def splunk_alert(head: str, first: str, draft: Draft) -> bool:
    hit = _SPLUNK.match(first)
    if hit is None:
        return False
    draft.source = "splunk"
    draft.alert_name = hit.group(1).strip(" *")
    draft.status = "firing"
    read_fields(head, draft)
    user = re.search(r"(?i)\buser(?:name)?\s*[:=]\s*([\w.@-]{2,80})|\buser\s+([\w.@-]{2,80})\s+(?:accessed|logged|ran"
                     r"|authenticated|signed|connected|downloaded|created|deleted)\b", head[:3000])
    host = re.search(r"(?i)\b(?:host|dest|src_host)\s*[:=]\s*([\w.-]{2,120})", head[:3000])
    draft.resource = (host.group(1) if host else "") or (user.group(1) or user.group(2) if user else "")
    return True


# OpenSearch Alerting's default message: "Monitor search-prod-health just entered alert status."
_OPENSEARCH = re.compile(r"(?m)^\s*Monitor ([\w.-]{1,200}) just entered (alert|completed|error) status")


def opensearch_monitor(head: str, first: str, draft: Draft) -> bool:
    hit = _OPENSEARCH.search(head[:3000])
    if hit is None:
        return False
    draft.source = "opensearch"
    draft.resource = hit.group(1)
    draft.status = "firing" if hit.group(2) == "alert" else hit.group(2)
    read_fields(head, draft)
    draft.alert_name = draft.labels.get("trigger") or hit.group(1)
    return True


# An error tracker's issue as it is shown in chat, its link gone: "Events: 3,412 · Users: 1,987", "First seen: …"
_ISSUE_COUNTS = re.compile(r"(?i)\bevents\W{0,4}[\d,]{1,12}\b[^\n]{0,80}?\busers\W{0,4}[\d,]{1,12}\b")
_ISSUE_TYPE = re.compile(r"^\W{0,3}([A-Z][A-Za-z0-9_.]{1,80}(?:Error|Exception|Rejection|Panic))\W{0,3}:")


def error_tracker(head: str, first: str, draft: Draft) -> bool:
    lowered = head[:3000].lower()
    if _ISSUE_COUNTS.search(head[:3000]) is None or not ("first seen" in lowered or "release" in lowered):
        return False
    draft.source = "sentry"
    read_fields(head, draft)
    for pair in _BOLD_PAIR.finditer(head[:3000]):
        # chat puts several fields on one line: "*Events:* 212 in the last hour  *Users:* 64"
        draft.label(pair.group(1).strip().lower().replace(" ", "_"), pair.group(2).strip())
    kind = _ISSUE_TYPE.match(first)
    draft.alert_name = kind.group(1) if kind else clip(first.strip(" *"), 120)
    release = re.search(r"\brelease\W{0,3}([a-z][\w.-]{1,80})@", head[:3000])
    draft.resource = release.group(1) if release else ""
    headline = _ISSUE_HEADLINE.match(first)
    if headline is not None:
        # "New issue in cart-web (production)": the project is the resource, the issue's title the alert's name
        draft.resource = draft.resource or headline.group(1)
        draft.set(environment=headline.group(2))
        title = _ISSUE_TITLE.search(head[len(first):len(first) + 600])
        if title is not None:
            draft.alert_name = clip(f"{title.group(1)}: {title.group(2).strip()}", 120)
    read_environment(draft)
    return True


_BOLD_PAIR = re.compile(r"\*([A-Z][\w ]{1,30}):\*[ \t]*([^*\n]{1,80}?)(?=[ \t]{2,}|[ \t]*\*|[ \t]*$)", re.MULTILINE)
_ISSUE_HEADLINE = re.compile(r"^\W{0,3}(?:new issue|regression|issue alert|new alert)\s+(?:in|for)\s+\*?([\w.-]{1,80})"
                             r"\*?(?:\s*\((\w{2,30})\))?", re.IGNORECASE)
# the issue's title as chat shows it, often a link's text: "*TypeError*: Cannot read properties of undefined"
_ISSUE_TITLE = re.compile(r"\*?([A-Z][A-Za-z0-9_.]{1,80}(?:Error|Exception|Rejection|Panic))\*?:\s*([^>|\n]{1,100})")


# "[P1] Triggered on {host:web-1}: Disk usage high" / "[P2] Recovered: title"
_DD_HEAD2 = re.compile(r"^\s*\[(P[1-5])\]\s*(Triggered|Recovered|Warn|Re-Triggered|No Data|Renotify)"
                      r"(?: on \{([^}]{1,200})\})?"
                      r"\s*:\s*(.{1,200})$", re.IGNORECASE)


_DD_SUBJECT = re.compile(r"(?im)^subject:\s*\[(Warn|Triggered|Recovered|Alert|No Data|Re-Triggered|Renotify)\]\s*"
                         r"(?:\[(?:Triggered|Recovered|Warn) on \{([^}]{1,200})\}\]\s*)?(.{1,200})$")


_DD_SCOPE = re.compile(r"\[(?:Triggered|Recovered|Warn|Re-Triggered) on \{([^}]{1,200})\}\]\s*(.{1,200})$")


def datadog(head: str, first: str, draft: Draft) -> bool:
    hit = _DD_HEAD.match(first)
    other = _DD_HEAD2.match(first) if hit is None else None
    if hit is None and other is None and "datadog" not in head[:2000].lower():
        return False
    draft.source = "datadog"
    if other is not None:
        draft.label("priority", other.group(1))
        draft.status, draft.alert_name = other.group(2).lower(), other.group(4).strip()
        for part in (other.group(3) or "").split(","):
            key, _, value = part.strip().partition(":")
            if value:
                draft.label(key.strip(), value.strip())
    mail = _DD_SUBJECT.search(head[:3000]) if hit is None and other is None else None
    if mail is not None:
        # the e-mail's subject: "[Warn] [Triggered on {host:ci-runner-07}] Docker volume usage above 85%"
        draft.status, draft.alert_name = mail.group(1).lower(), mail.group(3).strip()
        for part in (mail.group(2) or "").split(","):
            key, _, value = part.strip().partition(":")
            if value:
                draft.label(key.strip(), value.strip())
    if hit is not None:
        draft.status = hit.group(1).lower()
        draft.alert_name = hit.group(4).strip()
        if hit.group(3):
            draft.label("priority", hit.group(3))
        scope = hit.group(2) or ""
        nested = _DD_SCOPE.match(draft.alert_name)
        if nested is not None:
            # an e-mail subject: "[Warn] [Triggered on {host:web-3}] Memory usage above 80%"
            scope, draft.alert_name = nested.group(1), nested.group(2).strip()
        for part in scope.strip("{}").split(","):
            key, _, value = part.strip().partition(":")
            if value:
                draft.label(key.strip(), value.strip())
    read_fields(head, draft)
    for tag in re.finditer(r"(?<![\w/])(service|host|env|kube_deployment|kube_namespace|dbinstanceidentifier"
                           r"|queuename|functionname):([\w./-]{1,100})", head):
        draft.label(tag.group(1), tag.group(2))
    draft.set(resource=draft.labels.get("service") or draft.labels.get("kube_deployment") or draft.labels.get("host")
              or draft.labels.get("dbinstanceidentifier") or draft.labels.get("queuename")
              or draft.labels.get("functionname"))
    read_environment(draft)
    if draft.status == "warn" and "priority" not in draft.labels:
        # Datadog's Warn is the monitor's warning threshold, below its alert threshold
        draft.label("severity", "warning")
    return True
