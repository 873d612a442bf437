"""Recent changes: the body of POST /v1/events/change, and how a change reads on a card."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.context.links import safe_url
from bot.context.model import ChangeRef

# A change reported this far ahead of the gateway's clock is a mistake in the sender's clock or units.
MAX_FUTURE_SECONDS = 300.0
# Beyond this (the year 5138) a number of seconds since the epoch is read as milliseconds.
MILLISECONDS = 1e11


class ChangeError(ValueError):
    """A change the gateway cannot record; the message says why."""


class ChangeRequest(BaseModel):
    """A deploy or config change as a CI step or Argo CD notification sends it."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    service: str = Field(min_length=1, max_length=200, pattern=r"^[^\s\x00-\x1f<>&|`]+$",
                         description="the service that changed, as alerts name it (checkout-api)")
    summary: str = Field(min_length=1, max_length=500, description="what changed, in one line")
    version: str | None = Field(default=None, max_length=100)
    environment: str | None = Field(default=None, max_length=100)
    author: str | None = Field(default=None, max_length=200)
    url: str | None = Field(default=None, max_length=2000, pattern=r"^(https?://\S+)?$",
                            description="an http(s) link to the run or commit")
    at: float | str | None = Field(
        default=None,
        description="when it happened: seconds since the epoch or ISO 8601, UTC without a zone (default: now)",
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if safe_url(value) is None:
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("summary", "version", "environment", "author")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        return " ".join(value.split()) if value else None


def change_time(value: float | str | None, now: float) -> float:
    """Seconds since the epoch from the request's `at`; raises ChangeError for what cannot be a time."""
    if value is None or value == "":
        return now
    if isinstance(value, bool):
        raise ChangeError("at: expected seconds since the epoch or an ISO 8601 time")
    at = float(value) if isinstance(value, int | float) else _seconds(value.strip())
    if at > MILLISECONDS:  # seconds that far ahead are milliseconds (JavaScript's Date.now())
        at /= 1000.0
    if at != at or at < 0 or at > now + MAX_FUTURE_SECONDS:
        raise ChangeError("at: must not be in the future")
    return at


def _seconds(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ChangeError("at: expected seconds since the epoch or an ISO 8601 time") from None
    if moment.tzinfo is None:  # a time without a zone is read as UTC, as CI systems mostly print it
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def change_row(request: ChangeRequest, now: float) -> dict[str, Any]:
    """The row the store records for a valid request."""
    return {
        "service": request.service,
        "summary": request.summary,
        "version": request.version,
        "environment": request.environment,
        "author": request.author,
        "url": request.url,
        "at": change_time(request.at, now),
    }


def ago(seconds: float) -> str:
    """'just now', '12 min ago', '1 h 5 min ago'."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return "just now"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min ago"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min ago" if minutes else f"{hours} h ago"


def change_words(change: ChangeRef, now: float) -> str:
    """"Changed 12 min ago: checkout-api v2.4.1 by ci-bot" (plain text; the card escapes it)."""
    what = change.service
    if change.version:
        version = change.version
        what += f" {version}" if version[:1].lower() == "v" or not version[:1].isdigit() else f" v{version}"
    if change.environment:
        what += f" ({change.environment})"
    line = f"Changed {ago(now - change.at)}: {what}"
    if change.author:
        line += f" by {change.author}"
    return line + f" — {change.summary}"
