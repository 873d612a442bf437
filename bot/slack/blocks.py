"""Block Kit for triage cards and bot replies: pure functions from a TriageResult to a Slack message."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from bot.alerts.incidents import Incident
from bot.card import (
    CATEGORIES,
    CORRECTION_REASON,
    SEVERITIES,
    Precedent,
    SimilarIncident,
    TriageResult,
    restate_labels,
)
from bot.context.slack import context_blocks

ACTION_CONFIRM = "triage_confirm"
ACTION_SEVERITY = "triage_severity"
ACTION_CATEGORY = "triage_category"
ACTIONS_BLOCK_PREFIX = "triage_actions:"
ORIGIN_BLOCK_PREFIX = "triage_origin:"
VALUE_SEPARATOR = "|"

SEVERITY_EMOJI = {
    "P0": ":rotating_light:",
    "P1": ":red_circle:",
    "P2": ":large_orange_circle:",
    "P3": ":large_blue_circle:",
}
SEVERITY_LABEL = {"P0": "P0 · outage", "P1": "P1 · major", "P2": "P2 · partial", "P3": "P3 · low"}
CATEGORY_LABEL = {
    "infra": "Infrastructure",
    "app": "Application",
    "data": "Data",
    "security": "Security",
    "unknown": "Unknown",
}

USAGE = (
    "*Usage:* `/triage <alert text>` — paste an alert, log line or ticket and get a triage card "
    "(severity P0–P3, category, summary, three next steps).\n"
    "Examples:\n"
    "• `/triage KubePodCrashLooping: pod api-7f9c in prod restarted 12 times`\n"
    "• `/triage disk /var on db-2 at 93% and rising`\n"
    "`/triage` alone opens a window for long, multi-line logs; *Triage this message* in a message's menu "
    "answers that message in its thread.\n"
    "Alerts posted in the configured alert channels are triaged automatically, in a thread.\n"
    "Use *Confirm* or the selects on a card to record whether it was right."
)

FeedbackKind = Literal["confirm", "severity", "category"]
Message = dict[str, Any]


@dataclass(frozen=True)
class FeedbackNote:
    """One human judgement shown on the card."""

    user: str
    action: FeedbackKind
    old: str | None = None
    new: str | None = None
    # Where it came from: only a Slack click's user is mentioned; an HTTP or MCP author is plain text.
    origin: str = "slack"


@dataclass(frozen=True)
class CardState:
    """What happened to a card after it was posted: feedback, repeats, resolution, re-triage."""

    feedback: Sequence[FeedbackNote] = field(default_factory=tuple)
    seen_count: int = 1
    last_seen: float | None = None
    resolved: bool = False
    resolved_at: float | None = None
    updated_by_model: bool = False
    requested_by: str | None = None
    places: Sequence[str] = ()


def escape(text: str) -> str:
    """Escape mrkdwn control characters so alert text can never mention @channel or forge links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def action_value(triage_id: str, value: str | None = None) -> str:
    """The value an interactive element carries: the triage id, plus the chosen option if any."""
    return triage_id if value is None else f"{triage_id}{VALUE_SEPARATOR}{value}"


def effective_labels(result: TriageResult, state: CardState) -> tuple[str, str]:
    """Severity and category after human overrides (the latest override of each wins)."""
    severity: str = result.severity
    category: str = result.category
    for note in state.feedback:
        if note.action == "severity" and note.new:
            severity = note.new
        elif note.action == "category" and note.new:
            category = note.new
    return severity, category


def card_state(
    incident: Incident | None,
    feedback: Sequence[FeedbackNote] = (),
    *,
    requested_by: str | None = None,
    updated_by_model: bool = False,
) -> CardState:
    """The one place a card's state is built from what is stored: its incident's counter, resolution and
    places (when it is an incident's card), the feedback so far, who asked, whether the model redrew it.

    Every redraw (counter, resolve, click, re-triage, verdict) goes through this, so none of them can drop
    what another one shows.
    """
    if incident is None:
        return CardState(feedback=tuple(feedback), requested_by=requested_by, updated_by_model=updated_by_model)
    return CardState(
        feedback=tuple(feedback),
        seen_count=incident.count,
        last_seen=incident.last_seen,
        resolved=incident.resolved,
        resolved_at=incident.last_seen if incident.resolved else None,
        updated_by_model=updated_by_model,
        places=incident.places,
        requested_by=requested_by,
    )

