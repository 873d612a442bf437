"""What the retention purge deletes, as statements both backends run in one transaction.

Old rows go unless something still needs them: a triage stays while a person judged it (feedback and
verdicts are the ground truth of reports and precedents), while an incident shows it or a re-triage is
pending; an alert stays until it was turned into a card; an incident stays until its card was posted.
"""

from __future__ import annotations

# (table, statement); `{p}` is the backend's placeholder, bound to the cut-off time. Order matters:
# incidents go before the triages they point at, triages before their posts.
PURGE: tuple[tuple[str, str], ...] = (
    (
        "incidents",
        "delete from incidents where last_seen < {p} and post_state not in ('triaging', 'pending', 'sending')",
    ),
    ("alerts", "delete from alerts where received_at < {p} and status <> 'accepted'"),
    ("slack_events", "delete from slack_events where received_at < {p}"),
    (
        "triages",
        "delete from triages where created_at < {p}"
        " and id not in (select triage_id from feedback where triage_id is not null)"
        " and id not in (select triage_id from verdicts)"
        " and id not in (select triage_id from incidents where triage_id is not null)"
        " and id not in (select triage_id from retries where state = 'pending')",
    ),
    (
        "shadow_results",
        "delete from shadow_results where created_at < {p} and triage_id not in (select id from triages)",
    ),
    ("posts", "delete from posts where created_at < {p} and triage_id not in (select id from triages)"),
    ("message_cards", "delete from message_cards where created_at < {p} and triage_id not in (select id from triages)"),
    # The full-text index keeps the first text of every identity: it goes with the identity's last triage.
    (
        "incident_text",
        "delete from incident_text where {p} is not null"
        " and fingerprint not in (select fingerprint from triages where fingerprint is not null)",
    ),
    (
        "retries",
        "delete from retries where state <> 'pending' and next_at < {p}"
        " and triage_id not in (select id from triages)",
    ),
    ("changes", "delete from changes where at < {p}"),
    ("tool_calls", "delete from tool_calls where at < {p}"),
)


def cutoff(now: float, days: float) -> float | None:
    """The time before which rows may go; None when retention is off (0 days)."""
    return now - days * 86400.0 if days > 0 else None
