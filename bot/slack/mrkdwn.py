"""mrkdwn and the plain blocks that carry it: escaping, Slack's size limits, mentions, dates."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

Message = dict[str, Any]


def escape(text: str) -> str:
    """Escape mrkdwn control characters so alert text can never mention @channel or forge links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fit(text: str, limit: int) -> str:
    """Cut escaped mrkdwn to Slack's limit without splitting an entity like `&amp;` (ends with …)."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def mrkdwn_section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": fit(text, 3000)}}


def context_block(lines: Sequence[str]) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": fit(line, 3000)} for line in lines]}


def fold(lines: list[str], *, limit: int) -> list[str]:
    """A context block holds at most 10 elements: keep the latest, summarise the rest."""
    if len(lines) <= limit:
        return lines
    hidden = len(lines) - (limit - 1)
    return [f"…and {hidden} earlier", *lines[-(limit - 1) :]]


_USER_ID = re.compile(r"[UW][A-Z0-9]{1,30}")


def who(by: str, origin: str | None) -> str:
    """A Slack user id from a Slack click as a mention; anything else as plain, escaped text.

    Only a click's author is known to be that Slack user: a name given over HTTP or MCP is shown as given,
    even when it looks like a user id, so it can neither ping anyone nor make a link. `origin` None is a
    Slack click (stored before origins were recorded). Only the id's own characters ever go inside `<@…>`.
    """
    if origin in (None, "slack") and _USER_ID.fullmatch(by):
        return f"<@{by}>"
    return escape(" ".join(by.split())[:128]) or "?"


def short_date(ts: float) -> str:
    """'3 Dec' in UTC: a short date that reads the same inside a link as outside it."""
    day = datetime.fromtimestamp(ts, tz=UTC)
    return f"{day.day} {day:%b}"


def link_safe(url: str) -> str:
    # '|' and '>' would end the link early in mrkdwn.
    return url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")


def when(ts: float | None, word: str = "at") -> str:
    """A Slack date token: each reader sees the time in their own time zone."""
    if ts is None:
        return ""
    return f", {word} <!date^{int(ts)}^{{time}}|{_utc_hhmm(ts)} UTC>"


def _utc_hhmm(ts: float) -> str:
    seconds = int(ts) % 86400
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"
