"""Alert status: a resolved notice says its problem is over."""

from __future__ import annotations

import re

# Alertmanager `[RESOLVED]`, Grafana `[OK]`, CloudWatch `OK:` subjects, chat emoji, `status: resolved` fields.
_RESOLVED_START = re.compile(
    r"\s*(?:\[(?:resolved|ok|recovered)(?::\d+)?\]|:white_check_mark:|:large_green_circle:|resolved\b|recovered\b"
    r"|ok:)",
    re.I,
)
_RESOLVED_FIELD = re.compile(r"\b(?:status|state|alert[._ ]?state)[\s*_\"']*[:=][\s*_\"']*(?:resolved|ok|recovered)\b")
_SCAN = 4000


def is_resolved(text: str) -> bool:
    """Does this alert say its problem is over (Alertmanager `[RESOLVED]`, Grafana `[OK]`, `status: resolved`)?"""
    if _RESOLVED_START.match(text):
        return True
    head = text[:_SCAN].lower()
    return "stat" in head and bool(_RESOLVED_FIELD.search(head))
