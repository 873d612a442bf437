"""Links to judged cards: chat.getPermalink asked once per verdict, then remembered in the store."""

from __future__ import annotations

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.card import Precedent
from bot.store import Store

log = structlog.get_logger("bot.memory")


async def precedent_link(client: AsyncWebClient, store: Store, precedent: Precedent | None) -> str | None:
    """The permalink of the card whose verdict is the precedent; None when it was never posted or Slack refuses."""
    if precedent is None:
        return None
    known = await store.run(store.verdict_link, precedent.triage_id)
    if known:
        return known
    post = await store.run(store.get_post, precedent.triage_id)
    if not post or not post.get("channel") or not post.get("ts"):
        return None
    try:
        answer = await client.chat_getPermalink(channel=str(post["channel"]), message_ts=str(post["ts"]))
    except SlackApiError as exc:
        log.info("permalink_unavailable", triage_id=precedent.triage_id, error=str(exc.response.get("error")))
        return None
    link = answer.get("permalink")
    if not isinstance(link, str) or not link:
        return None
    await store.run(store.set_verdict_link, precedent.triage_id, link)
    return link
