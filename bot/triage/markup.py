"""Slack markup to what a person sees: links become their label, mentions names, entities characters.

Slack hands over message text in its own markup: `<https://host/path|label>`, `<@U123>`, `<#C123|ops>`,
`<!here>`, with `&`, `<` and `>` escaped as entities. A person reading the message sees `label`, `@U123`,
`#ops`, `@here` and the plain characters. Every entry point decodes the text the same way, exactly once,
before identity, redaction and reading, so one alert gets one identity wherever it arrives, and a link's
hidden target (which may point anywhere) never becomes part of what is read as the alert's place.
"""

from __future__ import annotations

import re

# Only what Slack itself writes between angle brackets: a URL (any scheme), a mention of a user (@),
# a channel (#) or a special (!). `<module>`, `<init>` or `List<String>` in a stack trace are left alone.
# Bounded and free of nested quantifiers: linear on any input.
_MARKUP = re.compile(
    r"<((?:[A-Za-z][A-Za-z0-9+.\-]{0,31}:|[@#!])[^<>|\n]{0,2048})(?:\|([^<>\n]{0,2048}))?>"
)
_ENTITY = re.compile(r"&(amp|lt|gt);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}
_BROADCASTS = frozenset({"here", "channel", "everyone"})


def decode_markup(text: str) -> str:
    """The text as Slack shows it to a person (see the module docstring); plain text comes back unchanged."""
    if "<" in text:
        text = _MARKUP.sub(_shown, text)
    if "&" in text:
        text = _ENTITY.sub(lambda m: _ENTITIES[m.group(1)], text)
    return text


def _shown(match: re.Match[str]) -> str:
    target, label = match.group(1), (match.group(2) or "").strip()
    kind = target[0]
    if kind == "@":
        # <@U123|bob> (older payloads carry the name) → @bob; <@U123> → @U123
        return "@" + (label.lstrip("@") or target[1:])
    if kind == "#":
        return "#" + (label.lstrip("#") or target[1:])
    if kind == "!":
        name, _, rest = target[1:].partition("^")
        if name in _BROADCASTS:
            return f"@{name}"
        if label:  # <!subteam^S123|@oncall>, <!date^…|fallback text>
            return label
        if name == "subteam" and rest:
            return "@" + rest.split("^")[0]
        return f"@{name}"
    # A link: its label when it has one, else the URL as written (what Slack displays).
    return label or target
