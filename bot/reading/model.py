"""The reading of one input: what tool wrote it and what it says, as one typed structure."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

LinkKind = Literal["runbook", "graph", "dashboard", "source", "run"]

# Bounds that keep a reading small whatever the input holds.
MAX_LABELS = 40
MAX_METRICS = 12
MAX_EVENTS = 20
MAX_LINKS = 8
VALUE_MAX = 200
EVENT_TEXT_MAX = 300


class Metric(BaseModel):
    """A measured value the alert reports, with the threshold it was held to when it says one."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=VALUE_MAX)
    value: float | None = None
    threshold: float | None = None
    unit: str = Field(default="", max_length=20)


class Event(BaseModel):
    """One event, log line or finding in the input, with the level its tool gave it (lowercase)."""

    model_config = ConfigDict(extra="forbid")

    level: str = Field(default="", max_length=20)
    text: str = Field(max_length=EVENT_TEXT_MAX)


class Link(BaseModel):
    """An http(s) link the alert carries in a structured field."""

    model_config = ConfigDict(extra="forbid")

    kind: LinkKind
    url: str = Field(max_length=2000)


class Reading(BaseModel):
    """What produced the text and what it states: exposed on every result as `meta.reading`."""

    model_config = ConfigDict(extra="forbid")

    source: str = "unknown"
    alert_name: str = Field(default="", max_length=VALUE_MAX)
    resource: str = Field(default="", max_length=VALUE_MAX)
    environment: str = Field(default="", max_length=VALUE_MAX)
    status: str = Field(default="", max_length=40)
    labels: dict[str, str] = Field(default_factory=dict)
    metrics: list[Metric] = Field(default_factory=list)
    events: list[Event] = Field(default_factory=list)
    people_text: bool = False
