"""The app's Home tab: a person's recent cards and verdicts, the week's agreement, the incidents open now."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.report.agreement import Group, Verdict, aggregate, verdict
from bot.settings import Settings
from bot.slack.labels import CATEGORY_LABEL, SEVERITY_EMOJI
from bot.slack.membership import Membership, is_conversation_id
from bot.slack.mrkdwn import escape, fit
from bot.slack.poster import slack_error
from bot.store import Store

WEEK = 7 * 86400
RECENT_CARDS = 10
OPEN_INCIDENTS = 10
# Open incidents read from the store before keeping the viewer's: enough that other people's channels
# rarely crowd the viewer's own out of the list.
OPEN_INCIDENTS_READ = 200
# Slack allows 100 blocks in a Home tab; every list here is bounded well below that.
MAX_BLOCKS = 100

log = structlog.get_logger("bot.slack")


@dataclass(frozen=True)
class HomeCard:
    """One card a person asked for or judged, with what people made of it."""

    severity: str
    category: str
    summary: str
    created_at: float
    link: str | None = None
    channel: str | None = None
    verdict: Verdict | None = None


@dataclass(frozen=True)
class HomeIncident:
    """An incident whose card is still open: not resolved, alerts within the coalescing window."""

    severity: str
    category: str
    summary: str
    count: int
    last_seen: float
    channel: str
    link: str | None = None


@dataclass(frozen=True)
class HomeData:
    user: str
    now: float
    cards: Sequence[HomeCard] = ()
    groups: Sequence[Group] = ()
    incidents: Sequence[HomeIncident] = field(default_factory=tuple)


Linked = TypeVar("Linked", HomeCard, HomeIncident)


# -- pure Block Kit ------------------------------------------------------------------------------


def home_view(data: HomeData) -> dict[str, Any]:
    """The Home tab view for views.publish."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Triage Gateway", "emoji": True}},
        _context(
            "`/triage <text>` for a card · `/triage` alone for long logs · *Triage this message* in any "
            f"message's menu · updated {_when(data.now)}"
        ),
        {"type": "divider"},
        _section("*Your recent cards*"),
    ]
    if data.cards:
        blocks.extend(_section(card_line(card)) for card in data.cards)
    else:
        blocks.append(_context("No cards yet: the cards you ask for or judge will show here."))
    blocks += [{"type": "divider"}, _section("*Agreement this week* (people's verdicts on the cards, last 7 days)")]
    judged = [group for group in data.groups if group.agreement is not None]
    if judged:
        blocks.append(_section("\n".join(agreement_line(group) for group in judged[:20])))
    else:
        blocks.append(_context("No verdicts this week: *Confirm* a card or correct it to start the tally."))
    blocks += [{"type": "divider"}, _section("*Open incidents*")]
    if data.incidents:
        blocks.extend(_section(incident_line(incident)) for incident in data.incidents)
    else:
        blocks.append(_context("No open incidents. :sunny:"))
    return {"type": "home", "blocks": blocks[:MAX_BLOCKS]}


def card_line(card: HomeCard) -> str:
    where = f" in <#{card.channel}>" if is_conversation_id(card.channel) else ""
    opened = f" · <{card.link}|open card>" if card.link else ""
    return (
        f"{_labels(card.severity, card.category)} — {_first_line(card.summary)}\n"
        f"{verdict_words(card.verdict)} · {_when(card.created_at)}{where}{opened}"
    )


def verdict_words(found: Verdict | None) -> str:
    """What people made of a card, in a few words."""
    if found is None:
        return ":hourglass_flowing_sand: no verdict yet"
    if not found.overridden:
        return ":white_check_mark: confirmed"
    changes = []
    if found.severity != found.final_severity:
        changes.append(f"severity {found.severity} → {found.final_severity}")
    if found.category != found.final_category:
        changes.append(f"category {found.category} → {found.final_category}")
    return ":pencil2: corrected: " + ", ".join(changes)


def agreement_line(group: Group) -> str:
    share = f"{round((group.agreement or 0) * 100)}%"
    return (
        f"`{escape(group.model)}` · prompt `{escape(group.prompt_version)}`: *{share}* agreement "
        f"({group.confirmed} confirmed, {group.overridden} corrected, {group.cards} cards)"
    )


def incident_line(incident: HomeIncident) -> str:
    opened = f" · <{incident.link}|open card>" if incident.link else ""
    times = "once" if incident.count == 1 else f"{incident.count} times"
    return (
        f"{_labels(incident.severity, incident.category)} — {_first_line(incident.summary)}\n"
        f"in {_channel(incident.channel)} · seen {times}, last {_when(incident.last_seen)}{opened}"
    )


def _channel(channel: str) -> str:
    return f"<#{channel}>" if is_conversation_id(channel) else escape(channel)


def _labels(severity: str, category: str) -> str:
    emoji = SEVERITY_EMOJI.get(severity, ":grey_question:")
    return f"{emoji} *{escape(severity)} · {escape(CATEGORY_LABEL.get(category, category))}*"


