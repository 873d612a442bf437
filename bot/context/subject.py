"""What the context stage reads from an alert: its name, services, environment and structured links."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.context.links import (
    ENVIRONMENT_LABELS,
    SERVICE_LABELS,
    links_from_fields,
    parse_payload,
    payload_links,
    payload_names,
)
from bot.context.match import Subject
from bot.context.model import AlertLink
from bot.reading.model import Reading

# Label keys of a reading that name the service or workload an alert concerns.
_READING_SERVICE_KEYS = (*SERVICE_LABELS, "deployment", "statefulset", "daemonset", "service_name")

# Label sets as alert bots print them: `alertname=Foo`, `service: checkout-api`, `"job": "api"`.
_LABEL = re.compile(
    r"(?<![A-Za-z0-9_])([A-Za-z_][A-Za-z0-9_]{0,40})\"?\s{0,2}[=:]\s{0,2}\"?([A-Za-z0-9][\w.:/-]{0,120})"
)
# A link in a named field on a line of its own (`runbook_url: https://…`), as alert bots and the
# Alertmanager intake print them; a URL anywhere else in the text is prose and never a link.
_LINK_LINE = re.compile(
    r"^[ \t]{0,8}([A-Za-z_][A-Za-z_-]{1,30})[ \t]{0,3}[:=][ \t]{0,3}(https?://\S{1,2000})[ \t]*$", re.M
)
_FIRING = re.compile(r"\[(?:FIRING|RESOLVED)(?::\d{1,6})?\]\s{0,4}([A-Za-z][\w.:-]{0,120})")


@dataclass(frozen=True)
class Facts:
    """The subject of the context look-ups, and the links the alert's structure carries."""

    subject: Subject
    links: tuple[AlertLink, ...] = field(default=())


def facts_from_text(text: str) -> Facts:
    """Names and links from the text alone: a JSON payload's fields, or a printed label set."""
    payload = parse_payload(text)
    if payload is not None:
        name, services, env = payload_names(payload)
        return Facts(Subject(text, name, services, env), tuple(payload_links(payload)))
    labels: dict[str, str] = {}
    for match in _LABEL.finditer(text[:100_000]):
        labels.setdefault(match.group(1).lower(), match.group(2))
    name = labels.get("alertname", "")
    if not name:
        firing = _FIRING.search(text[:10_000])
        name = firing.group(1) if firing else ""
    services = tuple(dict.fromkeys(labels[k] for k in SERVICE_LABELS if k in labels))
    env = next((labels[k] for k in ENVIRONMENT_LABELS if k in labels), "")
    links = links_from_fields((m.group(1), m.group(2)) for m in _LINK_LINE.finditer(text[:100_000]))
    return Facts(Subject(text, name, services, env), tuple(links))


def facts_from_reading(text: str, reading: Reading | None, links: tuple[AlertLink, ...] = ()) -> Facts:
    """The subject as the reading stage read it (alert name, resource, labels, environment), with its links;
    what the text alone gives fills whatever the reading left empty."""
    own = facts_from_text(text)
    if reading is None:
        return Facts(own.subject, tuple(links) or own.links)
    services = [reading.labels[k] for k in _READING_SERVICE_KEYS if reading.labels.get(k)]
    if reading.resource:
        services.append(reading.resource.rsplit("/", 1)[-1])
    services.extend(own.subject.services)
    subject = Subject(
        text,
        reading.alert_name or own.subject.alert_name,
        tuple(dict.fromkeys(s for s in services if s)),
        reading.environment or own.subject.environment,
    )
    merged = tuple(links) + tuple(link for link in own.links if all(link.url != seen.url for seen in links))
    return Facts(subject, merged)
