"""Text as tools print it: alert messages, e-mails, kubectl output, logs, traces, CI output, prose."""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.reading.draft import LEVEL_ORDER, Draft, clip, level_of, worst_level

LEVEL_RANK = {level: rank for rank, level in enumerate(LEVEL_ORDER)}

# Only the head of a long input is read: enough for any alert, bounded for anything else.
HEAD_CHARS = 20_000

_KV = re.compile(r"(?<![\w.-])([A-Za-z_][\w.-]{0,40})=(?:\"([^\"\n]{0,200})\"|([^\s,\"]{1,200}))")
# `key = value` on a line of its own, as label lists print it (a blank beside the '='; `key=value` pairs are inline)
_KV_LINE = re.compile(r"^[ \t]{0,8}[-*•]?[ \t]{0,3}([A-Za-z_][\w.-]{0,40})"
                      r"(?:[ \t]{1,3}=[ \t]{0,3}|=[ \t]{1,3})(.{1,300})$",
                      re.MULTILINE)
_INLINE_PAIR = re.compile(r"\s[A-Za-z_][\w.-]{0,40}=\S")
_FIELD_LINE = re.compile(r"^[ \t]{0,8}[-*•]?[ \t]{0,3}\*?([A-Za-z][\w .-]{0,30}?)\*?:\*?[ \t]{1,40}(\S.{0,300})$",
                         re.MULTILINE)
_URL = re.compile(r"https?://[^\s\"'<>|`)]{1,1990}")
_SLACK_URL = re.compile(r"<(https?://[^|>\s]{1,1990})(?:\|[^>]{0,200})?>")
_CAMEL = re.compile(r"^[A-Z][A-Za-z0-9]{2,80}$")
_PROSE_KEYS = frozenset({"description", "summary", "message", "details", "detail", "body", "text", "comment",
                         "note", "notes", "reason", "alert", "impact", "what happened", "error"})
_LINK_KEYS = {
    "runbook": "runbook", "runbook_url": "runbook", "runbook url": "runbook", "playbook": "runbook",
    "dashboard": "dashboard", "grafana_url": "dashboard", "dashboard_url": "dashboard", "dashboardurl": "dashboard",
    "panel": "graph", "graph": "graph", "generatorurl": "source", "source": "source", "view in": "source",
    "monitor": "source", "alarm url": "source", "console": "source", "view alarm": "source",
    "run": "run", "build url": "run", "pipeline": "run", "job url": "run", "workflow run": "run",
}
_ENV_WORDS = ("environment", "env", "stage")
_RESOURCE_LABELS = ("deployment", "statefulset", "daemonset", "persistentvolumeclaim", "horizontalpodautoscaler",
                    "cronjob", "job_name", "ingress", "service", "pod", "container", "instance", "host", "hostname",
                    "node", "queue", "topic", "database", "cluster", "app", "namespace", "job")


def _labels_resource(draft: Draft) -> str:
    labels = draft.labels
    namespace = labels.get("namespace", "")
    for key in _RESOURCE_LABELS:
        value = labels.get(key, "")
        if not value or key == "namespace":
            continue
        if namespace and key in ("deployment", "statefulset", "daemonset", "pod", "job_name", "service", "container",
                                 "app", "persistentvolumeclaim", "horizontalpodautoscaler", "cronjob", "ingress"):
            return f"{namespace}/{value}"
        return value
    return namespace


def _fields(head: str, draft: Draft, *, labels: bool = True) -> None:
    """`Key: value` lines: labels, the alert's prose, and links in named fields."""
    for hit in _FIELD_LINE.finditer(head):
        key = hit.group(1).strip().lower()
        value = hit.group(2).strip().strip("*").strip()
        link = _LINK_KEYS.get(key)
        if link is not None:
            url = _SLACK_URL.search(value) or _URL.search(value)
            if url is not None:
                draft.link(link, url.group(1) if url.re is _SLACK_URL else url.group(0))  # type: ignore[arg-type]
            continue
        if key in _PROSE_KEYS:
            if not draft.description:
                draft.description = clip(value, 500)
            continue
        if labels and len(value) <= 80:
            draft.label(key.replace(" ", "_"), value)


def _pairs(head: str, draft: Draft) -> None:
    """`key=value` label pairs, on their own lines or inline."""
    for hit in _KV_LINE.finditer(head):
        key, value = hit.group(1), hit.group(2).strip()
        if _INLINE_PAIR.search(value):
            continue
        if key.lower() in _LINK_KEYS or key.lower().endswith("url"):
            url = _URL.search(value)
            if url is not None:
                draft.link(_LINK_KEYS.get(key.lower(), "source"), url.group(0))  # type: ignore[arg-type]
            continue
        if key.lower() in _PROSE_KEYS:
            if not draft.description:
                draft.description = clip(value, 500)
            continue
        if len(value) <= 120:
            draft.label(key, value)
    for hit in _KV.finditer(head):
        if hit.group(1).lower() in _PROSE_KEYS or hit.group(1).lower().endswith("url"):
            continue
        draft.label(hit.group(1), hit.group(2) if hit.group(2) is not None else hit.group(3))


_ENV_NAMES = frozenset({"prod", "production", "staging", "stage", "stg", "dev", "development", "test", "qa", "uat",
                        "sandbox", "preview", "nonprod"})
# the Kubernetes monitoring mixins' descriptions: "Pod shop/cart-7d9 has been ... on cluster staging."
_MIXIN_OBJECT = re.compile(r"\b(?:Pod|Deployment|StatefulSet|DaemonSet|Job|CronJob|HPA|PersistentVolumeClaim|Container)"
                           r" ([a-z0-9][a-z0-9-]{0,62}/[a-z0-9][a-z0-9.-]{0,200}[a-z0-9])\b")
_ON_CLUSTER = re.compile(r"\bon cluster ([A-Za-z0-9][\w.-]{0,80}[A-Za-z0-9])")


def _environment(draft: Draft, head: str = "") -> None:
    """The environment label; else a cluster or namespace named for one (`staging`, `prod-eu-1`)."""
    found = next((draft.labels[k] for k in _ENV_WORDS if draft.labels.get(k)), "")
    if not found:
        named = [draft.labels.get("cluster", ""), draft.labels.get("namespace", "")]
        cluster = _ON_CLUSTER.search(head[:20_000]) if head else None
        if cluster is not None:
            named.append(cluster.group(1))
        found = next((value for value in named if value and re.split(r"[-_.]", value.lower())[0] in _ENV_NAMES), "")
    draft.set(environment=found)


# --- alerting tools ---------------------------------------------------------------------------------------
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
    _pairs(head, draft)
    _fields(head, draft)
    for label in _METRIC_LABELS.finditer(head[:4000]):
        draft.label(label.group(1), label.group(2))
    draft.alert_name = draft.labels.get("alertname") or (hit.group(3) or "").strip()
    draft.resource = _labels_resource(draft)
    _environment(draft)
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
    _pairs(head, draft)
    _fields(head, draft)
    if draft.labels.get("alertname") and hit is not None and not _CAMEL.match(draft.alert_name):
        draft.alert_name = draft.labels["alertname"]
    draft.resource = _labels_resource(draft)
    if not draft.resource:
        named = _MIXIN_OBJECT.search(head[:20_000])
        draft.resource = named.group(1) if named else ""
    _environment(draft, head)
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
    _fields(head, draft)
    for tag in re.finditer(r"(?<![\w/])(service|host|env|kube_deployment|kube_namespace|device):([\w./-]{1,100})",
                           head):
        draft.label(tag.group(1), tag.group(2))
    draft.set(resource=draft.labels.get("service") or draft.labels.get("kube_deployment") or draft.labels.get("host"))
    _environment(draft)
    return True


# Google Cloud Monitoring's e-mail: "Incident #0.x is open for project p", "Policy:", "Resource: type name (...)"
_GCP_INCIDENT = re.compile(r"(?i)\bincident #?[\w.-]{1,80} (?:is|has been|was) (open|opened|closed|resolved)\b"
                           r"(?: for project ([\w-]{1,80}))?")
_GCP_RESOURCE = re.compile(r"(?im)^resource:\s*(?:[a-z_]{2,60}\s+)?([\w./-]{2,200})")


def gcp_mail(head: str, first: str, draft: Draft) -> bool:
    incident = _GCP_INCIDENT.search(head[:4000])
    if incident is None or not ("google" in head[:1000].lower() or "policy:" in head.lower()):
        return False
    draft.source = "gcp-monitoring"
    draft.status = "resolved" if incident.group(1).lower() in ("closed", "resolved") else "open"
    _fields(head, draft)
    draft.alert_name = draft.labels.get("policy") or draft.labels.get("policy_name") or ""
    resource = _GCP_RESOURCE.search(head)
    draft.resource = resource.group(1) if resource else ""
    draft.label("project", incident.group(2))
    _environment(draft)
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
    _fields(head, draft)
    named = re.match(r"([a-z][\w-]{1,80}[a-z0-9])\s", draft.alert_name)
    service = re.search(r"\[([a-z][\w-]{1,80})\]", head)
    draft.resource = (service.group(1) if service else "") or (named.group(1) if named else "")
    return True


