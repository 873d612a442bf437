"""The bot's short replies: usage, notices, errors, a click on a card it no longer knows."""

from __future__ import annotations

from bot.slack.mrkdwn import Message, escape, mrkdwn_section

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


def usage_message() -> Message:
    return {"text": USAGE, "blocks": [mrkdwn_section(USAGE)]}


def notice_message(text: str) -> Message:
    """A short reply (ephemeral or response_url) whose text and block say the same thing, escaped in both."""
    return {"text": escape(text), "blocks": [mrkdwn_section(escape(text))]}


def stale_action_message() -> Message:
    return notice_message(
        "Sorry, that card is no longer known to the triage bot (it may be older than its database). "
        "Run /triage again to get a fresh card."
    )


def error_message(reason: str) -> Message:
    return notice_message(f"Could not triage that: {reason}")
