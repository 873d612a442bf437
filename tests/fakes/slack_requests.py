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


def message_action(
    message: dict[str, Any],
    *,
    channel: str = "CSUPPORT",
    user: str = "U3",
    callback_id: str = "triage_message",
    response_url: str = "http://127.0.0.1:9/r",
) -> str:
    """The form-encoded body of a message shortcut ("Triage this message" in a message's menu)."""
    message = {"type": "message", "ts": f"{time.time():.6f}", **message}
    payload = {
        "type": "message_action",
        "token": "legacy-verification-token",
        "action_ts": f"{time.time():.6f}",
        "team": {"id": TEAM, "domain": "fake"},
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM},
        "channel": {"id": channel, "name": "support"},
        "is_enterprise_install": False,
        "enterprise": None,
        "callback_id": callback_id,
        "trigger_id": f"{next(_ids)}.1.ghi",
        "response_url": response_url,
        "message_ts": message["ts"],
        "message": message,
    }
    return urlencode({"payload": json.dumps(payload)})


def view_submission(
    view: dict[str, Any], values: dict[str, dict[str, dict[str, Any]]], *, user: str = "U4"
) -> str:
    """The form-encoded body Slack sends when a modal is submitted; `values` is view.state.values."""
    payload = {
        "type": "view_submission",
        "team": {"id": TEAM, "domain": "fake"},
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM},
        "api_app_id": APP,
        "token": "legacy-verification-token",
        "trigger_id": f"{next(_ids)}.1.jkl",
        "view": {
            "id": "V000001",
            "team_id": TEAM,
            "app_id": APP,
            "bot_id": "BBOT",
            "hash": "1.abc",
            "previous_view_id": None,
            "root_view_id": "V000001",
            **view,
            "state": {"values": values},
        },
        "response_urls": [],
        "is_enterprise_install": False,
    }
    return urlencode({"payload": json.dumps(payload)})


def app_home_opened(user: str = "U5", *, tab: str = "home") -> str:
    """The event_callback body Slack sends when someone opens the app's Home tab."""
    event_id = f"Ev{next(_ids):08d}"
    envelope = {
        "token": "legacy-verification-token",
        "team_id": TEAM,
        "api_app_id": APP,
        "event": {
            "type": "app_home_opened",
            "user": user,
            "channel": "D0HOME",
            "tab": tab,
            "event_ts": f"{time.time():.6f}",
        },
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "authorizations": [
            {"enterprise_id": None, "team_id": TEAM, "user_id": "UBOT", "is_bot": True, "is_enterprise_install": False}
        ],
    }
    return json.dumps(envelope)
