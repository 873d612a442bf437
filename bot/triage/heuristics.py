"""Rule-based triage: a valid card from the text alone, deterministic and offline."""

from __future__ import annotations

from bot.card import TriageCard


def heuristic_card(text: str) -> TriageCard:
    """Placeholder until the rules engine lands: a low-confidence unknown card."""
    first = " ".join(text.split())[:150] or "(empty)"
    return TriageCard(
        category="unknown",
        severity="P3",
        summary=f"Unclassified alert: {first}",
        steps=[
            "Read the full alert text and identify the affected service",
            "Check the service dashboards for errors around the alert time",
            "Escalate to the owning team if impact is confirmed",
        ],
        confidence=0.2,
    )
