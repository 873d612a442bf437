"""Socket Mode end to end: the fake Slack opens a WebSocket and pushes envelopes; cards still arrive."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl

import pytest

from bot.slack.actions import ACTION_CONFIRM
from bot.slack.listeners import build_slack_client
from bot.slack.socket import SocketModeUnavailable, run_socket_mode
from bot.wiring import Gateway
from tests.fakes import slack_requests as sr
from tests.fakes.slack import FakeSlack
from tests.gateway import GatewayFactory


@pytest.fixture
async def socket_gateway(gateways: GatewayFactory, fake_slack: FakeSlack) -> AsyncIterator[Gateway]:
    gateway = gateways.build(
        socket_mode=True,
        slack_bot_token="xoxb-test",
        slack_app_token="xapp-test",
        slack_api_url=fake_slack.base_url,
        alert_channels=["CALERT"],
    )
    assert gateway.slack_client is not None
    await gateway.start()
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(
        run_socket_mode(gateway.settings, gateway.service, gateway.store, gateway.slack_client,
                        intake=gateway.intake, stop=stop, ready=ready)
    )
    await asyncio.wait_for(ready.wait(), 10)
    await fake_slack.wait_for_async(lambda: fake_slack.socket_connections)
    yield gateway
    stop.set()
    await asyncio.wait_for(task, 10)
    await gateway.aclose()


async def test_command_event_and_click_over_socket_mode(socket_gateway: Gateway, fake_slack: FakeSlack) -> None:
    command = dict(parse_qsl(sr.slash_command("help")))
    envelope = fake_slack.socket_send("slash_commands", command)
    ack = await fake_slack.wait_for_async(lambda: fake_slack.socket_ack(envelope))
    assert "/triage <alert text>" in ack["payload"]["text"]

    body, _ = sr.message_event(user="U1", text="KafkaConsumerLag: orders group 2M messages behind", ts="17.5")
    envelope = fake_slack.socket_send("events_api", json.loads(body))
    await fake_slack.wait_for_async(lambda: fake_slack.socket_ack(envelope))
    posts = await fake_slack.wait_for_async(fake_slack.posts)
    assert posts[0].args["thread_ts"] == "17.5"

    card = fake_slack.message("CALERT", posts[0].response["ts"]) or {}
    action = sr.click(card["blocks"], ACTION_CONFIRM)
    form = dict(parse_qsl(sr.block_actions(action, message={"ts": card["ts"], "blocks": card["blocks"]})))
    payload = json.loads(form["payload"])
    envelope = fake_slack.socket_send("interactive", payload)
    await fake_slack.wait_for_async(lambda: fake_slack.socket_ack(envelope))
    await fake_slack.wait_for_async(lambda: fake_slack.calls_to("chat.update"))
    assert [row["action"] for row in socket_gateway.store.feedback_rows()] == ["confirm"]


async def test_socket_mode_needs_an_app_token(gateways: GatewayFactory, fake_slack: FakeSlack) -> None:
    gateway = gateways.build(socket_mode=True, slack_bot_token="xoxb-test", slack_api_url=fake_slack.base_url)
    client = build_slack_client(gateway.settings)
    with pytest.raises(SocketModeUnavailable):
        await run_socket_mode(gateway.settings, gateway.service, gateway.store, client, intake=gateway.intake)


async def test_stop_ends_socket_mode_while_slack_is_unreachable(gateways: GatewayFactory) -> None:
    gateway = gateways.build(socket_mode=True, slack_bot_token="xoxb-test", slack_app_token="xapp-test",
                             slack_api_url="http://127.0.0.1:9/api/")
    assert gateway.slack_client is not None
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_socket_mode(gateway.settings, gateway.service, gateway.store, gateway.slack_client,
                        intake=gateway.intake, stop=stop)
    )
    await asyncio.sleep(0.5)
    assert not task.done()  # still trying to connect
    stop.set()
    await asyncio.wait_for(task, 10)


async def test_message_shortcut_over_socket_mode(socket_gateway: Gateway, fake_slack: FakeSlack) -> None:
    message = {"ts": "18.25", "user": "U7", "text": "Redis OOM: evicted keys on cache-1, latency p99 4s"}
    payload = json.loads(dict(parse_qsl(sr.message_action(message, channel="CDEV")))["payload"])
    envelope = fake_slack.socket_send("interactive", payload)
    await fake_slack.wait_for_async(lambda: fake_slack.socket_ack(envelope))
    (post,) = await fake_slack.wait_for_async(fake_slack.posts)
    assert post.args["channel"] == "CDEV" and post.args["thread_ts"] == "18.25"
    assert "cache-1" in json.dumps(fake_slack.message("CDEV", post.response["ts"]))


async def test_modal_and_home_tab_over_socket_mode(socket_gateway: Gateway, fake_slack: FakeSlack) -> None:
    command = dict(parse_qsl(sr.slash_command("", channel="CDEV")))
    envelope = fake_slack.socket_send("slash_commands", command)
    await fake_slack.wait_for_async(lambda: fake_slack.socket_ack(envelope))
    (opened,) = await fake_slack.wait_for_async(lambda: fake_slack.calls_to("views.open", ok_only=True))
    view = json.loads(opened.args["view"]) if isinstance(opened.args["view"], str) else opened.args["view"]
    assert view["callback_id"] == "triage_modal"

    values = {"triage_text": {"text": {"type": "plain_text_input", "value": "OOMKilled: worker-3\nexit 137"}},
              "triage_channel": {"channel": {"type": "conversations_select", "selected_conversation": "COPS"}}}
    form = dict(parse_qsl(sr.view_submission({k: view[k] for k in ("type", "callback_id", "private_metadata")},
                                             values)))
    envelope = fake_slack.socket_send("interactive", json.loads(form["payload"]))
    await fake_slack.wait_for_async(lambda: fake_slack.socket_ack(envelope))
    (post,) = await fake_slack.wait_for_async(fake_slack.posts)
    assert post.args["channel"] == "COPS"

    empty = {"triage_text": {"text": {"type": "plain_text_input", "value": "  "}}}
    form = dict(parse_qsl(sr.view_submission({k: view[k] for k in ("type", "callback_id", "private_metadata")},
                                             empty)))
    envelope = fake_slack.socket_send("interactive", json.loads(form["payload"]))
    ack = await fake_slack.wait_for_async(lambda: fake_slack.socket_ack(envelope))
    assert ack["payload"]["response_action"] == "errors" and "triage_text" in ack["payload"]["errors"]

    envelope = fake_slack.socket_send("events_api", json.loads(sr.app_home_opened("U4")))
    await fake_slack.wait_for_async(lambda: fake_slack.socket_ack(envelope))
    (publish,) = await fake_slack.wait_for_async(lambda: fake_slack.calls_to("views.publish", ok_only=True))
    assert publish.args["user_id"] == "U4" and "worker-3" in str(publish.args["view"])
    assert len(fake_slack.posts()) == 1
