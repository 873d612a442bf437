"""Where an alert fired: the host, instance, pod or container values it names."""

from __future__ import annotations

import re

MAX_PLACES = 4
_PLACE_KEYS = (
    "host|hostname|instance|node|nodename|pod|pod_name|k8s_pod_name|container|container_name|k8s\\.pod\\.name|"
    "server|machine"
)
_KEYED = re.compile(rf"(?i)(?<![\w.-])(?:{_PLACE_KEYS})\s*(?:=|:)\s*\"?([A-Za-z0-9][\w.:/-]{{0,80}})")
# "on node-4", "pod payments-7f9c8d-x2kq7": a place word followed by a name with a digit or a dash in it.
_NAMED = re.compile(r"(?i)\b(?:host|node|pod|container|instance|server)\s+([A-Za-z0-9][\w.:-]*[\d-][\w.:-]*)")


def places(text: str, labels: dict[str, str] | None = None) -> tuple[str, ...]:
    """Distinct place values in the order they appear, at most MAX_PLACES."""
    found: list[str] = []
    candidates: list[str] = []
    if labels:
        candidates.extend(
            str(labels[key]) for key in ("instance", "host", "hostname", "node", "pod", "container") if labels.get(key)
        )
    head = text[:4000]
    candidates.extend(m.group(1).rstrip(".:,") for m in _KEYED.finditer(head))
    candidates.extend(m.group(1).rstrip(".:,") for m in _NAMED.finditer(head))
    for value in candidates:
        if value and value not in found:
            found.append(value)
            if len(found) >= MAX_PLACES:
                break
    return tuple(found)