def card_message(result: TriageResult, state: CardState | None = None, *, precedent_link: str | None = None) -> Message:
    """The full card: `text` fallback plus blocks, ready for chat.postMessage / chat.update.

    `precedent_link` is the permalink of the card whose verdict decided this one, when Slack gave one.
    """
    state = state or CardState()
    severity, category = effective_labels(result, state)
    blocks: list[dict[str, Any]] = [_header(severity, category, state, _alert_title(result))]
    blocks.extend(_markers(result, state))
    blocks.extend(memory_blocks(result, precedent_link))
    blocks.extend(context_blocks(result))
    blocks.append(_mrkdwn_section(escape(shown_summary(result, severity, category))))
    steps = "\n".join(f"{n}. {escape(step)}" for n, step in enumerate(result.steps, start=1))
    blocks.append(_mrkdwn_section(f"*Next steps*\n{steps}"))
    blocks.append(_context([context_line(result)]))
    if state.requested_by:
        blocks.append(_origin(state.requested_by))
    blocks.append(_actions(result.meta.triage_id, severity, category))
    notes = [feedback_line(note) for note in state.feedback]
    if notes:
        blocks.append(_context(_fold(notes, limit=10)))
    return {"text": fallback_text(result, state), "blocks": blocks}


def shown_summary(result: TriageResult, severity: str, category: str) -> str:
    """The summary as the card shows it: agreeing with the labels people set on the card."""
    if (severity, category) == (result.severity, result.category):
        return result.summary
    return restate_labels(result.summary, severity, category, CORRECTION_REASON)


# Notifications show the start of `text`; it says what the card says, and stays this short however many
# clicks the card has had.
FALLBACK_MAX = 300


def fallback_text(result: TriageResult, state: CardState | None = None) -> str:
    """Plain text for notifications and screen readers: what the card says, in one line or two."""
    state = state or CardState()
    severity, category = effective_labels(result, state)
    first_line = escape(shown_summary(result, severity, category).splitlines()[0])
    flags = _flag_words(result, state)
    prefix = f"[{', '.join(flags)}] " if flags else ""
    text = f"{prefix}{severity} {CATEGORY_LABEL.get(category, category)} alert: {first_line}"
    if state.feedback:
        # Only the latest verdict: the full history is on the card itself.
        earlier = len(state.feedback) - 1
        text += " — " + _plain_feedback(state.feedback[-1]) + (f" (+{earlier} earlier)" if earlier else "")
    return fit(text, FALLBACK_MAX)


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


def precedent_line(precedent: Precedent, link: str | None = None) -> str:
    """"P1 · data as confirmed by @bob on 3 Dec", linking to the judged card when there is a link."""
    word = "confirmed" if precedent.verdict == "confirm" else "corrected"
    who = _who(precedent.by, precedent.origin)
    text = f"{precedent.severity} · {precedent.category} as {word} by {who} on {_day(precedent.at)}"
    if link and link.startswith(("https://", "http://")):
        text += f" · <{_link_safe(link)}|judged card>"
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
            verdict = f", {word} by {_who(item.by or '?', item.origin or 'unknown')}"
        first = item.summary.splitlines()[0] if item.summary else ""
        summary = escape(first[:80] + ("…" if len(first) > 80 else ""))
        entry = f"{item.severity} · {item.category}{verdict}, {_day(item.at)}"
        entries.append(entry + (f" — {summary}" if summary else ""))
    return ":leftwards_arrow_with_hook: Seen before: " + " · ".join(entries)


def memory_blocks(result: TriageResult, precedent_link: str | None = None) -> list[dict[str, Any]]:
    """The precedent and "Seen before" lines, in one context block; none when memory had nothing."""
    meta, lines = result.meta, []
    if meta.precedent is not None:
        lines.append(precedent_line(meta.precedent, precedent_link))
    if meta.similar:
        lines.append(seen_before_line(meta.similar))
    return [_context(lines)] if lines else []


