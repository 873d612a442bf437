"""Verdicts over HTTP: the same rows a Slack click stores, then the posted card is redrawn."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import structlog

from bot.card import TriageResult
from bot.memory.verdicts import VerdictRequest, fold_verdict, plan_verdict
from bot.store import Store

if TYPE_CHECKING:
    from bot.slack.poster import CardPoster  # the Slack client library loads only where Slack is used

log = structlog.get_logger("bot.memory")


class UnknownTriage(LookupError):
    """No triage with that id (HTTP 404)."""


class Judge:
    """Applies a verdict to a card: feedback rows, the precedent of its identity, and the Slack card."""

    def __init__(self, store: Store, poster: CardPoster | None = None) -> None:
        self.store = store
        self.poster = poster
        # Read-decide-write of one verdict must not interleave with another on this process.
        self._lock = asyncio.Lock()

    async def judge(self, triage_id: str, request: VerdictRequest, origin: str = "http") -> dict[str, Any]:
        """Record a verdict; raise UnknownTriage, or VerdictError when it cannot apply to this card.

        `origin` is where it came from ("http" for the feedback route, "mcp" for the MCP tool): its author is
        a name as given, stored and shown as plain text, never as a Slack mention.

        Answers {"triage_id", "fingerprint", "precedent"}: the card's standing verdict, which later cards of
        the same identity carry as `meta.precedent`. A repeated identical verdict stores nothing new and
        gets the same answer.
        """
        async with self._lock:
            result = await self.store.run(self.store.get_triage, triage_id)
            if result is None:
                raise UnknownTriage(triage_id)
            rows = await self.store.run(self.store.feedback_for, triage_id)
            standing = fold_verdict(result.severity, result.category, rows)
            shown = (standing.severity, standing.category) if standing else (result.severity, result.category)
            changes = plan_verdict(*shown, standing is not None, request)
            stored = False
            for change in changes:
                stored = await self.store.run(
                    self.store.record_feedback, triage_id, request.by, change.action, change.old_value,
                    change.new_value, origin,
                ) or stored
            verdict = await self.store.run(self.store.verdict_of, triage_id)
        if stored:
            log.info("http_feedback", triage_id=triage_id, by=request.by, verdict=request.verdict, origin=origin)
            await self.redraw(result)
        precedent = None
        if verdict is not None:
            precedent = {key: verdict[key] for key in ("triage_id", "verdict", "severity", "category", "by", "at")}
            # As `meta.precedent` shows it: the origin is named unless the latest click was made in Slack.
            if verdict.get("origin") not in (None, "slack"):
                precedent["origin"] = verdict["origin"]
        return {"triage_id": triage_id, "fingerprint": result.meta.fingerprint, "precedent": precedent}

    async def redraw(self, result: TriageResult) -> None:
        """Show the verdict on the posted card, as a click would (nothing to do when it was never posted)."""
        if self.poster is None:
            return
        triage_id = result.meta.triage_id
        post = await self.store.run(self.store.get_post, triage_id)
        if not post or not post.get("channel") or not post.get("ts"):
            return
        await self.poster.redraw(str(post["channel"]), str(post["ts"]), triage_id, post.get("requested_by"))
