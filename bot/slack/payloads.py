"""Pure parsing of Slack payloads: alert text from messages, what to triage, clicks and commands."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from bot.card import CATEGORIES, SEVERITIES
from bot.slack.actions import ACTION_CATEGORY, ACTION_CONFIRM, ACTION_SEVERITY, ORIGIN_BLOCK_PREFIX, VALUE_SEPARATOR
from bot.triage.markup import decode_markup

# Subtypes that are a new message with content; everything else (edits, joins, topics) is not an alert.
TRIAGED_SUBTYPES = frozenset({"bot_message", "file_share"})
HELP_WORDS = frozenset({"help", "-h", "--help", "?", "usage"})


@dataclass(frozen=True)
class BotIdentity:
    """Who we are in this workspace, from auth.test: our own messages are never triaged."""

    user_id: str | None = None
    bot_id: str | None = None


@dataclass(frozen=True)
class CardAction:
    """A click on a card: which triage, what kind, the new value (None for Confirm), who and where."""

    triage_id: str
    action: Literal["confirm", "severity", "category"]
    value: str | None
    user_id: str
    channel_id: str | None = None
    message_ts: str | None = None
    response_url: str | None = None


@dataclass(frozen=True)
class SlashCommand:
    """What `/triage <text>` asks for."""

    kind: Literal["usage", "help", "triage"]
    text: str = ""


def skip_reason(
    event: Mapping[str, Any], *, channels: Collection[str], identity: BotIdentity
) -> str | None:
    """Why a message event must not be triaged, or None when it should be."""
    if event.get("type") != "message":
        return "not a message"
    if event.get("channel") not in channels:
        return "not an alert channel"
    subtype = event.get("subtype")
    if subtype is not None and subtype not in TRIAGED_SUBTYPES:
        return f"subtype {subtype}"
    if event.get("hidden"):
        return "hidden message"
    if is_own_message(event, identity):
        return "own message"
    thread_ts = event.get("thread_ts")
    if thread_ts and thread_ts != event.get("ts"):
        return "thread reply"
    if not event.get("ts"):
        return "no ts"
    if not has_content(event):
        return "no text"
    return None


def has_content(event: Mapping[str, Any]) -> bool:
    """Could the message hold text? A constant-time look; alert_text reads it (after the duplicate check)."""
    text = event.get("text")
    if isinstance(text, str) and text.strip():
        return True
    return any(isinstance(event.get(key), list) and event.get(key) for key in ("attachments", "blocks"))


def is_own_message(event: Mapping[str, Any], identity: BotIdentity) -> bool:
    bot_id = event.get("bot_id") or (event.get("bot_profile") or {}).get("id")
    if identity.bot_id and bot_id == identity.bot_id:
        return True
    return bool(identity.user_id and event.get("user") == identity.user_id)


# Bounds on what one message can cost: a message is read up to this much text, this many parts, and this
# many elements visited, whatever it holds (an alert with 11,000 attachment fields is read in milliseconds).
MAX_TEXT_CHARS = 64_000
MAX_PART_CHARS = 16_000
MAX_PARTS = 1_000
MAX_ELEMENTS = 5_000
# A part is left out when one of the first few parts already contains it (a fallback repeating the text).
_CONTAINMENT_PARTS = 8


class _Parts:
    """Readable parts of a message, each once, within the bounds above (linear in what is visited)."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.ordered: list[str] = []
        self.keys: set[str] = set()
        self.size = 0
        self.visited = 0

    @property
    def full(self) -> bool:
        return self.size >= MAX_TEXT_CHARS or len(self.parts) >= MAX_PARTS or self.visited >= MAX_ELEMENTS

    def add(self, *candidates: Any) -> None:
        for candidate in candidates:
            self.visited += 1
            if self.full:
                return
            if not isinstance(candidate, str):
                continue
            text = unformat(candidate[:MAX_PART_CHARS]).strip()
            key = _norm(text)
            if not text or key in self.keys:
                continue
            if any(key in earlier for earlier in self.ordered[:_CONTAINMENT_PARTS]):
                continue
            self.parts.append(text)
            self.ordered.append(key)
            self.keys.add(key)
            self.size += len(text)


def alert_text(event: Mapping[str, Any]) -> str:
    """All readable text of a message: `text`, attachments and blocks, each part once, unformatted.

    Linear in the message and bounded (MAX_TEXT_CHARS, MAX_PARTS, MAX_ELEMENTS), so no message can hold up
    its own ack or anyone else's.
    """
    found = _Parts()
    found.add(event.get("text"))
    for attachment in _dicts(event.get("attachments")):
        if found.full:
            break
        found.add(*_attachment_parts(attachment))
    # A person's message carries its `text` twice: as mrkdwn and as rich_text blocks Slack derived it from.
    # Read once (from `text`), so the same words typed in a channel or sent over HTTP read the same.
    typed = bool(found.parts) and not (event.get("bot_id") or event.get("subtype"))
    for block in _dicts(event.get("blocks")):
        if found.full:
            break
        if not (typed and block.get("type") == "rich_text"):
            found.add(*_block_parts(block))
    return "\n".join(found.parts)[:MAX_TEXT_CHARS]