# Trivy's table report: "registry/ci/docs-builder:2024.06 (debian 12.5)", "Total: 3 (… CRITICAL: 1)"
_TRIVY_HEAD = re.compile(r"^\s*([\w.-]{1,200}(?:/[\w.-]{1,200}){0,6}(?::[\w.-]{1,120})?)"
                         r" \([a-z]{2,20}[ \w.-]{0,40}\)\s*$")
_TRIVY_TOTAL = re.compile(r"(?m)^Total: \d{1,7} \(([A-Z]+: \d{1,7}(?:, [A-Z]+: \d{1,7}){0,6})\)")


def trivy(head: str, first: str, draft: Draft) -> bool:
    image, total = _TRIVY_HEAD.match(first), _TRIVY_TOTAL.search(head[:4000])
    if image is None or total is None:
        return False
    draft.source = "trivy"
    name = image.group(1).rsplit("/", 1)[-1]
    draft.resource = name.split(":", 1)[0]
    counts = dict(part.split(": ") for part in total.group(1).split(", "))
    worst = next((level for level in ("CRITICAL", "HIGH", "MEDIUM", "LOW") if counts.get(level, "0") != "0"), "")
    draft.label("severity", worst.lower())
    draft.label("product", "trivy")
    cve = re.search(r"\b(CVE-\d{4}-\d{3,7}|GHSA-\w{4}-\w{4}-\w{4})\b", head)
    draft.alert_name = cve.group(1) if cve else "vulnerabilities"
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
    _fields(head, draft)
    draft.alert_name = draft.labels.get("trigger") or hit.group(1)
    return True


# A status page's incident: "Webhook Delivery — Major Outage", then "Resolved - …", "Investigating - …" updates
_STATUS_TITLE = re.compile(r"^\s*(.{2,120}?)\s+[—–-]\s+(Major Outage|Partial Outage|Degraded Performance"
                           r"|Under Maintenance|Operational)\s*$", re.IGNORECASE)
_STATUS_UPDATE = re.compile(r"(?m)^(Resolved|Monitoring|Identified|Investigating|Update|Completed|Scheduled) - ")


def status_page(head: str, first: str, draft: Draft) -> bool:
    title = _STATUS_TITLE.match(first)
    updates = _STATUS_UPDATE.findall(head[:6000])
    if title is None or not updates:
        return False
    draft.source = "statuspage"
    draft.alert_name = first.strip()
    draft.resource = title.group(1)
    draft.status = "resolved" if updates[0] in ("Resolved", "Completed") else updates[0].lower()
    return True


# An error tracker's issue as it is shown in chat, its link gone: "Events: 3,412 · Users: 1,987", "First seen: …"
_ISSUE_COUNTS = re.compile(r"(?i)\bevents\W{0,4}[\d,]{1,12}\b[^\n]{0,80}?\busers\W{0,4}[\d,]{1,12}\b")
_ISSUE_TYPE = re.compile(r"^\W{0,3}([A-Z][A-Za-z0-9_.]{1,80}(?:Error|Exception|Rejection|Panic))\W{0,3}:")


def error_tracker(head: str, first: str, draft: Draft) -> bool:
    lowered = head[:3000].lower()
    if _ISSUE_COUNTS.search(head[:3000]) is None or not ("first seen" in lowered or "release" in lowered):
        return False
    draft.source = "sentry"
    _fields(head, draft)
    kind = _ISSUE_TYPE.match(first)
    draft.alert_name = kind.group(1) if kind else clip(first.strip(" *"), 120)
    release = re.search(r"\brelease\W{0,3}([a-z][\w.-]{1,80})@", head[:3000])
    draft.resource = release.group(1) if release else ""
    _environment(draft)
    return True


# "[P1] Triggered on {host:web-1}: Disk usage high" / "[P2] Recovered: title"
_DD_HEAD2 = re.compile(r"^\s*\[(P[1-5])\]\s*(Triggered|Recovered|Warn|Re-Triggered|No Data|Renotify)"
                      r"(?: on \{([^}]{1,200})\})?"
                      r"\s*:\s*(.{1,200})$", re.IGNORECASE)
_PD_MAIL = re.compile(r"assigned (?:to )?incident #(\d{1,12}):?\s*[\"“]([^\"”\n]{1,200})[\"”]"
                      r"(?:\s+on service\s+([\w. -]{1,100}?)(?=[\s(.,]|$))?")
# PagerDuty's Slack message: ":rotating_light: *Triggered* #91144 — *[prod] orders-db: connections exhausted*"
_PD_SLACK = re.compile(r"^\s*(?::[\w+-]{1,30}:\s*)?\*?(Triggered|Acknowledged|Resolved|Escalated)\*?\s*#(\d{1,12})\s*"
                       r"[—–-]\s*\*?(.{2,200}?)\*?\s*$")
_PD_HEAD = re.compile(r"^\s*\[#(\d{1,12})\]\s*(Triggered|Acknowledged|Resolved|Reassigned|Escalated)\s*:\s*(.{1,200})$",
                      re.IGNORECASE)
_OG_HEAD = re.compile(r"^\s*Opsgenie Alert\s*(?:\[(P[1-5])\])?\s*(?:#\d{1,12})?\s*:\s*(.{1,200})$", re.IGNORECASE)
_TITLE_END = re.compile(r"\b(?:on|for|at|from)\s+([a-z0-9][\w.-]{1,100}[a-z0-9])\s*$")
_TITLE_SLUG = re.compile(r"(?<![\w./-])([a-z][a-z0-9]*(?:-[a-z0-9]+)+)(?![\w/])")


def title_place(title: str) -> str:
    """The thing a title names: 'on mq-prod-2' at its end, else its first hyphenated name."""
    ends = _TITLE_END.search(title)
    if ends is not None:
        return ends.group(1)
    slug = _TITLE_SLUG.search(title)
    return slug.group(1) if slug else ""


_NAGIOS = re.compile(r"^\W{0,4}(PROBLEM|RECOVERY|ACKNOWLEDGEMENT|FLAPPINGSTART|FLAPPINGSTOP)\s+(Service|Host) Alert:\s*"
                     r"([\w.-]{1,120})(?:/([^*\n]{1,120}?))?\s+is\s+(\w{2,12})", re.IGNORECASE)
_ZABBIX = re.compile(r"^\W{0,4}(Problem|PROBLEM|Resolved|RESOLVED|OK)(?: started at [^:]{1,40})?:\s*(.{3,200})$")


def host_checks(head: str, first: str, draft: Draft) -> bool:
    """Nagios/Icinga ('** PROBLEM Service Alert: host/Service is CRITICAL **') and Zabbix ('PROBLEM: trigger')."""
    nagios = _NAGIOS.match(first)
    lowered = head[:3000].lower()
    if nagios is not None:
        draft.source = "icinga" if "icinga" in lowered else "nagios"
        draft.resource, draft.alert_name = nagios.group(3), (nagios.group(4) or "host down").strip()
        draft.status = "resolved" if nagios.group(1).upper() == "RECOVERY" else "problem"
        draft.label("state", nagios.group(5))
        _fields(head, draft, labels=False)
        return True
    if ("checkmk" in lowered or "check_mk" in lowered) and re.search(r"(?im)^state:\s", head):
        # Checkmk's notification: Host, Service, "State: OK -> CRIT", Output, Host tags
        draft.source = "checkmk"
        _fields(head, draft)
        host = draft.labels.get("host", "")
        draft.resource = host.split(" (", 1)[0].strip()
        draft.alert_name = draft.labels.get("service") or "host down"
        state = draft.labels.get("state", "").split("->")[-1].strip()
        draft.status = "resolved" if state.upper() in ("OK", "UP") else "problem"
        draft.label("state", state)
        return True
    zabbix = _ZABBIX.match(first) if "zabbix" in lowered or "trigger" in lowered else None
    if zabbix is None:
        return False
    draft.source = "zabbix"
    draft.status = "resolved" if zabbix.group(1).lower() in ("resolved", "ok") else "problem"
    _fields(head, draft)
    draft.alert_name = draft.labels.get("trigger") or zabbix.group(2).split(" (", 1)[0].strip()
    draft.resource = draft.labels.get("host") or title_place(zabbix.group(2))
    return True


