"""The card's summary in its own words: what failed, where, and how bad with the reason."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.card import SUMMARY_LINE_MAX
from bot.triage.alert_fields import clip

if TYPE_CHECKING:
    from bot.triage.heuristics import Analysis

_NO_PLACE = "the affected component"


def summarise(analysis: Analysis) -> str:
    """Three lines built from the decisions, never from the alert's sentences."""
    return "\n".join(
        clip(line, SUMMARY_LINE_MAX) for line in (_what(analysis), _where(analysis), _how_bad(analysis))
    )


def _what(analysis: Analysis) -> str:
    if analysis.category == "unknown" and analysis.evidence.category_reason:
        return f"Unreadable input: {analysis.evidence.category_reason}; a person needs to look at the source"
    reading = analysis.reading
    if analysis.category == "unknown" and reading.source not in ("unknown", "chat", "ticket") and (
        reading.alert_name or analysis.signal is not None
    ):
        # a tool outside the categories (a cost anomaly): say what it reported, not that nothing was found
        name = alert_title(reading.alert_name) or reading.source
        place = alert_title(reading.resource, _PLACE_WORDS)
        reason = analysis.signal.reason if analysis.signal is not None else "raised an alert"
        return f"{name} — {place}: {reason}" if place else f"{name}: {reason}"
    if analysis.category == "unknown":
        return "No known component or failure in this text: a person needs to read it"
    failure = analysis.failure if analysis.failure not in ("", "problem") else ""
    failure = failure or (analysis.signal.reason if analysis.signal else "") or "raised an alert"
    token = analysis.fields.error
    if token and token.lower() not in failure.lower():
        failure = f"{failure} ({token})"
    place = alert_title(analysis.fields.target, _PLACE_WORDS)
    known = bool(place) and place != _NO_PLACE
    name = alert_title(analysis.reading.alert_name)
    if failure.lower().startswith(analysis.subject.lower()):
        what = f"{failure[0].upper()}{failure[1:]}"
    else:
        what = f"{analysis.subject}: {failure}"
    if name:
        # the alert's own name first: what people search runbooks and history by
        return f"{name} — {place}: {what}" if known and place.lower() not in name.lower() else f"{name}: {what}"
    return f"{what} on {place}" if known else f"{what}, place not stated"


_TITLE_WORDS = 5
_QUOTE_WORDS = 5


def _quote(evidence: str) -> str:
    """What the text showed, cut so a card never repeats the alert's own sentence."""
    return alert_title(evidence, _QUOTE_WORDS)
_PLACE_WORDS = 4


def alert_title(name: str, most: int = _TITLE_WORDS) -> str:
    """The alert's name (or place) for a card's first line; a long one is cut so the card never repeats the alert."""
    words = name.split()
    if len(words) <= most:
        return " ".join(words)
    return " ".join(words[:most]) + "…"


def _where(analysis: Analysis) -> str:
    fields = analysis.fields
    found = ", ".join(
        value if key == "near" else f"also named {value}" if key == "also" else f"{key} {value}"
        for key, value in fields.where
    )
    reading = analysis.reading
    if reading.people_text:
        about = f" about {alert_title(reading.resource)}" if reading.resource else ""
        return f"Where: reported by a person ({reading.source}){about}" + (f"; {found}" if found else "")
    if not found and reading.resource:
        found = alert_title(reading.resource)
    return f"Where: {found or 'not stated in the alert'}"


def _how_bad(analysis: Analysis) -> str:
    text = f"Severity {analysis.severity} ({analysis.category}) because {_basis(analysis)}"
    if analysis.measured is not None:
        text = f"{text}; measured {analysis.measured:g} %"
    if analysis.fields.firing > 1:
        text = f"{text}; {analysis.fields.firing} alerts firing"
    if analysis.requests_removed:
        text = f"{text}; text asking to change the classification was ignored"
    return text


def _basis(analysis: Analysis) -> str:
    signal, label = analysis.signal, analysis.label
    if analysis.basis == "resolved":
        return "the alert is resolved"
    if analysis.basis == "conflict" and analysis.conflict is not None and label is not None:
        conflict = analysis.conflict
        quoted = _quote(conflict.evidence)
        return f"the text states {conflict.reason} ('{quoted}') although it is labelled {label.word}; review"
    if analysis.basis == "label" and label is not None:
        text = f"it is labelled {label.word}"
        if signal is not None and signal.severity != "P3":
            text = f"{text} and the text shows {signal.reason} ('{_quote(signal.evidence)}')"
        return text
    if analysis.basis in ("inferred", "reading", "capped") and signal is not None:
        return f"the text shows {signal.reason} ('{_quote(signal.evidence)}')"
    return "no severity label and no impact are stated"
