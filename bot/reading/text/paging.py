"""Paging notifications: PagerDuty's and Opsgenie's e-mails and chat messages."""

from __future__ import annotations

import re

from bot.reading.draft import Draft
from bot.reading.text.fields import read_environment, read_fields, title_place

_PD_MAIL = re.compile(r"assigned (?:to )?incident #(\d{1,12}):?\s*[\"“]([^\"”\n]{1,200})[\"”]"
                      r"(?:\s+on service\s+([\w. -]{1,100}?)(?=[\s(.,]|$))?")
# PagerDuty's Slack message: ":rotating_light: *Triggered* #91144 — *[prod] orders-db: connections exhausted*"
_PD_SLACK = re.compile(r"^\s*(?::[\w+-]{1,30}:\s*)?\*?(Triggered|Acknowledged|Resolved|Escalated)\*?\s*#(\d{1,12})\s*"
                       r"[—–-]\s*\*?(.{2,200}?)\*?\s*$")
_PD_HEAD = re.compile(r"^\s*\[#(\d{1,12})\]\s*(Triggered|Acknowledged|Resolved|Reassigned|Escalated)\s*:\s*(.{1,200})$",
                      re.IGNORECASE)
# "Opsgenie Alert [P2] #123: title", "[Opsgenie] Alert created: [P1] title", "[Opsgenie] *P1* title"
_OG_HEAD = re.compile(r"^\s*(?::[\w+-]{1,30}:\s*)?(?:\[Opsgenie\]|Opsgenie(?: Alert)?)\s*(?:Alert\s+)?"
                      r"(?:created|closed|acknowledged|escalated)?\s*:?\s*(?:[\[*](P[1-5])[\]*])?\s*(?:#\d{1,12})?\s*:?\s*"
                      r"(.{1,200})$", re.IGNORECASE)


def paging(head: str, first: str, draft: Draft) -> bool:
    """PagerDuty and Opsgenie notifications: '[#123] Triggered: title', 'Opsgenie Alert [P1] #9: title'."""
    pd = _PD_HEAD.match(first)
    slack = _PD_SLACK.match(first) if pd is None else None
    if slack is not None:
        draft.source, draft.status, draft.alert_name = "pagerduty", slack.group(1).lower(), slack.group(3).strip()
        read_fields(head, draft)
        draft.resource = title_place(re.sub(r"^\[[\w -]{1,20}\]\s*", "", draft.alert_name).split(":", 1)[0]) or (
            draft.labels.get("service", ""))
        read_environment(draft)
        return True
    og = _OG_HEAD.match(first) if pd is None else None
    mail = _PD_MAIL.search(head[:2000]) if pd is None and og is None else None
    if mail is not None:
        draft.source, draft.alert_name, draft.status = "pagerduty", mail.group(2).strip(), "triggered"
        urgency = re.search(r"(?i)urgency:\s*(\w+)", head[:2000])
        if urgency is not None:
            draft.label("urgency", urgency.group(1))
        draft.resource = (mail.group(3) or "").strip() or title_place(draft.alert_name)
        return True
    if pd is None and og is None:
        return False
    draft.source = "pagerduty" if pd is not None else "opsgenie"
    if pd is not None:
        draft.status, draft.alert_name = pd.group(2).lower(), pd.group(3).strip()
    elif og is not None:
        draft.alert_name = og.group(2).replace("*", "").strip()
        if og.group(1):
            draft.label("priority", og.group(1))
    read_fields(head, draft)
    entity = draft.labels.get("entity", "")
    draft.resource = entity or title_place(draft.alert_name) or draft.labels.get("service", "")
    read_environment(draft)
    return True