def paging(head: str, first: str, draft: Draft) -> bool:
    """PagerDuty and Opsgenie notifications: '[#123] Triggered: title', 'Opsgenie Alert [P1] #9: title'."""
    pd = _PD_HEAD.match(first)
    slack = _PD_SLACK.match(first) if pd is None else None
    if slack is not None:
        draft.source, draft.status, draft.alert_name = "pagerduty", slack.group(1).lower(), slack.group(3).strip()
        _fields(head, draft)
        draft.resource = title_place(re.sub(r"^\[[\w -]{1,20}\]\s*", "", draft.alert_name).split(":", 1)[0]) or (
            draft.labels.get("service", ""))
        _environment(draft)
        return True
    og = _OG_HEAD.match(first) if pd is None else None
    mail = _PD_MAIL.search(head[:2000]) if pd is None and og is None else None
    if mail is not None:
        draft.source, draft.alert_name, draft.status = "pagerduty", mail.group(2).strip(), "triggered"
        urgency = re.search(r"(?i)urgency:\s*(\w+)", head[:2000])
        if urgency is not None:
            draft.label("urgency", urgency.group(1))
        draft.resource = (mail.group(3) or "").strip() or title_place(draft.alert_name)
        return True
    if pd is None and og is None:
        return False
    draft.source = "pagerduty" if pd is not None else "opsgenie"
    if pd is not None:
        draft.status, draft.alert_name = pd.group(2).lower(), pd.group(3).strip()
    elif og is not None:
        draft.alert_name = og.group(2).strip()
        if og.group(1):
            draft.label("priority", og.group(1))
    _fields(head, draft)
    entity = draft.labels.get("entity", "")
    draft.resource = entity or title_place(draft.alert_name) or draft.labels.get("service", "")
    _environment(draft)
    return True


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
    if hit is not None:
        draft.status = hit.group(1).lower()
        draft.alert_name = hit.group(4).strip()
        if hit.group(3):
            draft.label("priority", hit.group(3))
        scope = hit.group(2) or ""
        for part in scope.strip("{}").split(","):
            key, _, value = part.strip().partition(":")
            if value:
                draft.label(key.strip(), value.strip())
    _fields(head, draft)
    for tag in re.finditer(r"(?<![\w/])(service|host|env|kube_deployment|kube_namespace|dbinstanceidentifier"
                           r"|queuename|functionname):([\w./-]{1,100})", head):
        draft.label(tag.group(1), tag.group(2))
    draft.set(resource=draft.labels.get("service") or draft.labels.get("kube_deployment") or draft.labels.get("host")
              or draft.labels.get("dbinstanceidentifier") or draft.labels.get("queuename")
              or draft.labels.get("functionname"))
    _environment(draft)
    return True


_PERSON_OPENING = re.compile(r"(?im)^(?:hi|hello|hey|dear|good (?:morning|afternoon))\b[ \w,!]{0,40}$|^ticket #?\d"
                             r"|\bticket #\d{1,9}\b")


def _tool_by_word(word: str, source: str) -> Callable[[str, str, Draft], bool]:
    def adapter(head: str, first: str, draft: Draft) -> bool:
        if word not in head[:3000].lower():
            return False
        if _PERSON_OPENING.search(head[:2000]) and word not in first.lower():
            # a person's message that names the tool in passing ("we sign in through Okta") is not its alert
            return False
        draft.source = source
        _fields(head, draft)
        _pairs(head, draft)
        user = re.search(r"(?i)\bfor user\s+([\w.@+-]{2,120})|\buser(?:name)?\s*[:=]\s*([\w.@+-]{2,120})", head)
        if user is not None:
            draft.label("user", user.group(1) or user.group(2))
        draft.set(alert_name=draft.labels.get("alert") or draft.labels.get("condition") or draft.labels.get("title")
                  or draft.labels.get("monitor") or draft.labels.get("trigger") or draft.labels.get("problem")
                  or draft.labels.get("check"),
                  resource=draft.labels.get("service") or draft.labels.get("entity") or draft.labels.get("host")
                  or draft.labels.get("component") or draft.labels.get("resource") or _labels_resource(draft)
                  or draft.labels.get("user"),
                  status=draft.labels.get("status") or draft.labels.get("state"))
        _environment(draft)
        quoted = re.search(r"(?i)\b(?:alert|rule|monitor|check|alarm)\s+['\"“]([^'\"”\n]{2,120})['\"”]", head[:2000])
        if quoted is not None and not draft.alert_name:
            draft.alert_name = quoted.group(1)
        sev = re.search(r"\((Sev[0-4])\)", head[:2000])
        if sev is not None:
            draft.label("severity", sev.group(1))
        target = re.search(r"\bfired for\s+([\w.-]{2,120})", head[:2000])
        if target is not None and not draft.resource:
            draft.resource = target.group(1)
        release = re.search(r"\brelease\W{0,3}([a-z][\w.-]{1,80})@", head[:3000]) if source == "sentry" else None
        if release is not None and not draft.resource:
            # an error tracker's release names the project that shipped it: checkout-web@2025.04.17
            draft.resource = release.group(1)
        if not draft.alert_name:
            # "Okta: Suspicious sign-in detected for user x" — the first line, less the tool's name
            line = re.sub(r"^\W{0,4}[\w ]{2,30}?:\s+", "", first.strip()) if ":" in first[:40] else first.strip()
            draft.alert_name = clip(line, 120) if 0 < len(line) <= 160 else ""
        return True
    return adapter


_CW_NAME = re.compile(r"Amazon CloudWatch Alarm \"([^\"\n]{1,200})\" in the ([^\n]{1,60}?) region has entered the "
                      r"(\w+) state")
_CW_REASON = re.compile(r"\[([-\d.Ee]+) \([^)]{0,60}\)\][^\n]{0,200}?threshold \(([-\d.Ee]+)\)")
_CW_DIMS = re.compile(r"Dimensions:\s*\[?([^\n\]]{1,300})")
_CW_METRIC = re.compile(r"MetricName:\s*(\S{1,100})")


def cloudwatch_mail(head: str, first: str, draft: Draft) -> bool:
    if "CloudWatch Alarm" not in head and "AlarmName" not in head and "Alarm Details" not in head:
        return False
    draft.source = "cloudwatch"
    hit = _CW_NAME.search(head)
    if hit is not None:
        draft.alert_name, draft.status = hit.group(1), hit.group(3)
        draft.label("region", hit.group(2))
    _fields(head, draft)
    draft.set(alert_name=draft.labels.get("name") or draft.labels.get("alarmname"))
    dims = _CW_DIMS.search(head)
    if dims is not None:
        for part in dims.group(1).split(","):
            key, sep, value = part.partition("=")
            if sep:
                draft.label(key.strip(), value.strip().strip("]"))
                draft.set(resource=value.strip().strip("]"))
    _pairs(head, draft)
    for key in ("dbinstanceidentifier", "loadbalancer", "queuename", "functionname", "tablename", "targetgroup",
                "clustername", "servicename", "instanceid", "cachenodeid", "apiname", "bucketname"):
        value = next((v for k, v in draft.labels.items() if k.lower() == key), "")
        if value:
            draft.set(resource=value)
            break
    metric = _CW_METRIC.search(head)
    reason = _CW_REASON.search(head)
    if metric is not None or reason is not None:
        draft.metric(metric.group(1) if metric else draft.alert_name or "metric",
                     reason.group(1) if reason else None, reason.group(2) if reason else None)
    draft.set(status=draft.labels.get("newstatevalue") or draft.labels.get("state_change"))
    return True


_UPTIME = re.compile(r"(?i)\b(?:monitor is (DOWN|UP)|(DOWN|UP) alert|is (DOWN|UP)\b(?: from (\d+) locations?)?"
                     r"|check (failed|recovered|is down))")
_UPTIME_NAME = re.compile(r"(?i)(?:monitor is (?:down|up)|(?:down|up) alert|check)\W{1,3}([\w .:/()-]{1,120}?)"
                          r"(?:\s+\(|\s+is\b|\s+-\s|$)", re.MULTILINE)
_HOST_URL = re.compile(r"https?://([A-Za-z0-9.-]{1,200})(/[^\s)]{0,200})?")