def unformat(text: str) -> str:
    """Slack mrkdwn to plain text: links, mentions and entities the way a human reads them."""
    return decode_markup(text)


def parse_card_action(body: Mapping[str, Any], action: Mapping[str, Any] | None = None) -> CardAction | None:
    """A block_actions payload (and one of its actions) as a CardAction; None if not ours or invalid."""
    if action is None:
        actions = _dicts(body.get("actions"))
        if not actions:
            return None
        action = actions[0]
    action_id = action.get("action_id")
    raw = action.get("value")
    if raw is None:
        raw = (action.get("selected_option") or {}).get("value")
    if not isinstance(raw, str) or not raw:
        return None
    triage_id, _, value = raw.partition(VALUE_SEPARATOR)
    kind: Literal["confirm", "severity", "category"]
    if action_id == ACTION_CONFIRM:
        kind, new = "confirm", None
    elif action_id == ACTION_SEVERITY and value in SEVERITIES:
        kind, new = "severity", value
    elif action_id == ACTION_CATEGORY and value in CATEGORIES:
        kind, new = "category", value
    else:
        return None
    user_id = (body.get("user") or {}).get("id")
    if not triage_id or not user_id:
        return None
    container = body.get("container") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
    message_ts = container.get("message_ts") or (body.get("message") or {}).get("ts")
    return CardAction(
        triage_id=triage_id,
        action=kind,
        value=new,
        user_id=user_id,
        channel_id=channel,
        message_ts=message_ts,
        response_url=body.get("response_url"),
    )


def requested_by(message: Mapping[str, Any] | None) -> str | None:
    """The user who ran /triage for a card, read back from the card's own blocks."""
    for block in _dicts((message or {}).get("blocks")):
        block_id = block.get("block_id")
        if isinstance(block_id, str) and block_id.startswith(ORIGIN_BLOCK_PREFIX):
            return block_id[len(ORIGIN_BLOCK_PREFIX) :] or None
    return None


def parse_command(text: str | None) -> SlashCommand:
    """`/triage` text: empty → usage, a help word → help, anything else → triage that text."""
    stripped = (text or "").strip()
    if not stripped:
        return SlashCommand("usage")
    if stripped.casefold() in HELP_WORDS:
        return SlashCommand("help")
    return SlashCommand("triage", unformat(stripped))


# -- text extraction helpers -------------------------------------------------------------------


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The dict items of a list, at most MAX_ELEMENTS of them."""
    if not isinstance(value, list):
        return []
    return [item for item in value[:MAX_ELEMENTS] if isinstance(item, dict)]


def _attachment_parts(attachment: Mapping[str, Any]) -> list[Any]:
    parts: list[Any] = [attachment.get("pretext"), attachment.get("author_name"), attachment.get("title")]
    parts.append(attachment.get("text"))
    for item in _dicts(attachment.get("fields")):
        title, value = item.get("title"), item.get("value")
        parts.append(f"{title}: {value}" if title and value else value or title)
    parts.append(attachment.get("footer"))
    for block in _dicts(attachment.get("blocks")):
        parts.extend(_block_parts(block))
    if not any(isinstance(part, str) and part.strip() for part in parts):
        parts.append(attachment.get("fallback"))
    return parts


def _block_parts(block: Mapping[str, Any]) -> list[Any]:
    kind = block.get("type")
    if kind in ("section", "header"):
        parts: list[Any] = [_text_of(block.get("text"))]
        parts.extend(_text_of(item) for item in _dicts(block.get("fields")))
        return parts
    if kind == "context":
        return [_text_of(item) for item in _dicts(block.get("elements"))]
    if kind == "rich_text":
        return ["\n".join(_rich_lines(_dicts(block.get("elements"))))]
    if kind == "markdown":
        return [block.get("text")]
    return []


def _text_of(obj: Any) -> str | None:
    if isinstance(obj, Mapping) and isinstance(obj.get("text"), str):
        return str(obj["text"])
    return None


def _rich_lines(elements: Iterable[Mapping[str, Any]]) -> list[str]:
    lines: list[str] = []
    for element in elements:
        kind = element.get("type")
        children = _dicts(element.get("elements"))
        if kind == "rich_text_list":
            lines.extend(f"- {line}" for line in _rich_lines(children))
        elif kind in ("rich_text_section", "rich_text_preformatted", "rich_text_quote"):
            lines.append("".join(_rich_inline(child) for child in children))
    return [line for line in lines if line.strip()]


def _rich_inline(element: Mapping[str, Any]) -> str:
    kind = element.get("type")
    if kind == "text":
        return str(element.get("text", ""))
    if kind == "link":
        # What the reader sees: the label; the target never becomes part of the text (see bot.triage.markup).
        url, label = str(element.get("url", "")), element.get("text")
        return str(label) if label else url
    if kind == "user":
        return f"@{element.get('user_id', '')}"
    if kind == "usergroup":
        return f"@{element.get('usergroup_id', '')}"
    if kind == "channel":
        return f"#{element.get('channel_id', '')}"
    if kind == "emoji":
        return f":{element.get('name', '')}:"
    if kind == "broadcast":
        return f"@{element.get('range', '')}"
    return ""
