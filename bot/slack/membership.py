"""Who is in which conversation, asked of Slack and cached briefly: the basis of every privacy decision."""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = structlog.get_logger("bot.slack")

K = TypeVar("K")
V = TypeVar("V")

# Membership changes rarely and Slack rate-limits these methods (Tier 2–4): a minute is fresh enough for a
# privacy decision and keeps a busy Home tab or a burst of clicks from hammering the API.
MEMBERSHIP_TTL = 60.0
# Whether a channel is private almost never changes.
PRIVACY_TTL = 600.0
PAGE_SIZE = 200
# A workspace's biggest channels hold tens of thousands of people: at most this many pages are read, and a
# list cut short is treated as unknown (access refused), never as complete.
MAX_PAGES = 100
# Conversation and user ids as Slack writes them; only these are ever put inside a mention or channel link.
_CONVERSATION_ID = re.compile(r"[CGD][A-Z0-9]{1,30}")
_USER_ID = re.compile(r"[UW][A-Z0-9]{1,30}")


def is_conversation_id(value: object) -> bool:
    return isinstance(value, str) and _CONVERSATION_ID.fullmatch(value) is not None


def is_user_id(value: object) -> bool:
    return isinstance(value, str) and _USER_ID.fullmatch(value) is not None


class TTLCache(Generic[K, V]):
    """A small cache whose entries expire `ttl` seconds after they were stored (clock passed in)."""

    def __init__(self, ttl: float, *, clock: Callable[[], float] = time.monotonic, max_entries: int = 2048) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K) -> V | None:
        found = self._entries.get(key)
        if found is None:
            return None
        stored_at, value = found
        if self._clock() - stored_at > self.ttl:
            del self._entries[key]
            return None
        return value

    def put(self, key: K, value: V) -> None:
        self._entries[key] = (self._clock(), value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


class Membership:
    """Slack's membership APIs behind short caches. Every failure answers "unknown", which callers refuse."""

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        ttl: float = MEMBERSHIP_TTL,
        clock: Callable[[], float] = time.monotonic,
        max_pages: int = MAX_PAGES,
    ) -> None:
        self.client = client
        self.max_pages = max_pages
        self._channels: TTLCache[str, frozenset[str]] = TTLCache(ttl, clock=clock)
        self._members: TTLCache[str, frozenset[str]] = TTLCache(ttl, clock=clock)
        self._groups: TTLCache[str, frozenset[str]] = TTLCache(ttl, clock=clock)
        self._private: TTLCache[str, bool] = TTLCache(max(ttl, PRIVACY_TTL), clock=clock)
        # One look-up per key at a time: a burst of clicks or Home tabs asks Slack once, the rest wait for it.
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    def _lock(self, kind: str, key: str) -> asyncio.Lock:
        if len(self._locks) > 4096:
            for stale in [k for k, lock in self._locks.items() if not lock.locked()]:
                del self._locks[stale]
        return self._locks.setdefault((kind, key), asyncio.Lock())

    async def channels_of(self, user: str) -> frozenset[str] | None:
        """The public and private channels `user` is a member of (users.conversations); None when unknown."""
        async with self._lock("channels", user):
            return await self._channels_of(user)

    async def _channels_of(self, user: str) -> frozenset[str] | None:
        known = self._channels.get(user)
        if known is not None:
            return known

        def call(cursor: str | None) -> Awaitable[Any]:
            return self.client.users_conversations(
                user=user, types="public_channel,private_channel", limit=PAGE_SIZE, cursor=cursor,
                exclude_archived=True,
            )

        found = await self._pages("users.conversations", call, _channel_ids)
        if found is not None:
            self._channels.put(user, found)
        return found

    async def members_of(self, channel: str) -> frozenset[str] | None:
        """The members of one conversation (conversations.members); None when unknown."""
        async with self._lock("members", channel):
            return await self._members_of(channel)

    async def _members_of(self, channel: str) -> frozenset[str] | None:
        known = self._members.get(channel)
        if known is not None:
            return known

        def call(cursor: str | None) -> Awaitable[Any]:
            return self.client.conversations_members(channel=channel, limit=PAGE_SIZE, cursor=cursor)

        found = await self._pages("conversations.members", call, _member_ids)
        if found is not None:
            self._members.put(channel, found)
        return found

    async def group_members(self, group: str) -> frozenset[str] | None:
        """The members of a user group (usergroups.users.list); None when unknown."""
        async with self._lock("group", group):
            return await self._group_members(group)

    async def _group_members(self, group: str) -> frozenset[str] | None:
        known = self._groups.get(group)
        if known is not None:
            return known
        try:
            answer = await self.client.usergroups_users_list(usergroup=group)
        except SlackApiError as exc:
            log.warning("slack_membership_unavailable", method="usergroups.users.list", error=_error(exc))
            return None
        found = frozenset(str(user) for user in answer.get("users") or () if isinstance(user, str))
        self._groups.put(group, found)
        return found

    async def is_member(self, user: str, channel: str) -> bool:
        members = await self.members_of(channel)
        return members is not None and user in members

    async def is_private(self, channel: str) -> bool:
        """Is the conversation private (or a DM)? When Slack cannot say, it is treated as private."""
        known = self._private.get(channel)
        if known is not None:
            return known
        try:
            answer = await self.client.conversations_info(channel=channel)
        except SlackApiError as exc:
            log.info("slack_channel_info_unavailable", channel=channel, error=_error(exc))
            return True
        info = answer.get("channel") or {}
        private = bool(
            not isinstance(info, dict)
            or info.get("is_private", True)
            or info.get("is_im")
            or info.get("is_mpim")
        )
        self._private.put(channel, private)
        return private

    async def _pages(
        self,
        method: str,
        call: Callable[[str | None], Awaitable[Any]],
        ids: Callable[[Any], list[str]],
    ) -> frozenset[str] | None:
        found: set[str] = set()
        cursor: str | None = None
        for _ in range(self.max_pages):
            try:
                answer = await call(cursor)
            except SlackApiError as exc:
                log.warning("slack_membership_unavailable", method=method, error=_error(exc))
                return None
            found.update(ids(answer))
            cursor = ((answer.get("response_metadata") or {}).get("next_cursor") or None)
            if not cursor:
                return frozenset(found)
        log.warning("slack_membership_truncated", method=method, pages=self.max_pages)
        return None


def _channel_ids(answer: Any) -> list[str]:
    return [str(c["id"]) for c in answer.get("channels") or () if isinstance(c, dict) and c.get("id")]


def _member_ids(answer: Any) -> list[str]:
    return [str(m) for m in answer.get("members") or () if isinstance(m, str)]


def _error(exc: SlackApiError) -> str:
    response: Any = exc.response
    try:
        return str(response.get("error") or "unknown_error")
    except AttributeError:
        return "unknown_error"