def uptime(head: str, first: str, draft: Draft) -> bool:
    lowered = head[:3000].lower()
    tool = next((name for name in ("uptimerobot", "pingdom", "better stack", "betteruptime", "statuscake", "checkly",
                                   "uptime kuma", "site24x7", "freshping") if name in lowered), "")
    hit = _UPTIME.search(head[:3000])
    if not tool and hit is None:
        return False
    if not tool and "monitor" not in lowered and "check" not in lowered and "location" not in lowered:
        return False
    if not tool and any(pattern.search(head) for _, pattern in _SERVERS):
        return False
    draft.source = tool.replace(" ", "").replace("betteruptime", "betterstack") if tool else "uptime-check"
    draft.status = next((g.lower() for g in (hit.groups() if hit else ()) if g and not g.isdigit()), "")
    _fields(head, draft)
    name = _UPTIME_NAME.search(head[:3000])
    named = re.search(r"(?im)^(?:new incident on|monitor is (?:down|up):|(?:down|up) alert:?)\s*([^\n(]{1,120}?)\s*$|"
                      r"^([\w.-]{1,120}) \(([\w.-]{1,200})\) is (?:down|up)\b", head[:3000])
    if named is not None:
        draft.alert_name = (named.group(1) or named.group(2) or "").strip()
        if named.group(3):
            draft.resource = named.group(3)
    elif name is not None:
        draft.alert_name = name.group(1).strip(" :-")
    probes = re.search(r"(?i)\b(?:checked from|probe servers? reporting down|down from|locations?)\s*:\s*"
                       r"([A-Za-z][A-Za-z .,/-]{2,300}?)\s*(?:\(|\.(?:\s|$)|\n|$)", head[:4000])
    if probes is not None and "checked_from" not in draft.labels:
        draft.label("checked_from", probes.group(1).strip())
    url = _HOST_URL.search(head)
    draft.set(resource=draft.labels.get("monitor") or draft.labels.get("check") or (url.group(1) if url else "")
              or draft.alert_name)
    if url is not None:
        draft.link("source", url.group(0)) if draft.labels.get("url") else None
    return True


# --- Kubernetes --------------------------------------------------------------------------------------------
_KUBE_EVENT = re.compile(r"^\s*(?:[\w-]{1,40}\s+)?(?:\S{1,12}\s+)?(Warning|Normal)\s+([A-Z][A-Za-z]{2,60})\s+"
                         r"(?:([a-z][\w.-]{0,60}/[\w.-]{1,200})\s+)?(.{0,300})[^\n]*$", re.MULTILINE)
_KUBE_POD_ROW = re.compile(r"^([a-z0-9][a-z0-9.-]{0,200})\s+(\d+/\d+)\s+([A-Z][A-Za-z:]{2,40})\s+(\d+)", re.MULTILINE)
_KUBE_OBJECT = re.compile(r"\b(pod|deployment|replicaset|statefulset|daemonset|job|cronjob|node|service|ingress"
                          r"|persistentvolumeclaim|pvc|hpa|certificate)/([a-z0-9][\w.-]{0,200})")
# the value is lower case: a table header ("NAMESPACE   LAST SEEN") names no namespace
_NAMESPACE = re.compile(r"\b(?:[Nn]amespace|NAMESPACE)[ \t:=\"]{1,12}([a-z0-9][a-z0-9-]{0,62})(?![\w.])")


_KUBE_REASON = re.compile(r"\b(CrashLoopBackOff|ImagePullBackOff|ErrImagePull|OOMKilled|Evicted|FailedScheduling"
                          r"|FailedMount"
                          r"|FailedAttachVolume|NodeNotReady|BackoffLimitExceeded|DeadlineExceeded|CreateContainerConfigError"
                          r"|CreateContainerError|InvalidImageName|ProgressDeadlineExceeded|FailedCreate|Unhealthy|BackOff"
                          r"|NodeHasDiskPressure|NodeHasMemoryPressure|FreeDiskSpaceFailed|SyncLoadBalancerFailed)\b")
_NODE_ROW = re.compile(r"^([a-z0-9][a-z0-9.-]{0,200})\s+(NotReady|Ready,SchedulingDisabled|Unknown)\s", re.MULTILINE)


def kubernetes(head: str, first: str, draft: Draft) -> bool:
    found = _kubernetes(head, first, draft)
    if found and ("cert-manager" in head or re.search(r"\b(?:certificate|certificaterequest|issuer|clusterissuer)"
                                                      r"(?:\.cert-manager\.io)?/", head.lower())):
        draft.source = "cert-manager"
    if found and "NotReady" in head:
        statuses = [hit.group(2) for hit in re.finditer(r"^([a-z0-9][a-z0-9.-]{0,200})\s+(Ready|NotReady)\S*\s",
                                                        head, re.MULTILINE)]
        if statuses:
            draft.metric("nodes", len(statuses))
            draft.metric("nodes not ready", statuses.count("NotReady"))
    if found:
        node = _NODE_ROW.search(head) if "NotReady" in head or "Unknown" in head else None
        reason = _KUBE_REASON.search(head)
        if node is not None and node.group(2) == "NotReady":
            draft.alert_name, draft.resource = "NodeNotReady", f"node/{node.group(1)}"
        elif reason is not None and draft.alert_name in ("", "Failed", "Pulled", "Pulling", "Created", "Started",
                                                          "Killing", "Scheduled", "BackOff", "Unhealthy"):
            draft.alert_name = reason.group(1)
    return found


_CONDITION_ROW = re.compile(r"^\s{1,12}([A-Z][A-Za-z]{2,40})\s+(True|False)\s+([A-Z][A-Za-z]{2,60})\b", re.MULTILINE)
_GOOD_CONDITION = re.compile(r"Ready|Available|Able|Active|Healthy|Initialized|Scheduled|Synced|Progressing")
_BAD_CONDITION = re.compile(r"Limited|Pressure|Failed|Failure|Degraded|Stalled|Unavailable|Error")


def _abnormal_condition(head: str) -> str:
    """The reason of the first condition in a `describe` that is wrong (a limit hit, a ready condition false)."""
    for row in _CONDITION_ROW.finditer(head):
        kind, status, reason = row.groups()
        if (status == "True" and _BAD_CONDITION.search(kind)) or (status == "False" and _GOOD_CONDITION.search(kind)):
            return reason
    return ""


def _kubernetes(head: str, first: str, draft: Draft) -> bool:
    events = list(_KUBE_EVENT.finditer(head)) if ("Warning" in head or "Normal" in head) else []
    rows = list(_KUBE_POD_ROW.finditer(head)) if ("READY" in head or "/" in head) else []
    kubectl = "kubectl" in head or "LAST SEEN" in head or "Events:" in head or ("READY" in head and "STATUS" in head)
    if not events and not rows and kubectl and _NODE_ROW.search(head) is not None:
        draft.source = "kubernetes"
        return True
    if not events and not (rows and kubectl):
        return False
    if events and not kubectl and not any(e.group(3) for e in events):
        return False
    draft.source = "kubernetes"
    worst = None
    for event in events[:20]:
        draft.event(event.group(1), f"{event.group(2)} {event.group(3) or ''} {event.group(4)}".strip())
        if event.group(1) == "Warning" and worst is None:
            worst = event
    chosen = worst or (events[-1] if events else None)
    if chosen is not None:
        draft.alert_name = chosen.group(2)
        # the same reason reported on a node is the cause; the pods that report it are its victims
        node = next((e for e in events if e.group(2) == chosen.group(2) and (e.group(3) or "").startswith("node/")),
                    None)
        source = node or chosen
        if source.group(3):
            draft.resource = source.group(3).split("/", 1)[1]
    condition = _abnormal_condition(head) if worst is None else None
    if condition:
        draft.alert_name = condition
    for row in rows[:20]:
        status = row.group(3)
        draft.event("warning" if status not in ("Running", "Completed", "Succeeded") else "info",
                    f"{row.group(1)} {row.group(2)} {status} restarts={row.group(4)}")
        if status not in ("Running", "Completed", "Succeeded") and not draft.alert_name:
            draft.alert_name, draft.resource = status, row.group(1)
    if not draft.resource:
        obj = _KUBE_OBJECT.search(head)
        described = re.search(r"^Name:[ \t]{1,40}([a-z0-9][\w.-]{0,200})$", head, re.MULTILINE)
        command = re.search(r"\bkubectl\b[^\n]{0,80}?\b(?:describe|get)\s+[a-z]{2,40}[ /]([a-z0-9][\w.-]{0,200})\b",
                            head)
        # the object described, or named on kubectl's command line, before any name mentioned in its fields
        draft.resource = (described.group(1) if described else command.group(1) if command
                          else obj.group(2) if obj else "")
    namespace = _NAMESPACE.search(head)
    if namespace is not None:
        draft.label("namespace", namespace.group(1))
        if draft.resource and "/" not in draft.resource:
            draft.resource = f"{namespace.group(1)}/{draft.resource}"
    return True