def feedback_line(note: FeedbackNote) -> str:
    """One feedback note as mrkdwn, naming a Slack user with a mention and anyone else as plain text."""
    who = _who(note.user, note.origin)
    if note.action == "confirm":
        return f":white_check_mark: Confirmed by {who}"
    what = "Severity" if note.action == "severity" else "Category"
    return f":pencil2: {what} changed {escape(note.old or '?')} → {escape(note.new or '?')} by {who}"


def usage_message() -> Message:
    return {"text": USAGE, "blocks": [_mrkdwn_section(USAGE)]}


def notice_message(text: str) -> Message:
    """A short reply (ephemeral or response_url) whose text and block say the same thing, escaped in both."""
    return {"text": escape(text), "blocks": [_mrkdwn_section(escape(text))]}


def stale_action_message() -> Message:
    return notice_message(
        "Sorry, that card is no longer known to the triage bot (it may be older than its database). "
        "Run /triage again to get a fresh card."
    )


def error_message(reason: str) -> Message:
    return notice_message(f"Could not triage that: {reason}")


# -- block helpers -----------------------------------------------------------------------------


def _alert_title(result: TriageResult) -> str:
    """`AlertName — resource` from the reading, the name people search runbooks and history by ('' if none)."""
    reading = result.meta.reading
    if reading is None or not reading.alert_name:
        return ""
    # from untrusted text: no angle brackets, so nothing in it can read as a Slack link or mention
    name = " ".join(reading.alert_name.replace("<", " ").replace(">", " ").split())
    place = " ".join(reading.resource.replace("<", " ").replace(">", " ").split())
    return f"{name} — {place}" if place and place.lower() not in name.lower() else name


def _header(severity: str, category: str, state: CardState, title: str = "") -> dict[str, Any]:
    emoji = SEVERITY_EMOJI.get(severity, ":grey_question:")
    resolved = " · resolved" if state.resolved else ""
    text = f"{emoji} {SEVERITY_LABEL.get(severity, severity)} · {CATEGORY_LABEL.get(category, category)}"
    if title:
        text = f"{text} · {title}"
    return {"type": "header", "text": {"type": "plain_text", "text": (text + resolved)[:150], "emoji": True}}


def _origin(user: str) -> dict[str, Any]:
    # The block id carries the user so a redraw after a click can keep the line without a lookup.
    block = _context([f"Requested by {_who(user, 'slack')} with /triage"])
    block["block_id"] = f"{ORIGIN_BLOCK_PREFIX}{user}"[:255]
    return block


def _markers(result: TriageResult, state: CardState) -> list[dict[str, Any]]:
    meta, lines = result.meta, []
    if state.resolved:
        lines.append(":white_check_mark: *Resolved*" + _when(state.resolved_at))
    if meta.degraded:
        reason = escape(meta.degraded_reason or "model unavailable")
        lines.append(f":warning: *Degraded: {reason}* — produced by the fallback rules, check it yourself")
    if meta.needs_review:
        lines.append(":eyes: *Needs human review* — low confidence or conflicting evidence")
    if state.updated_by_model:
        lines.append(":robot_face: *Updated by model* — replaces the earlier fallback card")
    if state.seen_count > 1:
        lines.append(":repeat: " + seen_line(state.seen_count, state.places, state.last_seen))
    return [_mrkdwn_section("\n".join(lines))] if lines else []


SHOWN_PLACES = 2


def seen_line(count: int, places: Sequence[str], last_seen: float | None) -> str:
    """"Seen 50 times on node-4, node-7 (+3 more), last 10:42": how often, where, and when last."""
    where = ""
    if places:
        shown = ", ".join(escape(place) for place in places[:SHOWN_PLACES])
        hidden = len(places) - SHOWN_PLACES
        where = f" on {shown}" + (f" (+{hidden} more)" if hidden > 0 else "")
    return f"Seen {count} times{where}" + _when(last_seen, "last")


