"""What an input's first lines say whoever wrote it: the alert's name in a header, an announced end."""

from __future__ import annotations

import re

from bot.reading.text.fields import FIELD_LINE

_NAME_KEYS = ("alertname", "alert", "alert name", "alarm", "alarm name", "rule", "rule name", "monitor", "check",
              "title", "subject", "condition")


def header_name(head: str) -> str:
    """The alert's name from a `Key: value` header line (alert:, alarm name:, rule:, subject:...), or ''."""
    found: dict[str, str] = {}
    for hit in FIELD_LINE.finditer(head[:4000]):
        key = hit.group(1).strip().lower()
        value = hit.group(2).strip().strip("*`\"' ")
        if key in _NAME_KEYS and 0 < len(value) <= 120 and key not in found:
            found[key] = value
    return next((found[key] for key in _NAME_KEYS if key in found), "")


# a notification whose head says it is over: "*Resolved:* Incident on …", a status page's "Resolved - …"
_OVER_HEAD = re.compile(r"^\s*(?::[\w+-]{1,30}:\s*)*[*_\[]{0,3}(?:\[[\w ]{1,20}\][*_]{0,2}\s*)?"
                        r"(?:(?:alert|incident|issue)\s+)?(resolved|recovered|closed)\b[*_\]]{0,3}\s*[:\-–—]",
                        re.IGNORECASE)


def status_of_head(head: str) -> str:
    """'resolved' when the first lines announce the end of an incident, else ''."""
    lines = [line for line in head[:3000].splitlines() if line.strip()][:4]
    return "resolved" if any(_OVER_HEAD.match(line) for line in lines) else ""