# --- CI/CD ---------------------------------------------------------------------------------------------------
def ci(head: str, first: str, draft: Draft) -> bool:
    lowered = head[:4000].lower()
    if ("github actions" in lowered or "##[error]" in head or "workflow run" in lowered or ".github/workflows" in head
            or "/actions/runs/" in head
            or re.search(r"(?i)\bworkflow [\"'“][^\"'”\n]{1,80}[\"'”] (?:failed|has failed)", head)):
        draft.source = "github-actions"
    elif ("gitlab" in lowered and ("pipeline" in lowered or "job" in lowered)) or (re.search(
            r"(?i)\bpipeline #\d{1,12}\b", head) and "buildkite" not in lowered):
        draft.source = "gitlab-ci"
    elif "jenkins" in lowered or "finished: failure" in lowered:
        draft.source = "jenkins"
    elif "argo cd" in lowered or "argocd" in lowered:
        draft.source = "argocd"
    elif "circleci" in lowered or "buildkite" in lowered:
        draft.source = "circleci" if "circleci" in lowered else "buildkite"
    else:
        return False
    _fields(head, draft)
    _pairs(head, draft)
    app = re.search(r"(?i)\bapplication\s+['\"`]?([a-z0-9][\w.-]{0,100})", head)
    build = re.search(r"\bBuild #(\d{1,9}) (?:of|for) ([\w./-]{1,120})", head)
    if build is not None:
        draft.set(alert_name=f"{build.group(2)} #{build.group(1)}", resource=build.group(2))
    if draft.source == "argocd":
        # `argocd app get` names the application in Name: and a failed sync in Operation: Sync / Phase: Failed
        if draft.labels.get("operation", "").lower() == "sync" and draft.labels.get("phase", "").lower() in (
                "failed", "error"):
            draft.set(alert_name="SyncFailed")
        if "sync_status" in draft.labels or "health_status" in draft.labels:
            draft.set(resource=draft.labels.get("name", ""))
        state = re.search(r"\b(Degraded|Missing|OutOfSync|SyncFailed|sync failed|Unknown)\b", head)
        draft.set(alert_name=state.group(1) if state else "")
    repo = re.search(r"\b([A-Za-z0-9][\w.-]{0,60}/[A-Za-z0-9][\w.-]{0,100})\b(?!/)", head)
    workflow = re.search(r"(?i)\b(?:workflow|pipeline|job|build)\s+['\"`“]?([\w .#/-]{1,80}?)['\"`”]?\s+(?:failed|has "
                         r"failed|#\d|for )", head)
    run_repo = re.search(
        r"\(([A-Za-z0-9][\w.-]{0,60}/[\w.-]{1,100})\)|\bfor ([A-Za-z0-9][\w.-]{0,60}/[\w.-]{1,100}) on\b", head
    )
    if run_repo is not None:
        draft.label("repository", run_repo.group(1) or run_repo.group(2))
    for key in ("repository", "repo", "project"):
        if key in draft.labels:
            cleaned = re.sub(r"\s*\(\s*https?://\S{1,300}\s*\)", "", draft.labels[key])
            draft.labels[key] = re.sub(r"\s*/\s*", "/", cleaned).strip()
    draft.set(
        resource=draft.labels.get("repository") or draft.labels.get("repo") or draft.labels.get("project")
        or draft.labels.get("application") or draft.labels.get("app")
        or (app.group(1) if app and draft.source == "argocd" else "") or (repo.group(1) if repo else ""),
        alert_name=draft.labels.get("workflow") or draft.labels.get("pipeline") or draft.labels.get("job")
        or (workflow.group(1).strip() if workflow else ""),
        status=draft.labels.get("status") or draft.labels.get("conclusion") or draft.labels.get("health"),
    )
    for url in _URL.findall(head)[:3]:
        if "/actions/runs/" in url or "/pipelines/" in url or "/job/" in url or "/-/jobs/" in url:
            draft.link("run", url)
    return True


# --- security tools ------------------------------------------------------------------------------------------
_FALCO_LINE = re.compile(r"^\s*(?:\d{4}-\d\d-\d\dT)?\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?:\s+"
                         r"(Emergency|Alert|Critical|Error|Warning|Notice|Informational|Info|Debug)\s+(.{1,600})$",
                         re.MULTILINE)
_WAZUH_RULE = re.compile(r"Rule:\s*(\d{1,7})\s*\(level\s*(\d{1,2})\)\s*->\s*'([^'\n]{1,200})'")
_AUDIT = re.compile(r"type=([A-Z_]{2,30})\s+msg=audit\(")
_AUDIT_KEY = re.compile(r"\bkey=\"?([\w.-]{1,80})")


def security(head: str, first: str, draft: Draft) -> bool:
    lowered = head[:4000].lower()
    falco = list(_FALCO_LINE.finditer(head)) if ":" in head else []
    if falco or "falco" in lowered[:200]:
        draft.source = "falco"
        for hit in falco[:20]:
            draft.event(hit.group(1), hit.group(2))
        levels = [event.level for event in draft.events]
        worst = worst_level(levels)
        draft.label("priority", next((h.group(1) for h in falco if level_of(h.group(1)) == worst), ""))
        _fields(head, draft)
        rule = draft.labels.get("rule")
        # the message without its field list: "Symlinks created over sensitive files | target=/etc/shadow …"
        message = re.split(r" \(| \| | [a-z_.]{2,30}=", falco[0].group(2), maxsplit=1)[0].strip() if falco else ""
        draft.set(alert_name=rule or message)
        fields = dict(_KV.findall(head) and [(h.group(1), h.group(3) or h.group(2) or "") for h in _KV.finditer(head)])
        draft.set(resource=(fields.get("k8s.pod") or fields.get("k8s.pod.name") or fields.get("k8s_pod_name")
                            or fields.get("container") or fields.get("container.name") or fields.get("container_name")
                            or fields.get("host") or "").rstrip(")],;"))
        return True
    wazuh = _WAZUH_RULE.search(head) if "level" in head else None
    if wazuh is not None or "wazuh" in lowered:
        draft.source = "wazuh"
        if wazuh is not None:
            draft.alert_name = wazuh.group(3)
            level = int(wazuh.group(2))
            draft.label("rule.level", wazuh.group(2))
            draft.label("severity", "critical" if level >= 13 else "high" if level >= 10 else "medium" if level >= 7
                        else "low")
        agent = re.search(r"\(([\w.-]{1,100})\)\s+[\d.]{7,15}->|agent[\s:=\"]{1,3}([\w.-]{1,100})", head)
        draft.set(resource=(agent.group(1) or agent.group(2)) if agent else "")
        _fields(head, draft, labels=False)
        return True
    if _AUDIT.search(head) is not None:
        draft.source = "auditd"
        key = _AUDIT_KEY.search(head)
        draft.alert_name = key.group(1) if key else _AUDIT.search(head).group(1)  # type: ignore[union-attr]
        _pairs(head, draft)
        known = {k: v for k, v in draft.labels.items() if v not in ("?", "(none)", "none", "")}
        draft.set(resource=known.get("hostname") or known.get("node") or known.get("exe"))
        return True
    leaks = "leaks found" in lowered or ("ruleid:" in lowered and "fingerprint:" in lowered and "secret:" in lowered)
    if (leaks or "secret scanning" in lowered or "gitleaks" in lowered or "trufflehog" in lowered
            or "secret detected" in lowered):
        draft.source = "gitleaks" if "gitleaks" in lowered or leaks else "trufflehog" if "trufflehog" in lowered else (
            "github-secret-scanning" if "github" in lowered or "secret scanning" in lowered else "secret-scanning")
        _fields(head, draft)
        for name in ("repository", "repo"):
            if draft.labels.get(name, "").startswith("http"):
                draft.labels[name] = re.sub(r"^https?://[^/]{1,200}/", "", draft.labels[name]).rstrip("/")
        repo = re.search(r"\b(?:in|repository|repo)\s+`?([A-Za-z0-9][\w.-]{0,60}/[\w.-]{1,100})", head)
        kind = re.search(r"(?i)([\w -]{1,60}?(?:key|token|secret|password|credential)s?)\s+(?:detected|found|leaked|"
                         r"exposed)", head)
        draft.set(resource=draft.labels.get("file") or draft.labels.get("path") or draft.labels.get("repository")
                  or (repo.group(1) if repo else ""),
                  alert_name=draft.labels.get("secret_type") or draft.labels.get("ruleid") or draft.labels.get("rule")
                  or (kind.group(1).strip() if kind else "secret detected"))
        return True
    if "dependabot" in lowered or re.search(r"\bGHSA-[\w]{4}-[\w]{4}-[\w]{4}\b", head):
        draft.source = "dependabot"
        _fields(head, draft)
        ghsa = re.search(r"\b(GHSA-\w{4}-\w{4}-\w{4}|CVE-\d{4}-\d{3,7})\b", head)
        repo = re.search(r"\b(?:in|repository|repo)\s+`?([A-Za-z0-9][\w.-]{0,60}/[\w.-]{1,100})", head)
        package = re.search(r"(?i)\b(?:package|dependency|upgrade)\s{1,40}`?([\w@./-]{3,100})", head)
        draft.set(alert_name=ghsa.group(1) if ghsa else "", resource=(repo.group(1) if repo else "")
                  or draft.labels.get("repository"))
        if package is not None and "package" not in draft.labels:
            draft.label("package", package.group(1))
        return True
    if "guardduty" in lowered or "security hub" in lowered or "securityhub" in lowered:
        draft.source = "guardduty" if "guardduty" in lowered else "securityhub"
        _fields(head, draft)
        finding = re.search(r"\b([A-Z][A-Za-z]{2,40}:[A-Za-z0-9]{2,40}/[\w.!-]{2,100})", head)
        draft.set(alert_name=(finding.group(1) if finding else "") or draft.labels.get("finding_type")
                  or draft.labels.get("type") or draft.labels.get("title"),
                  resource=draft.labels.get("resource") or draft.labels.get("instance")
                  or draft.labels.get("instance_id") or draft.labels.get("user") or draft.labels.get("access_key"))
        return True
    return False