def _first_line(summary: str) -> str:
    lines = summary.strip().splitlines()
    first = lines[0] if lines else "(no summary)"
    return escape(first[:150] + ("…" if len(first) > 150 else ""))


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%d %b %H:%M UTC").lstrip("0")


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": fit(text, 3000)}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": fit(text, 3000)}]}


# -- gathering what the tab shows ------------------------------------------------------------------


class HomeTab:
    """Reads the store, asks Slack for links to the cards, and publishes the view."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        client: AsyncWebClient,
        *,
        clock: Callable[[], float] = time.time,
        membership: Membership | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.client = client
        self.membership = membership or Membership(client)
        self._clock = clock
        # A message's permalink never changes: asked once per card for the life of the process.
        self._links: dict[tuple[str, str], str] = {}

    async def publish(self, user: str) -> None:
        view = home_view(await self.gather(user))
        try:
            await self.client.views_publish(user_id=user, view=view)
        except SlackApiError as exc:
            log.warning("slack_home_not_published", user=user, error=slack_error(exc))

    async def gather(self, user: str) -> HomeData:
        now = self._clock()
        rows = await self.store.run(self.store.user_cards, user, RECENT_CARDS)
        since = now - WEEK
        triages = await self.store.run(self.store.triage_rows, since)
        feedback = await self.store.run(self.store.feedback_rows, since)
        posted = await self.store.run(self.store.posted_ids, since)
        groups = aggregate(triages, feedback, posted)
        # Only what comes from the viewer's own channels: a private channel's incidents stay with its members.
        mine = await self.membership.channels_of(user) or frozenset()
        rows = [dict(row) for row in visible_rows(rows, mine)]
        open_all = await self.store.run(
            self.store.open_incidents, now - self.settings.coalesce_window, OPEN_INCIDENTS_READ
        )
        open_now = [incident for incident in open_all if incident.channel in mine][:OPEN_INCIDENTS]
        cards = [await self._card(row) for row in rows]
        incidents = []
        for incident in open_now:
            result = await self.store.run(self.store.get_triage, incident.triage_id) if incident.triage_id else None
            severity, category = (result.severity, result.category) if result else ("?", "unknown")
            if result is not None:
                # The labels people set since, not the first answer.
                notes = await self.store.run(self.store.feedback_for, result.meta.triage_id)
                now_judged = verdict({"severity": severity, "category": category}, notes)
                if now_judged is not None:
                    severity, category = now_judged.final_severity, now_judged.final_category
            incidents.append(HomeIncident(
                severity=severity, category=category,
                summary=result.summary if result else "", count=incident.count, last_seen=incident.last_seen,
                channel=incident.channel,
            ))
        where = [(row.get("channel"), row.get("ts")) for row in rows] + [(i.channel, i.card_ts) for i in open_now]
        links = await asyncio.gather(*(self.link(channel, ts) for channel, ts in where))
        cards = [_with_link(card, link) for card, link in zip(cards, links[: len(cards)], strict=True)]
        incidents = [_with_link(item, link) for item, link in zip(incidents, links[len(cards):], strict=True)]
        return HomeData(user=user, now=now, cards=cards, groups=groups, incidents=incidents)

    async def _card(self, row: Mapping[str, Any]) -> HomeCard:
        notes = await self.store.run(self.store.feedback_for, str(row["triage_id"]))
        judged = verdict(row, notes)
        # The card as it stands: the latest verdict's labels when people corrected it, else the first answer.
        severity, category = (row["severity"], row["category"])
        if judged is not None:
            severity, category = judged.final_severity, judged.final_category
        return HomeCard(
            severity=str(severity), category=str(category), summary=str(row["summary"] or ""),
            created_at=float(row["created_at"] or 0), channel=row.get("channel"), verdict=judged,
        )

    async def link(self, channel: str | None, ts: str | None) -> str | None:
        """The permalink of a posted card; None when it was never posted or Slack will not say."""
        if not channel or not ts:
            return None
        known = self._links.get((channel, ts))
        if known:
            return known
        try:
            answer = await self.client.chat_getPermalink(channel=channel, message_ts=ts)
        except SlackApiError as exc:
            log.info("slack_permalink_unavailable", channel=channel, error=slack_error(exc))
            return None
        link = answer.get("permalink")
        if not isinstance(link, str) or not link.startswith(("https://", "http://")):
            return None
        self._links[(channel, ts)] = link
        return link


def visible_rows(rows: Sequence[Mapping[str, Any]], channels: frozenset[str]) -> list[Mapping[str, Any]]:
    """A person's cards that they may still see: posted in one of their channels, or never in a channel."""
    return [row for row in rows if not row.get("channel") or row.get("channel") in channels]


def _with_link(item: Linked, link: str | None) -> Linked:
    return replace(item, link=_link_safe(link)) if link else item


def _link_safe(url: str) -> str:
    # '|' and '>' would end a mrkdwn link early.
    return url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")
