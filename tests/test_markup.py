"""One identity per alert on every entry point: Slack markup is read as a person sees it, exactly once."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.slack.payloads import alert_text, parse_command
from bot.triage.markup import decode_markup
from bot.triage.service import TriageService
from tests.fakes import slack_requests as sr
from tests.fakes.slack import FakeSlack
from tests.gateway import GatewayFactory
from tests.slack_harness import slack_app

MARKED_UP = (
    "<https://grafana.example/d/abc|High error rate> on checkout-api &amp; payments: 5xx at 12% "
    "<@U024BE7LH> <!here> see <#C0123|ops-alerts>"
)
SEEN = "High error rate on checkout-api & payments: 5xx at 12% @U024BE7LH @here see #ops-alerts"


def test_markup_becomes_what_a_person_sees() -> None:
    assert decode_markup(MARKED_UP) == SEEN
    assert decode_markup("<https://evil.example/x|click here> disk full") == "click here disk full"
    assert decode_markup("<https://status.example/incident/7>") == "https://status.example/incident/7"
    assert decode_markup("<@U1|bob> and <!subteam^S1|@db-oncall> and <!channel>") == "@bob and @db-oncall and @channel"
    assert decode_markup("a &amp;lt; b") == "a &lt; b"  # decoded once, as Slack escaped it once


def test_angle_brackets_that_are_not_slack_markup_stay() -> None:
    trace = 'File "<module>", line 1, in <lambda>\nMap<String, List<Integer>> at <init>'
    assert decode_markup(trace) == trace


def test_every_slack_entry_point_reads_the_same_text() -> None:
    event = {"type": "message", "text": MARKED_UP}
    assert alert_text(event) == SEEN
    assert parse_command(MARKED_UP).text == SEEN


@given(st.text(alphabet=st.sampled_from(list("<>|@#!&;amplgt:/hx ")), max_size=300) | st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_decoding_never_fails_and_drops_no_plain_words(text: str) -> None:
    out = decode_markup(text)
    assert isinstance(out, str)
    if "<" not in text and "&" not in text:
        assert out == text


def test_a_megabyte_of_hostile_text_decodes_in_linear_time() -> None:
    for hostile in (" " * 1_000_000, "<" * 1_000_000, "<https://" + "a" * 1_000_000, "<@U|" * 250_000,
                    "&amp;" * 200_000):
        began = time.perf_counter()
        decode_markup(hostile)
        assert time.perf_counter() - began < 2.0


def card_triage_id(card: dict[str, Any]) -> str:
    for block in card["blocks"]:
        if block.get("type") == "actions":
            return str(block["elements"][0]["value"]).split("|")[0]
    raise AssertionError("no actions block on the card")


def test_same_fingerprint_over_http_and_from_a_signed_channel_event(
    gateways: GatewayFactory, fake_slack: FakeSlack
) -> None:
    with slack_app(gateways, fake_slack) as app:
        http = httpx.Client(base_url=str(app.http.base_url), timeout=10)
        over_http = http.post("/v1/triage", json={"text": MARKED_UP}).json()
        as_seen = http.post("/v1/triage", json={"text": SEEN}).json()
        body, _ = sr.message_event(text=MARKED_UP)
        app.event(body)
        (post,) = app.posted(1)
        triage_id = card_triage_id(app.card(post))
        service: TriageService = app.gateway.service
        stored = service.store.get_triage(triage_id)
        assert stored is not None
        assert over_http["meta"]["fingerprint"] == as_seen["meta"]["fingerprint"] == stored.meta.fingerprint
        # The link's target is nowhere in what was read.
        assert "grafana.example" not in json.dumps(over_http) and "grafana.example" not in json.dumps(stored.summary)


def test_a_verdict_given_over_http_reaches_the_slack_card(gateways: GatewayFactory, fake_slack: FakeSlack) -> None:
    with slack_app(gateways, fake_slack, api_token="ops-token") as app:
        auth = {"Authorization": "Bearer ops-token"}
        http = httpx.Client(base_url=str(app.http.base_url), timeout=10, headers=auth)
        first = http.post("/v1/triage", json={"text": MARKED_UP}).json()
        severity = "P0" if first["severity"] != "P0" else "P1"
        verdict = {"verdict": "override", "severity": severity, "category": "security", "by": "alice"}
        answer = http.post(f"/v1/triage/{first['meta']['triage_id']}/feedback", json=verdict)
        assert answer.status_code == 200, answer.text
        body, _ = sr.message_event(text=MARKED_UP)
        app.event(body)
        (post,) = app.posted(1)
        card = app.card(post)
        stored = app.gateway.store.get_triage(card_triage_id(card))
        assert stored is not None
        assert stored.meta.precedent is not None and stored.meta.precedent.by == "alice"
        assert (stored.severity, stored.category) == (severity, "security")
        assert card["blocks"][0]["text"]["text"].split(" ")[1] == severity


def test_a_typed_message_reads_its_text_once_not_again_from_its_rich_text() -> None:
    # What Slack sends for a person's message: the mrkdwn text and the rich_text it was made from.
    event = {
        "type": "message", "user": "U1", "text": "*CRITICAL* <#C0123|ops> db-2 down &amp; <!subteam^S1|@dba>",
        "blocks": [{"type": "rich_text", "elements": [{"type": "rich_text_section", "elements": [
            {"type": "text", "text": "CRITICAL", "style": {"bold": True}}, {"type": "text", "text": " "},
            {"type": "channel", "channel_id": "C0123"}, {"type": "text", "text": " db-2 down & "},
            {"type": "usergroup", "usergroup_id": "S1"},
        ]}]}],
    }
    assert alert_text(event) == "*CRITICAL* #ops db-2 down & @dba"
