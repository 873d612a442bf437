"""Requests exactly as Slack sends them: signed slash commands, event callbacks and block_actions."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

SECRET = "test-signing-secret"
TEAM = "T0001"
APP = "A0001"

_ids = itertools.count(1)


def signed_headers(
    body: str, content_type: str, *, secret: str = SECRET, timestamp: int | None = None
) -> dict[str, str]:
    """Headers Slack adds: `v0=` HMAC-SHA256 of `v0:{ts}:{body}` and the timestamp it signed."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body) or ""
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}


def slash_command(
    text: str, *, channel: str = "CALERT", user: str = "U1", response_url: str = "http://127.0.0.1:9/r"
) -> str:
    """The form-encoded body of `/triage <text>`."""
    return urlencode(
        {
            "token": "legacy-verification-token",
            "team_id": TEAM,
            "team_domain": "fake",
            "channel_id": channel,
            "channel_name": "alerts",
            "user_id": user,
            "user_name": "ann",
            "command": "/triage",
            "text": text,
            "api_app_id": APP,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": f"{next(_ids)}.1.abc",
        }
    )


def message_event(event_id: str | None = None, **event: Any) -> tuple[str, str]:
    """An event_callback body for a message event; returns (body, event_id)."""
    event_id = event_id or f"Ev{next(_ids):08d}"
    fields: dict[str, Any] = {"type": "message", "channel": "CALERT", "channel_type": "channel"}
    fields.update(event)
    fields.setdefault("ts", f"{time.time():.6f}")
    fields.setdefault("event_ts", fields["ts"])
    envelope = {
        "token": "legacy-verification-token",
        "team_id": TEAM,
        "api_app_id": APP,
        "event": fields,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "authorizations": [
            {"enterprise_id": None, "team_id": TEAM, "user_id": "UBOT", "is_bot": True, "is_enterprise_install": False}
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-{event_id}",
    }
    return json.dumps(envelope), event_id


def block_actions(
    action: dict[str, Any],
    *,
    user: str = "U2",
    channel: str = "CALERT",
    message: dict[str, Any] | None = None,
    response_url: str = "http://127.0.0.1:9/r",
) -> str:
    """The form-encoded body (one field, `payload`) of a click on a message's interactive element."""
    message = message or {"ts": "0.0", "blocks": []}
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM},
        "api_app_id": APP,
        "token": "legacy-verification-token",
        "container": {"type": "message", "message_ts": message["ts"], "channel_id": channel, "is_ephemeral": False},
        "trigger_id": f"{next(_ids)}.1.def",
        "team": {"id": TEAM, "domain": "fake"},
        "channel": {"id": channel, "name": "alerts"},
        "message": {"type": "message", "user": "UBOT", "bot_id": "BBOT", **message},
        "response_url": response_url,
        "actions": [{**action, "action_ts": f"{time.time():.6f}"}],
    }
    return urlencode({"payload": json.dumps(payload)})


def click(card_blocks: list[dict[str, Any]], action_id: str, value: str | None = None) -> dict[str, Any]:
    """The `actions[0]` Slack sends for a click on a card: the button, or a select's chosen option."""
    for block in card_blocks:
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if element["action_id"] != action_id:
                continue
            base = {"action_id": action_id, "block_id": block["block_id"], "type": element["type"]}
            if element["type"] == "button":
                return {**base, "value": element["value"], "text": element["text"]}
            option = next(o for o in element["options"] if o["value"].endswith(f"|{value}"))
            return {**base, "selected_option": option, "placeholder": element["placeholder"]}
    raise AssertionError(f"no {action_id} on the card")
