"""The card's lines of text: how it was made, its precedent, incidents seen before, repeats, feedback."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.card import Precedent, SimilarIncident, TriageResult
from bot.slack.card_state import FeedbackNote
from bot.slack.mrkdwn import context_block, escape, link_safe, short_date, when, who


def context_line(result: TriageResult) -> str:
    """Confidence, engine, model, prompt version, cost and latency: how this card was made."""
    meta = result.meta
    parts = [f"confidence {round(result.confidence * 100)}%", f"engine: {meta.engine}"]
    if meta.model:
        parts.append(f"model: `{escape(meta.model)}`")
    parts.append(f"prompt: `{escape(meta.prompt_version)}`")
    parts.append(f"cost ≈ ${meta.cost_usd:.4f}" if meta.cost_usd < 1 else f"cost ≈ ${meta.cost_usd:.2f}")
    parts.append(_latency(meta.latency_ms))
    if meta.cached:
        parts.append("cached")
    return " · ".join(parts)


def _latency(ms: float) -> str:
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def precedent_line(precedent: Precedent, link: str | None = None) -> str:
    """"P1 · data as confirmed by @bob on 3 Dec", linking to the judged card when there is a link."""
    word = "confirmed" if precedent.verdict == "confirm" else "corrected"
    name = who(precedent.by, precedent.origin)
    text = f"{precedent.severity} · {precedent.category} as {word} by {name} on {short_date(precedent.at)}"
    if link and link.startswith(("https://", "http://")):
        text += f" · <{link_safe(link)}|judged card>"
    if precedent.below_label:
        text += f"\n:warning: *Below the alert's own label*, which asks for {precedent.below_label} or higher"
    return f":bookmark: {text}"


def seen_before_line(similar: Sequence[SimilarIncident]) -> str:
    """"Seen before: P1 · data, confirmed by @bob, 3 Dec — <summary> · …", one short entry per incident."""
    entries = []
    for item in similar:
        verdict = ""
        if item.verdict:
            word = "confirmed" if item.verdict == "confirm" else "corrected"
            # Only a click recalled as one is mentioned: a card drawn again from its JSON no longer knows.
            verdict = f", {word} by {who(item.by or '?', item.origin or 'unknown')}"
        first = item.summary.splitlines()[0] if item.summary else ""
        summary = escape(first[:80] + ("…" if len(first) > 80 else ""))
        entry = f"{item.severity} · {item.category}{verdict}, {short_date(item.at)}"
        entries.append(entry + (f" — {summary}" if summary else ""))
    return ":leftwards_arrow_with_hook: Seen before: " + " · ".join(entries)


def memory_blocks(result: TriageResult, precedent_link: str | None = None) -> list[dict[str, Any]]:
    """The precedent and "Seen before" lines, in one context block; none when memory had nothing."""
    meta, lines = result.meta, []
    if meta.precedent is not None:
        lines.append(precedent_line(meta.precedent, precedent_link))
    if meta.similar:
        lines.append(seen_before_line(meta.similar))
    return [context_block(lines)] if lines else []


SHOWN_PLACES = 2


def seen_line(count: int, places: Sequence[str], last_seen: float | None) -> str:
    """"Seen 50 times on node-4, node-7 (+3 more), last 10:42": how often, where, and when last."""
    where = ""
    if places:
        shown = ", ".join(escape(place) for place in places[:SHOWN_PLACES])
        hidden = len(places) - SHOWN_PLACES
        where = f" on {shown}" + (f" (+{hidden} more)" if hidden > 0 else "")
    return f"Seen {count} times{where}" + when(last_seen, "last")


def feedback_line(note: FeedbackNote) -> str:
    """One feedback note as mrkdwn, naming a Slack user with a mention and anyone else as plain text."""
    name = who(note.user, note.origin)
    if note.action == "confirm":
        return f":white_check_mark: Confirmed by {name}"
    what = "Severity" if note.action == "severity" else "Category"
    return f":pencil2: {what} changed {escape(note.old or '?')} → {escape(note.new or '?')} by {name}"


def plain_feedback(note: FeedbackNote) -> str:
    name = who(note.user, note.origin)
    if note.action == "confirm":
        return f"confirmed by {name}"
    return f"{note.action} changed {escape(note.old or '?')}→{escape(note.new or '?')} by {name}"
