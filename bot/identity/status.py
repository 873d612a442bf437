"""Alert status: a resolved notice says its problem is over."""

from __future__ import annotations

import re

_RESOLVED = re.compile(
    r"^\s*(?:\[resolved(?::\d+)?\]|:white_check_mark:|:large_green_circle:|resolved\b)"
    r"|\bstatus\s*[:=]\s*\"?resolved\b",
    re.I,
)


def is_resolved(text: str) -> bool:
    """Does this alert say its problem is over (Alertmanager `[RESOLVED]`, `status: resolved`)?"""
    return bool(_RESOLVED.search(text))
