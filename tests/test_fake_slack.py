"""The fake Slack Web API itself: answers, recording, scripted failures, response_urls."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from tests.fakes.slack import FakeSlack


def client(fake: FakeSlack, retry_handlers: list[AsyncRetryHandler] | None = None) -> AsyncWebClient:
    return AsyncWebClient(token="xoxb-test", base_url=fake.base_url, retry_handlers=retry_handlers)


async def test_auth_test_and_recorded_calls(fake_slack: FakeSlack) -> None:
    assert fake_slack.base_url.endswith("/api/")
    answer = await client(fake_slack).auth_test()
    assert (answer["user_id"], answer["bot_id"]) == ("UBOT", "BBOT")
    (call,) = fake_slack.calls_to("auth.test")
    assert call.headers["Authorization"] == "Bearer xoxb-test"


async def test_post_update_and_message_state(fake_slack: FakeSlack) -> None:
    web = client(fake_slack)
    first = await web.chat_postMessage(channel="C1", text="one", blocks=[{"type": "divider"}])
    second = await web.chat_postMessage(channel="C1", text="two", thread_ts=first["ts"])
    assert float(second["ts"]) > float(first["ts"])
    (call, _) = fake_slack.posts()
    assert call.args["blocks"] == [{"type": "divider"}]
    await web.chat_update(channel="C1", ts=first["ts"], text="edited", blocks=[])
    assert (fake_slack.message("C1", first["ts"]) or {})["text"] == "edited"
    assert (fake_slack.message("C1", second["ts"]) or {})["thread_ts"] == first["ts"]
    with pytest.raises(SlackApiError) as error:
        await web.chat_update(channel="C1", ts="1.0", text="x")
    assert error.value.response["error"] == "message_not_found"


async def test_scripted_errors_and_channel_errors(fake_slack: FakeSlack) -> None:
    web = client(fake_slack)
    fake_slack.fail("chat.postMessage", "not_in_channel")
    with pytest.raises(SlackApiError) as error:
        await web.chat_postMessage(channel="C1", text="x")
    assert error.value.response["error"] == "not_in_channel"
    assert (await web.chat_postMessage(channel="C1", text="x"))["ok"]
    fake_slack.channel_errors["CPRIV"] = "channel_not_found"
    with pytest.raises(SlackApiError):
        await web.chat_postMessage(channel="CPRIV", text="x")


async def test_rate_limit_is_retried_by_the_sdk_handler(fake_slack: FakeSlack) -> None:
    fake_slack.rate_limit("chat.postMessage", times=2, retry_after=0)
    web = client(fake_slack, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=3)])
    assert (await web.chat_postMessage(channel="C1", text="x"))["ok"]
    assert [c.status for c in fake_slack.calls_to("chat.postMessage")] == [429, 429, 200]
    assert len(fake_slack.posts()) == 1


async def test_response_url_is_recorded(fake_slack: FakeSlack) -> None:
    hook = AsyncWebhookClient(fake_slack.response_url("abc"))
    answer = await hook.send(text="hi", response_type="in_channel")
    assert answer.status_code == 200
    found = await fake_slack.wait_for_async(lambda: fake_slack.responses_to("abc"))
    assert found[0].body == {"text": "hi", "response_type": "in_channel"}


def test_wait_for_fails_at_the_deadline(fake_slack: FakeSlack) -> None:
    with pytest.raises(AssertionError, match="not met"):
        fake_slack.wait_for(lambda: False, timeout=0.05)


async def test_missing_token_is_not_authed(fake_slack: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as error:
        await AsyncWebClient(base_url=fake_slack.base_url).chat_postMessage(channel="C1", text="x")
    assert error.value.response["error"] == "not_authed"
