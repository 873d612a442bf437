"""The triage card schema: what every engine must produce and what every result carries."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, field_validator, model_serializer

from bot.context.model import ChangeRef, RunbookRef, ToolUse
from bot.reading.model import Link, Reading

Category = Literal["infra", "app", "data", "security", "unknown"]
Severity = Literal["P0", "P1", "P2", "P3"]
Engine = Literal["model", "heuristic"]

CATEGORIES: tuple[str, ...] = ("infra", "app", "data", "security", "unknown")
SEVERITIES: tuple[str, ...] = ("P0", "P1", "P2", "P3")

SUMMARY_MAX_LINES = 3
SUMMARY_LINE_MAX = 200
SUMMARY_MAX = 500
STEP_MAX = 200
STEP_MIN = 3


class TriageCard(BaseModel):
    """The four judgements and the advice: the part an engine produces."""

    model_config = ConfigDict(extra="forbid")

    category: Category
    severity: Severity
    summary: str = Field(min_length=1, max_length=SUMMARY_MAX)
    steps: list[str] = Field(min_length=3, max_length=3)
    confidence: float = Field(ge=0.0, le=1.0)

    @field_validator("summary")
    @classmethod
    def _summary_lines(cls, value: str) -> str:
        lines = [line.strip() for line in value.strip().splitlines() if line.strip()]
        if not lines:
            raise ValueError("summary is empty")
        if len(lines) > SUMMARY_MAX_LINES:
            raise ValueError(f"summary has {len(lines)} lines, at most {SUMMARY_MAX_LINES} allowed")
        if any(len(line) > SUMMARY_LINE_MAX for line in lines):
            raise ValueError(f"a summary line is longer than {SUMMARY_LINE_MAX} characters")
        return "\n".join(lines)

    @field_validator("steps")
    @classmethod
    def _steps_actionable(cls, value: list[str]) -> list[str]:
        steps = [" ".join(step.split()) for step in value]
        for step in steps:
            if len(step) < STEP_MIN:
                raise ValueError("a step is empty")
            if len(step) > STEP_MAX:
                raise ValueError(f"a step is longer than {STEP_MAX} characters")
        if len({step.casefold() for step in steps}) != len(steps):
            raise ValueError("steps repeat each other")
        return steps


def card_json_schema() -> dict[str, Any]:
    """JSON schema sent to the model for structured output (strict mode needs every key required)."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["category", "severity", "summary", "steps", "confidence"],
        "properties": {
            "category": {"type": "string", "enum": list(CATEGORIES)},
            "severity": {"type": "string", "enum": list(SEVERITIES)},
            "summary": {"type": "string", "maxLength": SUMMARY_MAX},
            "steps": {
                "type": "array",
                "minItems": 3,
                "maxItems": 3,
                "items": {"type": "string", "maxLength": STEP_MAX},
            },
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        },
    }


Verdict = Literal["confirm", "override"]
# Where a verdict was given: a click on the Slack card, POST /v1/triage/{id}/feedback, or the MCP feedback tool.
# Only a Slack click's author is a Slack user; any other author is a name as given and is never mentioned.
Origin = Literal["slack", "http", "mcp"]


def _drop_slack_origin(data: dict[str, Any]) -> dict[str, Any]:
    # A Slack verdict (or one stored before origins were recorded) keeps the JSON it always had.
    if data.get("origin") in (None, "slack"):
        data.pop("origin", None)
    return data


class Precedent(BaseModel):
    """The latest human verdict on an incident identity; it decides severity and category of later cards.

    `at` is when the verdict was given, in seconds since the epoch (like `created_at`).
    """

    triage_id: str
    verdict: Verdict
    severity: Severity
    category: Category
    by: str
    at: float
    # Set when the verdict puts this alert below what its own label (severity=critical, a Falco priority…)
    # asks for: the least severe the label allows. Left out of the JSON when the verdict agrees with it.
    below_label: Severity | None = None
    # Where the verdict came from; None (and "slack") is a Slack click, left out of the JSON.
    origin: Origin | None = None

    @model_serializer(mode="wrap")
    def _leave_out_agreement(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if data.get("below_label") is None:
            data.pop("below_label", None)
        return _drop_slack_origin(data)


class SimilarIncident(BaseModel):
    """An earlier incident shown for context; never decides anything on the new card."""

    triage_id: str
    at: float
    severity: Severity
    category: Category
    verdict: Verdict | None = None
    by: str | None = None
    summary: str
    # Where its verdict came from, as recalled for this card; kept out of the JSON, whose keys stay as they
    # were. A card drawn again from its stored JSON has None here and names the author as plain text.
    origin: Origin | None = Field(default=None, exclude=True)


class TriageMeta(BaseModel):
    """How a card was produced: engine, versions, cost, and whether anything went wrong."""

    triage_id: str
    engine: Engine
    model: str | None = None
    prompt_version: str
    cached: bool = False
    degraded: bool = False
    degraded_reason: str | None = None
    needs_review: bool = False
    latency_ms: float = 0.0
    cost_usd: float = 0.0
    fingerprint: str
    input_hash: str = ""
    source: str = "api"
    truncated: bool = False
    redactions: list[str] = Field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0
    retries: int = 0
    created_at: float = 0.0
    precedent: Precedent | None = None
    similar: list[SimilarIncident] = Field(default_factory=list)
    # what tool wrote the input and what it states (bot.reading); links only from the alert's structured fields
    reading: Reading | None = None
    links: list[Link] = Field(default_factory=list)
    # Context (bot/context): the team's runbook, recent changes to the service, the model's look-ups.
    runbook: RunbookRef | None = None
    changes: list[ChangeRef] = Field(default_factory=list)
    tools: list[ToolUse] = Field(default_factory=list)


class TriageResult(TriageCard):
    """A card with its metadata: what the API returns, the store records and Slack shows."""

    model_config = ConfigDict(extra="forbid")

    meta: TriageMeta

    @property
    def card(self) -> TriageCard:
        return TriageCard(
            category=self.category,
            severity=self.severity,
            summary=self.summary,
            steps=list(self.steps),
            confidence=self.confidence,
        )


# A summary line that states a severity (P0–P3); its category, when given, is in parentheses.
_STATED_SEVERITY = re.compile(r"\bP[0-3]\b")
_STATED_CATEGORY = re.compile(r"\((infra|app|data|security|unknown)\)")
PRECEDENT_REASON = "as people judged this incident before"
CORRECTION_REASON = "as corrected on this card"


def restate_labels(summary: str, severity: str, category: str, reason: str) -> str:
    """The summary agreeing with the labels a person set: a line stating other ones is restated.

    Whatever engine wrote the summary, a line naming a severity (and maybe a category) other than the
    card's now says the card's labels and why, so no line of a card contradicts its header.
    """
    lines = summary.splitlines()
    changed = False
    for n, line in enumerate(lines):
        severities = set(_STATED_SEVERITY.findall(line))
        if not severities:
            continue
        categories = set(_STATED_CATEGORY.findall(line))
        if severities <= {severity} and categories <= {category}:
            continue
        lines[n] = f"Severity {severity} ({category}) {reason}"
        changed = True
    return "\n".join(lines) if changed else summary
