"""How severities and categories read in Slack: an emoji and a label each."""

from __future__ import annotations

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
