"""What every text adapter reads alike: `Key: value` fields, `key=value` pairs, links, the environment."""

from __future__ import annotations

import re

from bot.reading.draft import Draft, clip

# Only the head of a long input is read: enough for any alert, bounded for anything else.
HEAD_CHARS = 20_000


KV = re.compile(r"(?<![\w.-])([A-Za-z_][\w.-]{0,40})=(?:\"([^\"\n]{0,200})\"|([^\s,\"]{1,200}))")
# `key = value` on a line of its own, as label lists print it (a blank beside the '='; `key=value` pairs are inline)
_KV_LINE = re.compile(r"^[ \t]{0,8}[-*•]?[ \t]{0,3}([A-Za-z_][\w.-]{0,40})"
                      r"(?:[ \t]{1,3}=[ \t]{0,3}|=[ \t]{1,3})(.{1,300})$",
                      re.MULTILINE)
_INLINE_PAIR = re.compile(r"\s[A-Za-z_][\w.-]{0,40}=\S")
FIELD_LINE = re.compile(r"^[ \t]{0,8}[-*•]?[ \t]{0,3}\*?([A-Za-z][\w .-]{0,30}?)\*?:\*?[ \t]{1,40}(\S.{0,300})$",
                        re.MULTILINE)
URL = re.compile(r"https?://[^\s\"'<>|`)]{1,1990}")
_SLACK_URL = re.compile(r"<(https?://[^|>\s]{1,1990})(?:\|[^>]{0,200})?>")


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


def labels_resource(draft: Draft) -> str:
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


def read_fields(head: str, draft: Draft, *, labels: bool = True) -> None:
    """`Key: value` lines: labels, the alert's prose, and links in named fields."""
    for hit in FIELD_LINE.finditer(head):
        key = hit.group(1).strip().lower()
        value = hit.group(2).strip().strip("*").strip()
        link = _LINK_KEYS.get(key)
        if link is not None:
            url = _SLACK_URL.search(value) or URL.search(value)
            if url is not None:
                draft.link(link, url.group(1) if url.re is _SLACK_URL else url.group(0))  # type: ignore[arg-type]
            continue
        if key in _PROSE_KEYS:
            if not draft.description:
                draft.description = clip(value, 500)
            continue
        if labels and len(value) <= 80:
            draft.label(key.replace(" ", "_"), value)


def read_pairs(head: str, draft: Draft) -> None:
    """`key=value` label pairs, on their own lines or inline."""
    for hit in _KV_LINE.finditer(head):
        key, value = hit.group(1), hit.group(2).strip()
        if _INLINE_PAIR.search(value):
            continue
        if key.lower() in _LINK_KEYS or key.lower().endswith("url"):
            url = URL.search(value)
            if url is not None:
                draft.link(_LINK_KEYS.get(key.lower(), "source"), url.group(0))  # type: ignore[arg-type]
            continue
        if key.lower() in _PROSE_KEYS:
            if not draft.description:
                draft.description = clip(value, 500)
            continue
        if len(value) <= 120:
            draft.label(key, value)
    for hit in KV.finditer(head):
        if hit.group(1).lower() in _PROSE_KEYS or hit.group(1).lower().endswith("url"):
            continue
        draft.label(hit.group(1), hit.group(2) if hit.group(2) is not None else hit.group(3))


_ENV_NAMES = frozenset({"prod", "production", "staging", "stage", "stg", "dev", "development", "test", "qa", "uat",
                        "sandbox", "preview", "nonprod"})


_ON_CLUSTER = re.compile(r"\bon cluster ([A-Za-z0-9][\w.-]{0,80}[A-Za-z0-9])")


def read_environment(draft: Draft, head: str = "") -> None:
    """The environment label; else a cluster or namespace named for one (`staging`, `prod-eu-1`)."""
    found = next((draft.labels[k] for k in _ENV_WORDS if draft.labels.get(k)), "")
    if not found:
        named = [draft.labels.get("cluster", ""), draft.labels.get("namespace", "")]
        cluster = _ON_CLUSTER.search(head[:20_000]) if head else None
        if cluster is not None:
            named.append(cluster.group(1))
        found = next((value for value in named if value and re.split(r"[-_.]", value.lower())[0] in _ENV_NAMES), "")
    draft.set(environment=found)


_TITLE_END = re.compile(r"\b(?:on|for|at|from)\s+([a-z0-9][\w.-]{1,100}[a-z0-9])\s*$")
_TITLE_SLUG = re.compile(r"(?<![\w./-])([a-z][a-z0-9]*(?:-[a-z0-9]+)+)(?![\w/])")


def title_place(title: str) -> str:
    """The thing a title names: 'on mq-prod-2' at its end, else its first hyphenated name."""
    ends = _TITLE_END.search(title)
    if ends is not None:
        return ends.group(1)
    slug = _TITLE_SLUG.search(title)
    return slug.group(1) if slug else ""


# a stack trace's frames or an application log's timestamped levels: what a tool's notification does not look like
LOG_OR_TRACE = re.compile(r"(?m)^\s+at [\w.$/]+\(|Traceback \(most recent call last\)"
                          r"|^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d[.,]\d{1,9}\s+"
                          r"(?:ERROR|WARN|WARNING|INFO|DEBUG|FATAL)\b")
