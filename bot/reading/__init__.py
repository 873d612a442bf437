"""Reading: recognise which tool wrote an input and parse it as that tool writes it.

`read(text)` never fails: an unknown shape gets the generic reading (source 'unknown').
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.reading.draft import Draft
from bot.reading.model import Event, Link, Metric, Reading
from bot.reading.payloads import parse_json, read_payload
from bot.reading.texts import ADAPTERS, HEAD_CHARS, header_name, status_of_head

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
        if stripped[:1] in ("{", "[") or ("{" in stripped[:200] and stripped.rstrip().endswith(("}", "]"))):
            value = parse_json(text[: 4 * HEAD_CHARS * 10])
            if value is not None and read_payload(value, draft):
                if not draft.alert_name and draft.source in ("node", "go", "json-log", "mongodb"):
                    exception = _EXCEPTION.search(head)
                    draft.alert_name = exception.group(0) if exception else ""
                return _done(draft)
        first = next((line for line in head.splitlines() if line.strip()), "")
        for adapter in ADAPTERS:
            candidate = Draft()
            if adapter(head, first, candidate):
                draft = candidate
                draft.structured = draft.source not in ("chat", "ticket")
                break
        if not draft.alert_name and not draft.people_text:
            draft.alert_name = header_name(head)
        if not draft.status:
            draft.status = status_of_head(head)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError):
        # a shape the adapters misjudged: the generic reading, never a failed triage
        draft = Draft()
    return _done(draft)


def _done(draft: Draft) -> Read:
    return Read(
        reading=draft.reading(),
        links=tuple(draft.links),
        description=draft.description,
        body=draft.body,
        structured=draft.structured,
    )