# --- certificates and cost -----------------------------------------------------------------------------------
_CERT_NAME = re.compile(r"(?i)certificate\s+(?:for\s+)?['\"`]?([a-z0-9*][\w.*-]{1,200}\.[a-z]{2,12}|[a-z0-9][\w-]"
                        r"{0,100}/[a-z0-9][\w.-]{0,200})")
_CN = re.compile(r"(?i)\b(?:CN|subject|domain|host)\s*[=:]\s*['\"]?([a-z0-9*][\w.*-]{1,200}\.[a-z]{2,12})")


def certificate(head: str, first: str, draft: Draft) -> bool:
    lowered = head[:4000].lower()
    if "certificate" not in lowered and "x509" not in lowered and "tls" not in lowered and "ssl" not in lowered:
        return False
    if not any(word in lowered for word in ("expir", "not after", "notafter", "x509", "handshake", "renew",
                                            "untrusted", "unknown authority", "self-signed", "self signed", "issuing",
                                            "issuer", "acme", "not ready")):
        return False
    if any(pattern.search(head) for name, pattern in _SERVERS if name in ("envoy", "nginx", "haproxy")):
        return False
    manager = "cert-manager" in lowered or "issuer" in lowered or "certificaterequest" in lowered or (
        "acme" in lowered and "order" in lowered) or re.search(r"certificate [a-z0-9-]{1,63}/[a-z0-9]", lowered)
    draft.source = "cert-manager" if manager else "certificate"
    _fields(head, draft)
    name = _CN.search(head) or _CERT_NAME.search(head)
    draft.set(resource=draft.labels.get("domain") or draft.labels.get("host") or draft.labels.get("certificate")
              or (name.group(1) if name else ""), alert_name=draft.labels.get("alert"))
    days = re.search(r"(?i)expir\w*\s+(?:in|within)\s+(\d{1,4})\s*(day|hour)", head)
    if days is not None:
        draft.metric("time to expiry", days.group(1), None, days.group(2) + "s")
    return True


_MONEY = re.compile(r"\$\s?([\d,]{1,12}(?:\.\d{1,2})?)")


def cost(head: str, first: str, draft: Draft) -> bool:
    lowered = head[:3000].lower()
    if not ("cost anomaly" in lowered or "anomalous spend" in lowered or ("budget" in lowered and "$" in head)
            or ("spend" in lowered and "anomal" in lowered)):
        return False
    draft.source = "aws-cost-anomaly" if "aws" in lowered else "cost-anomaly"
    _fields(head, draft)
    service = re.search(r"\b(?:[Ss]ervice:?|in)\s+((?:Amazon|AWS|Azure|Google)\s[\w ]{2,60}?)(?:[\s,.;)(]|$)", head)
    draft.set(resource=draft.labels.get("service") or (service.group(1).strip() if service else ""),
              alert_name=draft.labels.get("monitor") or draft.labels.get("monitor_name") or "Cost anomaly")
    amounts = _MONEY.findall(head)
    if amounts:
        draft.metric("cost impact", amounts[0], amounts[1] if len(amounts) > 1 else None, "USD")
    return True


# --- logs and traces ------------------------------------------------------------------------------------------
_SYSLOG = re.compile(r"^(?:<\d{1,3}>\d?\s?)?(?:[A-Z][a-z]{2}\s{1,2}\d{1,2}\s[\d:]{8}|\d{4}-\d\d-\d\dT[\d:.]{8,15}"
                     r"(?:Z|[+-]\d\d:?\d\d)?)\s([\w.-]{1,100})\s([\w./@()-]{1,80}?)(?:\[(\d{1,10})\])?:\s(.{0,600})$",
                     re.MULTILINE)
_LEVEL_WORD = re.compile(r"(?:^|[\s\[|(])(PANIC|FATAL|EMERG|CRITICAL|CRIT|SEVERE|ERROR|ERR|WARNING|WARN|NOTICE|INFO"
                         r"|DEBUG|TRACE|FTL|WRN|INF|DBG|EROR)(?:[\]:|)\s]|$)")
_GO_LEVEL = re.compile(r"\blevel=\"?(\w{3,8})")
_DOTNET = re.compile(r"^(fail|crit|warn|info|dbug|trce): ([\w.]{1,200})\[\d{1,6}\]", re.MULTILINE)
_JAVA_EXC = re.compile(r"^(?:Exception in thread \"[^\"]{0,100}\" |Caused by: )?((?:[a-z_$][\w$]{0,60}\.){1,10}"
                       r"[A-Z][\w$]{0,100}(?:Exception|Error|Throwable))(?::|$)", re.MULTILINE)
_PY_EXC = re.compile(r"^((?:[a-z_][\w]{0,60}\.){0,6}[A-Z]\w{0,100}(?:Error|Exception|Exit|Interrupt|Warning|Timeout)?)"
                     r"(?::\s.{0,300})?$", re.MULTILINE)
_GO_PANIC = re.compile(r"^panic: (.{1,300})$", re.MULTILINE)
_NODE_EXC = re.compile(r"^(?:Uncaught )?([A-Z]\w{0,60}(?:Error|Exception|Rejection))(?::|\s\[)", re.MULTILINE)
_DOTNET_EXC = re.compile(r"((?:System|Microsoft|[A-Z]\w{0,40})(?:\.[A-Z]\w{0,60}){1,8}Exception)\b")

_SERVERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # PostgreSQL writes two blanks after its level ("ERROR:  relation ..."), or a [pid] / user@db prefix before it
    ("postgresql", re.compile(r"(?:^|\s)(?:LOG|ERROR|FATAL|PANIC|WARNING|DETAIL|STATEMENT|HINT):  \S"
                              r"|(?:\[\d{1,9}\]|@[\w-]{1,60})\s{1,3}(?:LOG|ERROR|FATAL|PANIC|WARNING):\s",
                              re.MULTILINE)),
    ("mysql", re.compile(r"\[(ERROR|Warning|Note|System)\] \[MY-\d{6}\]|\bInnoDB:|mysqld(?:\[\d+\])?:|^# Query_time:",
                         re.MULTILINE)),
    ("redis", re.compile(r"^\d{1,7}:[MSCX] \d\d \w{3} \d{4} [\d:.]{8,12} [#*.-] ", re.MULTILINE)),
    ("kafka", re.compile(r"\((?:kafka|org\.apache\.kafka)\.[\w.$]{1,120}\)|\[(?:KafkaServer|Controller|ReplicaFetcher|"
                         r"Partition|Log partition)[^\]]{0,80}\]|NotEnoughReplicas|kafka\.server")),
    ("rabbitmq", re.compile(r"\[(?:error|warning|info|notice)\] <\d{1,6}\.\d{1,8}\.\d{1,6}>|rabbit@|RabbitMQ")),
    ("elasticsearch", re.compile(r"\]\[(?:WARN|ERROR|INFO|DEBUG) ?\]\[[\w.]{1,100}\s*\]|cluster_block_exception|"
                                 r"(?i:elasticsearch|opensearch)")),
    ("mongodb", re.compile(r"\"c\":\s?\"(?:STORAGE|NETWORK|REPL|COMMAND|ACCESS)\"|mongod\b|MongoDB"
                           r"|\bE11000 duplicate key|\[conn\d{1,9}\]")),
    ("cassandra", re.compile(r"\b(?:ERROR|WARN|INFO)\s+\[(?:CompactionExecutor|MemtableFlushWriter|ReadStage|"
                             r"MutationStage|GossipStage|Native-Transport)[^\]]{0,40}\]|(?i:cassandra)")),
    ("nginx", re.compile(r"\d{4}/\d\d/\d\d [\d:]{8} \[(?:error|warn|crit|alert|emerg)\] \d{1,8}#\d{1,6}:")),
    ("haproxy", re.compile(r"haproxy(?:\[\d+\])?:|\bServer [\w.-]{1,100}/[\w.-]{1,100} is (?:DOWN|UP)|has no server "
                           r"available")),
    ("envoy", re.compile(r"\benvoy\b|upstream_reset_before_response|\bUH\b.{0,40}no_healthy_upstream")),
    ("memcached", re.compile(r"\bmemcached\b")),
    ("zookeeper", re.compile(r"(?i)\bzookeeper\b")),
    ("etcd", re.compile(r"\betcd(?:server|main)?\b")),
)


