"""What every JSON adapter reads alike: the resource and environment a label set names, tags, ARNs."""

from __future__ import annotations

import re
from typing import Any

ARN_NAME = re.compile(r"[:/]([\w.-]{1,120})$")
_ENV_KEYS = ("environment", "env", "stage", "deployment_environment", "tier")
_RESOURCE_KEYS = (
    "service", "deployment", "statefulset", "daemonset", "persistentvolumeclaim", "horizontalpodautoscaler", "cronjob",
    "ingress", "job_name", "pod", "container", "instance", "host",
    "hostname", "node", "queue", "topic", "database", "db", "cluster", "app", "application", "namespace", "job",
)


def resource_from(labels: dict[str, str]) -> str:
    """The thing a label set is about: a workload beats a namespace, namespace/name when both are given."""
    namespace = labels.get("namespace", "")
    for key in _RESOURCE_KEYS:
        value = labels.get(key, "")
        if value and key != "namespace":
            if namespace and key in ("deployment", "statefulset", "daemonset", "pod", "job_name", "service",
                                     "container", "app", "persistentvolumeclaim", "horizontalpodautoscaler",
                                     "cronjob", "ingress"):
                return f"{namespace}/{value}"
            return value
    return namespace


def environment_of(labels: dict[str, str]) -> str:
    return next((labels[key] for key in _ENV_KEYS if labels.get(key)), "")


def tags_of(value: Any) -> dict[str, str]:
    """Datadog-style tags ('env:prod,service:x' or a list) as a dict."""
    items = value.split(",") if isinstance(value, str) else value if isinstance(value, list) else []
    found: dict[str, str] = {}
    for item in items[:40]:
        if isinstance(item, str) and ":" in item:
            key, _, val = item.strip().partition(":")
            found.setdefault(key.strip(), val.strip())
    return found
