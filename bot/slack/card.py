"""The triage card as a Slack message: header, markers, summary, steps, controls, and its fallback text."""

from __future__ import annotations

from typing import Any

from bot.card import CORRECTION_REASON, TriageResult, restate_labels
from bot.context.slack import context_blocks
from bot.slack.actions import ORIGIN_BLOCK_PREFIX, actions_block
from bot.slack.card_lines import context_line, feedback_line, memory_blocks, plain_feedback, seen_line
from bot.slack.card_state import CardState, effective_labels
from bot.slack.labels import CATEGORY_LABEL, SEVERITY_EMOJI, SEVERITY_LABEL
from bot.slack.mrkdwn import Message, context_block, escape, fit, fold, mrkdwn_section, when, who


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
    blocks.append(mrkdwn_section(escape(shown_summary(result, severity, category))))
    steps = "\n".join(f"{n}. {escape(step)}" for n, step in enumerate(result.steps, start=1))
    blocks.append(mrkdwn_section(f"*Next steps*\n{steps}"))
    blocks.append(context_block([context_line(result)]))
    if state.requested_by:
        blocks.append(_origin(state.requested_by))
    blocks.append(actions_block(result.meta.triage_id, severity, category))
    notes = [feedback_line(note) for note in state.feedback]
    if notes:
        blocks.append(context_block(fold(notes, limit=10)))
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
        text += " — " + plain_feedback(state.feedback[-1]) + (f" (+{earlier} earlier)" if earlier else "")
    return fit(text, FALLBACK_MAX)


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
    block = context_block([f"Requested by {who(user, 'slack')} with /triage"])
    block["block_id"] = f"{ORIGIN_BLOCK_PREFIX}{user}"[:255]
    return block


def _markers(result: TriageResult, state: CardState) -> list[dict[str, Any]]:
    meta, lines = result.meta, []
    if state.resolved:
        lines.append(":white_check_mark: *Resolved*" + when(state.resolved_at))
    if meta.degraded:
        reason = escape(meta.degraded_reason or "model unavailable")
        lines.append(f":warning: *Degraded: {reason}* — produced by the fallback rules, check it yourself")
    if meta.needs_review:
        lines.append(":eyes: *Needs human review* — low confidence or conflicting evidence")
    if state.updated_by_model:
        lines.append(":robot_face: *Updated by model* — replaces the earlier fallback card")
    if state.seen_count > 1:
        lines.append(":repeat: " + seen_line(state.seen_count, state.places, state.last_seen))
    return [mrkdwn_section("\n".join(lines))] if lines else []


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