def _exception(head: str) -> tuple[str, str]:
    """(runtime, root exception) of a stack trace, or ('', '')."""
    if "Traceback (most recent call last)" in head:
        found = [hit.group(1) for hit in _PY_EXC.finditer(head) if "Error" in hit.group(1) or "Exception"
                 in hit.group(1) or "." in hit.group(1) or hit.group(1).endswith(("Exit", "Interrupt", "Timeout"))]
        return "python", found[-1] if found else ""
    if "goroutine " in head or head.lstrip().startswith("panic:") or "\npanic:" in head:
        panic = _GO_PANIC.search(head)
        return "go", clip(panic.group(1), 120) if panic else "panic"
    if re.search(r"^\s+at [\w$.<>]{1,300}\([\w$.<> ]{0,200}:\d{1,6}\)", head, re.MULTILINE) or "Caused by:" in head:
        found = [hit.group(1) for hit in _JAVA_EXC.finditer(head)]
        # the last 'Caused by' is the root cause
        return "java", found[-1].rsplit(".", 1)[-1] if found else ""
    if re.search(r"^\s+at .{1,200}\((?:node:|file:|/|[A-Za-z]:\\).{0,200}:\d{1,6}:\d{1,6}\)", head, re.MULTILINE):
        found = [hit.group(1) for hit in _NODE_EXC.finditer(head)]
        return "node", found[0] if found else ""
    if re.search(r"^\s+at [\w.<>`]{1,300}\(.{0,200}\)(?: in .{1,200}:line \d{1,6})?$", head, re.MULTILINE) and (
        "Exception" in head
    ):
        found = _DOTNET_EXC.findall(head)
        return "dotnet", found[-1].rsplit(".", 1)[-1] if found else ""
    return "", ""


_LOGBACK = re.compile(r"^\S{10}[ T][\d:.,]{8,12}\s{1,3}(?:ERROR|WARN|INFO|DEBUG|TRACE)\s{1,3}\d{1,8} --- \[",
                      re.MULTILINE)
_LOG4J = re.compile(r"^\S{10}[ T][\d:.,]{8,12}\s{1,3}(?:\[[^\]\n]{1,80}\]\s{1,3})?(?:ERROR|WARN|INFO|DEBUG|TRACE|FATAL)"
                    r"\s{1,3}(?:\[[^\]\n]{1,80}\]\s{1,3})?[a-zA-Z_$][\w$]*(?:\.[\w$]+){1,12}\s{1,3}[-:]", re.MULTILINE)
_LOGGER = re.compile(r"(?:ERROR|WARN|FATAL)\s{1,3}(?:\d{1,8} --- )?\[[^\]\n]{1,80}\]\s{1,3}"
                     r"(?:[a-zA-Z_$][\w$]*\.){1,12}([A-Z][\w$]{1,80})\s{1,30}[-:]")
# an exception class, or an error code in capitals (MISCONF, CERTIFICATE_VERIFY_FAILED), not a value after '=' or '/'
_CODE_TOKEN = re.compile(r"\b([A-Z][A-Za-z]{2,60}(?:Exception|Error))\b"
                         r"|(?<![=/\w])([A-Z][A-Z0-9]{4,}(?:_[A-Z0-9]{2,}){0,6}"
                         r"|[A-Z][A-Z0-9]{2,}(?:_[A-Z0-9]{2,}){1,6})"
                         r"(?![\w/=])")
_FAILURE_PHRASES = (
    "no space left on device", "i/o error", "oom-kill", "out of memory", "failed password", "connection refused",
    "certificate has expired", "read-only file system", "segfault", "too many open files", "permission denied",
    "memory resource limit alarm", "no server available", "deadlock", "election succeeded", "health status changed",
)
_NOT_CODES = frozenset({"WRITE", "READ", "FLUSH", "COMMAND", "NETWORK", "STORAGE", "REPL", "ACCESS", "QUERY",
                        "CONTROL", "PROBLEM", "RECOVERY", "FIRING", "RESOLVED", "ALARM", "WARNING",
                        "CRITICAL", "ERROR", "WARN",
                        "INFO", "DEBUG", "FATAL", "PANIC", "LOG", "DETAIL", "STATEMENT",
                        "CONTEXT", "HINT", "TRACE", "NOTICE", "GET", "POST", "PUT", "DELETE", "HTTP", "UTC",
                        "SSL", "TLS", "JSON", "SQL", "THE", "AND", "NULL", "NOTE", "SYSTEM", "SELECT", "FROM", "WHERE",
                        "ID", "URL", "API", "OK", "PID", "CPU", "GMT", "ALERT", "EMERG", "CRIT", "ERR"})


def _log_name(draft: Draft) -> str:
    """The failure a log names: an exception class, an error code, or a known failure phrase of its worst line."""
    ordered = sorted(draft.events, key=lambda e: LEVEL_RANK.get(e.level, 9))
    for event in ordered[:5]:
        lowered = event.text.lower()
        phrase = next((p for p in _FAILURE_PHRASES if p in lowered), "")
        if phrase:
            return phrase
        for hit in _CODE_TOKEN.finditer(event.text):
            token = hit.group(1) or hit.group(2)
            if token and token not in _NOT_CODES:
                return token
    return ""


# what a server's own log names as the failing object, before the host it runs on
_KAFKA_PARTITION = re.compile(r"\b[Pp]artition ([A-Za-z0-9][A-Za-z0-9._]{0,200}"
                              r"(?:-[A-Za-z0-9._]{1,60}){0,8})-\d{1,6}\b")
_PG_FULL = re.compile(r"could not (?:write to|extend|create) file \"([\w.-]{1,80})/[^\"\n]{0,200}\": "
                      r"No space left on device")
_NGINX_GROUP = re.compile(r"no live upstreams while [^\n]{0,300}?upstream: \"https?://([A-Za-z_][\w-]{0,100})/")
_HAPROXY_SERVER = re.compile(r"\bServer ([\w.-]{1,100}/[\w.-]{1,100}) is DOWN\b")


def server_resource(server: str, head: str) -> str:
    """The object a database, broker or proxy log names as failing: a topic, a WAL directory, an upstream, a server."""
    pattern = {"kafka": _KAFKA_PARTITION, "postgresql": _PG_FULL, "nginx": _NGINX_GROUP,
               "haproxy": _HAPROXY_SERVER}.get(server)
    hit = pattern.search(head) if pattern is not None else None
    return hit.group(1) if hit is not None else ""


