"""Reading: recognise which tool wrote an input and parse it as that tool writes it.

`read(text)` never fails: an unknown shape gets the generic reading (source 'unknown').
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.reading.draft import Draft
from bot.reading.model import Event, Link, Metric, Reading
from bot.reading.payload import parse_json, read_payload
from bot.reading.text import ADAPTERS
from bot.reading.text.fields import HEAD_CHARS
from bot.reading.text.head import header_name, status_of_head

_EXCEPTION = re.compile(r"\b[A-Z][A-Za-z]{2,60}(?:Exception|Error)\b")

__all__ = ["Event", "Link", "Metric", "Read", "Reading", "read"]


@dataclass(frozen=True)
class Read:
    """A reading plus what the engine needs beside it: the links, the alert's prose, the text to match rules on."""

    reading: Reading
    links: tuple[Link, ...] = ()
    description: str = ""
    # for JSON payloads, the fields that matter rendered as plain text; '' when the input is text already
    body: str = ""
    structured: bool = False
    extra: dict[str, str] = field(default_factory=dict)


def read(text: str) -> Read:
    """The reading of one input (already normalised and redacted)."""
    draft = Draft()
    head = text[:HEAD_CHARS]
    stripped = head.lstrip()
    try:
        lines = _json_lines(text)
        if len(lines) >= 2:
            many = _worst_of(lines)
            if many is not None:
                return _done(many)
        if stripped[:1] in ("{", "[") or ("{" in stripped[:200] and stripped.rstrip().endswith(("}", "]"))):
            value = parse_json(text[: 4 * HEAD_CHARS * 10])
            if value is not None and read_payload(value, draft):
                if not draft.alert_name and draft.source in ("node", "go", "json-log", "mongodb"):
                    exception = _EXCEPTION.search(head)
                    draft.alert_name = exception.group(0) if exception else ""
                return _done(draft)
        first = next((line for line in head.splitlines() if line.strip()), "")
        subject = _SUBJECT.search(head[:2000]) if _MAIL_HEADER.match(first) else None
        if subject is not None:
            # an e-mail's subject is the alert's head line
            first = subject.group(1)
        for adapter in ADAPTERS:
            candidate = Draft()
            if adapter(head, first, candidate):
                draft = candidate
                draft.structured = draft.source not in ("chat", "ticket")
                break
        if not draft.alert_name and not draft.people_text:
            draft.alert_name = header_name(head)
        if not draft.status:
            draft.status = status_of_head(f"{first}\n{head}")
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError):
        # a shape the adapters misjudged: the generic reading, never a failed triage
        draft = Draft()
    return _done(draft)


_MAIL_HEADER = re.compile(r"^\s*(?:From|To|Subject|Date|Reply-To|Cc):\s", re.IGNORECASE)
_SUBJECT = re.compile(r"(?im)^subject:[ \t]*(\S[^\n]{0,300})$")
_MAX_JSON_LINES = 50
_LOG_SOURCES = frozenset({"json-log", "mongodb", "go", "node", "python", "java", "dotnet", "logfmt", "app-log"})
# how grave a tool's own level word is, to find the worst of several events (higher is graver)
_GRAVITY = {"emergency": 7, "emerg": 7, "alert": 6, "critical": 6, "crit": 6, "fatal": 6, "panic": 6, "high": 5,
            "error": 5, "err": 5, "warning": 4, "warn": 4, "medium": 4, "notice": 3, "low": 2, "info": 2,
            "informational": 2, "debug": 1}


def _json_lines(text: str) -> list[str]:
    """The lines of a JSON-lines input (one event per line, as Falco and log shippers write them), else []."""
    lines = [line.strip() for line in text[: 64 * HEAD_CHARS].splitlines()[: 4 * _MAX_JSON_LINES] if line.strip()]
    if len(lines) < 2 or not all(line.startswith("{") and line.endswith("}") for line in lines[:_MAX_JSON_LINES]):
        return []
    return lines[:_MAX_JSON_LINES]


def _gravity(draft: Draft) -> int:
    words = [draft.labels.get(key, "") for key in ("priority", "severity", "level")]
    words += [event.level for event in draft.events]
    return max((_GRAVITY.get(word.strip().lower(), 0) for word in words if word), default=0)


def _worst_of(lines: list[str]) -> Draft | None:
    """Several events in one input: the worst one is the reading, every event's message stays evidence."""
    drafts: list[Draft] = []
    for line in lines:
        value = parse_json(line)
        draft = Draft()
        if value is not None and read_payload(value, draft):
            drafts.append(draft)
    if len(drafts) < 2 or drafts[0].source in _LOG_SOURCES:
        # a program's own log lines are one story told in order, read as before from their start
        return None
    worst = max(drafts, key=_gravity)
    for other in drafts:
        if other is not worst:
            for event in other.events:
                worst.event(event.level, event.text)
    worst.body = "\n".join(draft.body for draft in [worst, *(d for d in drafts if d is not worst)] if draft.body)
    return worst


def _done(draft: Draft) -> Read:
    return Read(
        reading=draft.reading(),
        links=tuple(draft.links),
        description=draft.description,
        body=draft.body,
        structured=draft.structured,
    )