def _actions(triage_id: str, severity: str, category: str) -> dict[str, Any]:
    return {
        "type": "actions",
        "block_id": f"{ACTIONS_BLOCK_PREFIX}{triage_id}"[:255],
        "elements": [
            {
                "type": "button",
                "action_id": ACTION_CONFIRM,
                "text": {"type": "plain_text", "text": "Confirm", "emoji": True},
                "style": "primary",
                "value": action_value(triage_id),
            },
            _select(ACTION_SEVERITY, "Severity", triage_id, SEVERITIES, severity, SEVERITY_LABEL),
            _select(ACTION_CATEGORY, "Category", triage_id, CATEGORIES, category, CATEGORY_LABEL),
        ],
    }


def _select(
    action_id: str,
    placeholder: str,
    triage_id: str,
    values: Sequence[str],
    current: str,
    labels: dict[str, str],
) -> dict[str, Any]:
    options = [_option(labels.get(value, value), action_value(triage_id, value)) for value in values]
    element: dict[str, Any] = {
        "type": "static_select",
        "action_id": action_id,
        "placeholder": {"type": "plain_text", "text": placeholder},
        "options": options,
    }
    if current in values:
        element["initial_option"] = options[list(values).index(current)]
    return element


def _option(label: str, value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": label[:75], "emoji": True}, "value": value[:150]}


def _mrkdwn_section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": fit(text, 3000)}}


def fit(text: str, limit: int) -> str:
    """Cut escaped mrkdwn to Slack's limit without splitting an entity like `&amp;` (ends with …)."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def _context(lines: Sequence[str]) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": fit(line, 3000)} for line in lines]}


def _fold(lines: list[str], *, limit: int) -> list[str]:
    """A context block holds at most 10 elements: keep the latest, summarise the rest."""
    if len(lines) <= limit:
        return lines
    hidden = len(lines) - (limit - 1)
    return [f"…and {hidden} earlier", *lines[-(limit - 1) :]]


def _flag_words(result: TriageResult, state: CardState) -> list[str]:
    flags = []
    if state.resolved:
        flags.append("resolved")
    if result.meta.degraded:
        flags.append(f"degraded: {escape(result.meta.degraded_reason or 'model unavailable')}")
    if result.meta.needs_review:
        flags.append("needs human review")
    if state.seen_count > 1:
        flags.append(f"seen {state.seen_count} times")
    return flags


def _plain_feedback(note: FeedbackNote) -> str:
    who = _who(note.user, note.origin)
    if note.action == "confirm":
        return f"confirmed by {who}"
    return f"{note.action} changed {escape(note.old or '?')}→{escape(note.new or '?')} by {who}"


_USER_ID = re.compile(r"[UW][A-Z0-9]{1,30}")


def _who(by: str, origin: str | None) -> str:
    """A Slack user id from a Slack click as a mention; anything else as plain, escaped text.

    Only a click's author is known to be that Slack user: a name given over HTTP or MCP is shown as given,
    even when it looks like a user id, so it can neither ping anyone nor make a link. `origin` None is a
    Slack click (stored before origins were recorded). Only the id's own characters ever go inside `<@…>`.
    """
    if origin in (None, "slack") and _USER_ID.fullmatch(by):
        return f"<@{by}>"
    return escape(" ".join(by.split())[:128]) or "?"


def _day(ts: float) -> str:
    """'3 Dec' in UTC: a short date that reads the same inside a link as outside it."""
    day = datetime.fromtimestamp(ts, tz=UTC)
    return f"{day.day} {day:%b}"


def _link_safe(url: str) -> str:
    # '|' and '>' would end the link early in mrkdwn.
    return url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")


def _latency(ms: float) -> str:
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def _when(ts: float | None, word: str = "at") -> str:
    """A Slack date token: each reader sees the time in their own time zone."""
    if ts is None:
        return ""
    return f", {word} <!date^{int(ts)}^{{time}}|{_utc_hhmm(ts)} UTC>"


def _utc_hhmm(ts: float) -> str:
    seconds = int(ts) % 86400
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"