def logs(head: str, first: str, draft: Draft) -> bool:
    runtime, root = _exception(head)
    server = next((name for name, pattern in _SERVERS if pattern.search(head)), "")
    syslog = list(_SYSLOG.finditer(head)) if ":" in head else []
    dotnet = _DOTNET.search(head)
    levels = [m.group(1) for m in _LEVEL_WORD.finditer(head[:HEAD_CHARS])] if not syslog else []
    go_levels = _GO_LEVEL.findall(head) if "level=" in head else []
    if not (runtime or server or syslog or dotnet or levels or go_levels):
        return False
    kernel = bool(syslog) and syslog[0].group(2).split("[", 1)[0] == "kernel"
    if server and not kernel:
        draft.source = server
    elif runtime == "java" and _LOGBACK.search(head):
        draft.source = "logback"
    elif runtime == "java" and _LOG4J.search(head):
        draft.source = "log4j"
    elif runtime:
        draft.source = runtime
    elif dotnet:
        draft.source = "dotnet"
    elif syslog:
        programs = {hit.group(2).split("[", 1)[0] for hit in syslog[:40]}
        if programs == {"sshd"}:
            draft.source = "sshd"
        elif "-- Logs begin" in head or "-- Journal begins" in head or "journalctl" in head or (not kernel and any(
            program.startswith("systemd") or program in ("kubelet", "containerd", "dockerd") for program in programs
        )):
            draft.source = "journald"
        else:
            draft.source = "syslog"
    elif go_levels:
        draft.source = "logfmt"
    else:
        draft.source = "app-log"
    for hit in syslog[:20]:
        program = hit.group(2)
        draft.event(_line_level(hit.group(4)), f"{program}: {hit.group(4)}")
        draft.label("program", program)
    systemd = [hit.group(4) for hit in syslog if hit.group(2).startswith("systemd")]
    if systemd and systemd[-1].lstrip().startswith("Started ") and any(
            "Failed with result" in line or "Main process exited" in line for line in systemd):
        # systemd restarted the unit and says it started: the failure is over
        draft.status = "recovered"
    # a PostgreSQL log names its database in the user@db prefix, read below; the full directory only without it
    named = server_resource(server, head) if server and server != "postgresql" else ""
    if named:
        draft.resource = named
    if syslog:
        draft.label("host", syslog[0].group(1))
        unit = re.search(r"\b([\w@-]{1,80}\.service)\b", head)
        host = syslog[0].group(1)
        draft.set(resource=f"{unit.group(1)} on {host}" if unit else host)
    if not syslog:
        for line in head.splitlines()[:40]:
            level = _line_level(line)
            if level:
                draft.event(level, line)
    if root:
        draft.alert_name = root
    if dotnet is not None:
        # .NET console logs abbreviate the level: fail, crit, warn, info
        levels = [level_of({"fail": "error", "crit": "critical", "warn": "warning", "dbug": "debug",
                            "trce": "debug"}.get(hit.group(1), hit.group(1))) for hit in _DOTNET.finditer(head)]
        draft.label("level", worst_level(levels))
    if root:
        pass
    elif dotnet is not None:
        exceptions = _DOTNET_EXC.findall(head)
        draft.alert_name = exceptions[-1].rsplit(".", 1)[-1] if exceptions else dotnet.group(2).rsplit(".", 1)[-1]
    if go_levels:
        draft.label("level", worst_level([level_of(level) for level in go_levels]) or go_levels[0])
    if "=" in head[:2000] and not runtime:
        # key=value inside an exception message (HTTPSConnectionPool(host='api.vendor.com')) is not a label
        _pairs(head, draft)
    if server == "postgresql" and not draft.resource:
        at = re.search(r"\b[\w-]{1,60}@([\w-]{1,60})\s{1,3}(?:LOG|ERROR|FATAL|PANIC|WARNING):", head)
        if at is not None:
            draft.resource = f"database {at.group(1)}"
        else:
            draft.resource = server_resource(server, head)
    if server == "envoy" and not draft.resource:
        upstream = re.search(r"\"([a-z0-9][a-z0-9.-]{0,200}\.svc(?:\.cluster\.local)?)(?::\d{1,5})?\"", head)
        if upstream is not None:
            draft.resource = upstream.group(1)
    logger = _LOGGER.search(head)
    # Spring Boot 3 writes the application name in brackets before the thread: "--- [order-api] [nio-8080-exec-1]"
    application = re.search(r" --- \[([a-z][\w.-]{1,60})\]\s{1,3}\[", head[:20_000]) if " --- [" in head else None
    draft.set(resource=draft.labels.get("service") or draft.labels.get("app") or draft.labels.get("host")
              or (application.group(1) if application else "") or (logger.group(1) if logger else ""))
    if not draft.alert_name:
        draft.alert_name = _log_name(draft)
    return True


def _line_level(line: str) -> str:
    hit = _LEVEL_WORD.search(line[:200])
    if hit is not None:
        return level_of(hit.group(1)) or {"ftl": "critical", "wrn": "warning", "dbg": "debug", "eror": "error"}.get(
            hit.group(1).lower(), "")
    lowered = line[:300].lower()
    if "out of memory" in lowered or "killed process" in lowered or "segfault" in lowered or "i/o error" in lowered:
        return "error"
    if "failed" in lowered or "error" in lowered:
        return "error"
    return ""


# --- people's prose ----------------------------------------------------------------------------------------------
_PEOPLE = re.compile(r"(?i)\b(?:i|we|our|us|my|me|you|your|customers?|users?|clients?|anyone|everyone|somebody|"
                     r"please|hi|hello|hey|thanks|thank you|can't|cannot|isn't|doesn't|won't|seems?|since|today|"
                     r"this morning)\b")
_TICKET = re.compile(r"(?i)\b(?:ticket|zendesk|freshdesk|jira|servicenow|support request|requester|customer "
                     r"report|reported by|subject:)")
_MACHINE = re.compile(r"[=\[\]{}<>|]|\b\d{1,2}:\d\d:\d\d\b|^\s+at\s", re.MULTILINE)


def people(head: str, first: str, draft: Draft) -> bool:
    sample = head[:3000]
    words = sample.split()
    if len(words) < 5:
        return False
    human = len(_PEOPLE.findall(sample))
    machine = len(_MACHINE.findall(sample))
    if not _TICKET.search(sample):
        machine += len(_FIELD_LINE.findall(sample))
    if human < 2 or machine > max(2, human):
        return False
    draft.source = "ticket" if _TICKET.search(sample) else "chat"
    draft.people_text = True
    _fields(head, draft)
    draft.set(alert_name=draft.labels.get("subject") or draft.labels.get("title"))
    found = [" ".join(hit.group(1).lower().split()).replace("log into", "login").replace("loginto", "login")
             for hit in _FEATURE.finditer(sample)]
    if found:
        # the most specific feature named, wherever it appears (a requester's e-mail header is not the problem)
        draft.resource = min(found, key=_feature_rank)
    return True


def _feature_rank(name: str) -> int:
    key = name.replace(" ", "").replace("-", "")
    return next((i for i, words in enumerate(_FEATURE_ORDER) if key.startswith(words)), len(_FEATURE_ORDER))


_FEATURE_ORDER = ("checkout", "shoppingcart", "cart", "payment", "myorders", "order", "login", "signin", "signup",
                  "passwordreset", "search", "admindashboard", "dashboard", "report", "export", "invoice", "billing",
                  "upload", "mobileapp", "website", "web", "api", "notification", "email", "email")


# What people name when they report a problem: the feature of the product they use.
_FEATURE = re.compile(
    r"(?i)\b(check ?out|shopping cart|cart|log ?into|log ?in|sign[ -]?in|sign[ -]?up|payments?|my orders|orders? page"
    r"|orders?|admin dashboard|dashboard|reports?|exports?|search|invoices?|billing|uploads?|notifications?|e-?mails?"
    r"|password reset|mobile app|web ?site|api)\b"
)


_NAME_KEYS = ("alertname", "alert", "alert name", "alarm", "alarm name", "rule", "rule name", "monitor", "check",
              "title", "subject", "condition")


def header_name(head: str) -> str:
    """The alert's name from a `Key: value` header line (alert:, alarm name:, rule:, subject:...), or ''."""
    found: dict[str, str] = {}
    for hit in _FIELD_LINE.finditer(head[:4000]):
        key = hit.group(1).strip().lower()
        value = hit.group(2).strip().strip("*`\"' ")
        if key in _NAME_KEYS and 0 < len(value) <= 120 and key not in found:
            found[key] = value
    return next((found[key] for key in _NAME_KEYS if key in found), "")


# a notification whose head says it is over: "*Resolved:* Incident on …", a status page's "Resolved - …"
_OVER_HEAD = re.compile(r"^\s*(?::[\w+-]{1,30}:\s*)*[*_\[]{0,3}(?:\[[\w ]{1,20}\][*_]{0,2}\s*)?(?:alert\s+)?"
                        r"(resolved|recovered|closed)\b[*_\]]{0,3}\s*[:\-–—]", re.IGNORECASE)


def status_of_head(head: str) -> str:
    """'resolved' when the first lines announce the end of an incident, else ''."""
    lines = [line for line in head[:3000].splitlines() if line.strip()][:4]
    return "resolved" if any(_OVER_HEAD.match(line) for line in lines) else ""


ADAPTERS: tuple[Callable[[str, str, Draft], bool], ...] = (
    alertmanager,
    grafana_text,
    cloudwatch_mail,
    datadog_slack,
    gcp_mail,
    kibana_rule,
    trivy,
    opensearch_monitor,
    status_page,
    error_tracker,
    paging,
    host_checks,
    datadog,
    security,
    kubernetes,
    ci,
    _tool_by_word("pagerduty", "pagerduty"),
    _tool_by_word("opsgenie", "opsgenie"),
    _tool_by_word("new relic", "newrelic"),
    _tool_by_word("sentry", "sentry"),
    _tool_by_word("azure monitor", "azure-monitor"),
    _tool_by_word("google cloud monitoring", "gcp-monitoring"),
    _tool_by_word("cloud monitoring", "gcp-monitoring"),
    _tool_by_word("zabbix", "zabbix"),
    _tool_by_word("okta", "okta"),
    _tool_by_word("nagios", "nagios"),
    _tool_by_word("icinga", "icinga"),
    uptime,
    cost,
    certificate,
    logs,
    people,
)
