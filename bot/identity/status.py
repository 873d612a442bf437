"""Alert status: a resolved notice says its problem is over."""

from __future__ import annotations

import re

# Alertmanager `[RESOLVED]`, Grafana `[OK]`, CloudWatch `OK:` subjects, chat emoji, `status: resolved` fields.
_RESOLVED = re.compile(
    r"^\s*(?:\[(?:resolved|ok|recovered)(?::\d+)?\]|:white_check_mark:|:large_green_circle:|resolved\b|recovered\b"
    r"|ok:)"
    r"|\b(?:status|state|alert[._ ]?state)[\s*_\"']*[:=][\s*_\"']*(?:resolved|ok|recovered)\b",
    re.I,
)


def is_resolved(text: str) -> bool:
    """Does this alert say its problem is over (Alertmanager `[RESOLVED]`, Grafana `[OK]`, `status: resolved`)?"""
    return bool(_RESOLVED.search(text))
