"""A reading under construction: adapters fill it, `finish` bounds it into a Reading."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from bot.reading.model import (
    EVENT_TEXT_MAX,
    MAX_EVENTS,
    MAX_LABELS,
    MAX_LINKS,
    MAX_METRICS,
    VALUE_MAX,
    Event,
    Link,
    LinkKind,
    Metric,
    Reading,
)

_URL = re.compile(r"https?://[^\s\"'<>|`]{1,1990}")
_LEVELS = {
    "emerg": "emergency", "emergency": "emergency", "panic": "emergency", "alert": "alert",
    "crit": "critical", "critical": "critical", "fatal": "critical", "severe": "error", "disaster": "critical",
    "err": "error", "error": "error", "eror": "error", "fail": "error", "failure": "error", "high": "error",
    "warn": "warning", "warning": "warning", "wrn": "warning", "average": "warning", "medium": "warning",
    "notice": "notice", "info": "info", "information": "info", "informational": "info", "inf": "info",
    "low": "info", "debug": "debug", "dbg": "debug", "trace": "debug", "verbose": "debug", "log": "info",
}
LEVEL_ORDER = ("emergency", "alert", "critical", "error", "warning", "notice", "info", "debug", "")


def level_of(word: object) -> str:
    """A tool's level word in one vocabulary (critical, error, warning, notice, info, debug), or ''."""
    return _LEVELS.get(str(word).strip().lower(), "")


def clip(value: object, limit: int = VALUE_MAX) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def number(value: object) -> float | None:
    """A finite float from a number or a numeric string, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip().rstrip("%").replace(",", ""))
        except ValueError:
            return None
    else:
        return None
    return result if math.isfinite(result) else None


def dig(data: Any, *path: str | int) -> Any:
    """data[path0][path1]... or None when any step is missing."""
    for key in path:
        if isinstance(key, int):
            if not isinstance(data, list) or not -len(data) <= key < len(data):
                return None
            data = data[key]
        else:
            if not isinstance(data, dict):
                return None
            data = data.get(key)
    return data


PROSE_MAX = 4000


def prose(value: Any) -> str:
    """A scalar's text for the rules to read, kept long (a description, a log line); '' for containers."""
    if value is None or isinstance(value, dict | list):
        return ""
    return clip(value, PROSE_MAX)


def text_of(value: Any) -> str:
    """A scalar as text; '' for None, containers and empty values."""
    if value is None or isinstance(value, dict | list):
        return ""
    return clip(value)


@dataclass
class Draft:
    """What an adapter found; every field optional."""

    source: str = "unknown"
    alert_name: str = ""
    resource: str = ""
    environment: str = ""
    status: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    metrics: list[Metric] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    people_text: bool = False
    links: list[Link] = field(default_factory=list)
    # the alert's own prose (description, message), kept apart from its labels
    description: str = ""
    # the text the rules read: for JSON payloads a plain rendering of the fields that matter
    body: str = ""
    structured: bool = False

    def label(self, key: str, value: object) -> None:
        text = text_of(value)
        if text and len(self.labels) < MAX_LABELS:
            self.labels.setdefault(clip(key, 60), text)

    def labels_from(self, mapping: Any) -> None:
        if isinstance(mapping, dict):
            for key, value in list(mapping.items())[:MAX_LABELS]:
                self.label(str(key), value)

    def event(self, level: object, text: object) -> None:
        words = clip(text, EVENT_TEXT_MAX)
        if words and len(self.events) < MAX_EVENTS:
            self.events.append(Event(level=level_of(level) or clip(level, 20).lower(), text=words))

    def metric(self, name: object, value: object = None, threshold: object = None, unit: object = "") -> None:
        title = clip(name)
        if title and len(self.metrics) < MAX_METRICS:
            self.metrics.append(Metric(name=title, value=number(value), threshold=number(threshold),
                                       unit=clip(unit, 20)))

    def link(self, kind: LinkKind, url: object) -> None:
        if not isinstance(url, str):
            return
        hit = _URL.match(url.strip())
        if hit is None or len(self.links) >= MAX_LINKS or any(link.url == hit.group(0) for link in self.links):
            return
        self.links.append(Link(kind=kind, url=hit.group(0)))

    def set(self, **values: object) -> None:
        """Fill fields that are still empty."""
        for key, value in values.items():
            text = text_of(value)
            if text and not getattr(self, key):
                setattr(self, key, text)

    def reading(self) -> Reading:
        resource = self.resource.strip()
        if not resource or REGION.fullmatch(resource):
            # a region is where the thing runs, never the thing affected: fall back to an ARN the labels carry
            arns = (ARN_RESOURCE.search(value) for value in self.labels.values())
            resource = next((hit.group(1) for hit in arns if hit is not None), "")
        return Reading(
            source=self.source,
            alert_name=clip(self.alert_name),
            resource=clip(resource),
            environment=clip(self.environment),
            status=clip(self.status, 40).lower(),
            labels=dict(list(self.labels.items())[:MAX_LABELS]),
            metrics=self.metrics[:MAX_METRICS],
            events=self.events[:MAX_EVENTS],
            people_text=self.people_text,
        )


# a cloud region or zone: AWS (eu-central-1), Google Cloud (us-central1, europe-west4-b), Azure (westeurope)
REGION = re.compile(
    r"(?i)(?:us|eu|ap|sa|ca|me|af|il|mx|cn|us-gov)-(?:north|south|east|west|central|northeast|southeast|northwest"
    r"|southwest)-\d[a-z]?|(?:us|europe|asia|australia|northamerica|southamerica|me|africa)-[a-z]{4,12}\d{1,2}(?:-[a-z])?"
    r"|(?:east|west|north|south|central|northcentral|southcentral|westcentral)(?:us|europe|asia)\d?"
)
# the resource part of an ARN: a repository path, a bucket, a function, a role (digests and ids dropped)
ARN_RESOURCE = re.compile(r"\barn:aws[\w-]{0,20}:[\w-]{1,40}:[\w-]{0,30}:\d{0,12}:(?:[\w-]{1,40}[/:])?"
                          r"([\w.-]{1,200}(?:/[\w.-]{1,200}){0,4}?)(?:/sha256:|[:/][0-9a-f]{12,}|\s|$)")


def worst_level(levels: list[str]) -> str:
    known = [level for level in levels if level in LEVEL_ORDER]
    return min(known, key=LEVEL_ORDER.index) if known else ""
