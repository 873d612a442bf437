"""People's prose: a ticket or a chat message, and the product feature it names."""

from __future__ import annotations

import re

from bot.reading.draft import Draft
from bot.reading.text.fields import FIELD_LINE, read_fields

_PEOPLE = re.compile(r"(?i)\b(?:i|we|our|us|my|me|you|your|customers?|users?|clients?|anyone|everyone|somebody|"
                     r"please|hi|hello|hey|thanks|thank you|can't|cannot|isn't|doesn't|won't|seems?|since|today|"
                     r"this morning|he|she|her|him|they|them|lol|btw|anyway|asked|told|folks|guys|who's|let's|"
                     r"i'm|we're)\b")
_TICKET = re.compile(r"(?i)\b(?:ticket|zendesk|freshdesk|jira|servicenow|support request|requester|customer "
                     r"report|reported by|subject:)")
_MACHINE = re.compile(r"[=\[\]{}<>|]|\b\d{1,2}:\d\d:\d\d\b|^\s+at\s", re.MULTILINE)


def reads_as_prose(sample: str) -> bool:
    """Whether a person wrote this: people's words outnumber the marks machines print (fields, brackets, times)."""
    if len(sample.split()) < 5:
        return False
    human = len(_PEOPLE.findall(sample))
    machine = len(_MACHINE.findall(sample))
    if not _TICKET.search(sample):
        machine += len(FIELD_LINE.findall(sample))
    return human >= 2 and machine <= max(2, human)


def people(head: str, first: str, draft: Draft) -> bool:
    sample = head[:3000]
    if not reads_as_prose(sample):
        return False
    draft.source = "ticket" if _TICKET.search(sample) else "chat"
    draft.people_text = True
    read_fields(head, draft)
    draft.set(alert_name=draft.labels.get("subject") or draft.labels.get("title"))
    found = [" ".join(hit.group(1).lower().split()).replace("log into", "login").replace("loginto", "login")
             for hit in _FEATURE.finditer(sample)]
    if found:
        # the most specific feature named, wherever it appears (a requester's e-mail header is not the problem)
        draft.resource = min(found, key=_feature_rank)
    named = named_system(sample)
    if named:
        # an engineer names the system itself (`dw-backup`, analytics-wh): that is the place, not a feature word
        draft.resource = named
    return True


# a system's own name as people write it: in backticks, or a hyphenated name with a digit or a system's suffix
_TICKED = re.compile(r"`([A-Za-z0-9][\w.:/-]{2,80})`")
_SYSTEM_NAME = re.compile(r"(?<![\w@/.:-])([a-z][a-z0-9]{0,30}(?:-[a-z0-9]{1,30}){1,5})(?![\w@-]|\.[a-z]|/)")
_SYSTEM_SUFFIX = frozenset({"db", "pg", "sql", "api", "svc", "service", "worker", "workers", "wh", "prod", "stg",
                            "staging", "cluster", "queue", "bucket", "backup", "backups", "web", "app", "cache",
                            "redis", "kafka", "es", "search", "gateway", "gw", "proxy", "lb", "job", "cron", "etl",
                            "runner", "node", "pool", "sink", "stream", "export", "exporter", "bot"})


def named_system(sample: str) -> str:
    """The first system a person names by its own name, or ''."""
    ticked = next((hit.group(1) for hit in _TICKED.finditer(sample) if not hit.group(1).startswith(("http", "/"))
                   and not re.fullmatch(r"[\d.:]+", hit.group(1))), "")
    if ticked:
        return ticked
    for hit in _SYSTEM_NAME.finditer(sample):
        parts = hit.group(1).split("-")
        if any(part.isdigit() or part in _SYSTEM_SUFFIX for part in parts[1:]) or any(c.isdigit() for c in parts[0]):
            return hit.group(1)
    return ""


def _feature_rank(name: str) -> int:
    key = name.replace(" ", "").replace("-", "")
    return next((i for i, words in enumerate(_FEATURE_ORDER) if key.startswith(words)), len(_FEATURE_ORDER))


_FEATURE_ORDER = ("checkout", "shoppingcart", "cart", "payment", "myorders", "order", "login", "signin", "signup",
                  "passwordreset", "search", "admindashboard", "dashboard", "report", "export", "invoice", "billing",
                  "upload", "mobileapp", "website", "web", "api", "notification", "email", "email")


# What people name when they report a problem: the feature of the product they use.
_FEATURE = re.compile(
    r"(?i)\b(check ?out|shopping cart|cart|log ?into|log ?in|sign[ -]?in|sign[ -]?up|payments?|my orders|orders? page"
    r"|orders?|admin dashboard|dashboard|reports?|exports?|search|invoices?|billing|uploads?|notifications?|e-?mails?"
    r"|password reset|mobile app|web ?site|api)\b"
)
