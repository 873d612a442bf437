"""What the context stage adds to a card: the alert's links, its runbook, recent changes and tool look-ups."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from bot.reading.model import Link as AlertLink
from bot.reading.model import LinkKind

ToolOutcome = Literal["ok", "error", "timeout", "cut", "refused"]


class RunbookRef(BaseModel):
    """The team's runbook matched to this alert: its title, its path in TRIAGE_RUNBOOKS and a link when known."""

    title: str
    path: str
    url: str | None = None
    # how it was found: the front matter named the alert or the service, or the text matched its words
    matched_by: Literal["alert", "service", "text"] = "text"


class ChangeRef(BaseModel):
    """A deploy or config change to the alert's service, within TRIAGE_CHANGE_WINDOW of the card."""

    id: str
    service: str
    summary: str
    version: str | None = None
    environment: str | None = None
    author: str | None = None
    url: str | None = None
    at: float


class ToolUse(BaseModel):
    """One tool the model called during the triage, as recorded in the audit trail."""

    server: str
    tool: str
    arguments: str = ""
    outcome: ToolOutcome
    latency_ms: float = 0.0
    result_chars: int = 0
    error: str | None = None

    @property
    def label(self) -> str:
        return f"{self.server}.{self.tool}"


__all__ = ["AlertLink", "ChangeRef", "LinkKind", "RunbookRef", "ToolOutcome", "ToolUse"]
