"""Incident memory in Slack: signed clicks on cards become precedents that later cards show and obey."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx
import pytest

from bot.server import build_app
from bot.slack.actions import ACTION_CONFIRM, ACTION_SEVERITY
from tests.fakes import slack_requests as sr
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.fakes.slack import FakeSlack
from tests.gateway import GatewayFactory
from tests.servers import serve
from tests.test_slack_scenarios import Harness, card_text

DISK = "[FIRING:1] NodeFilesystemAlmostFull (db-7 /var) | filesystem has 12% space left"
DISK_AGAIN = "[FIRING:1] NodeFilesystemAlmostFull (db-7 /var) | filesystem has 3% space left"


TOKEN = "t0ken"


@pytest.fixture
def slack(gateways: GatewayFactory, fake_slack: FakeSlack, fake_openai: FakeOpenAI) -> Iterator[Harness]:
    fake_openai.default = Reply.card(severity="P2", category="infra")
    gateway = gateways.build(
        fake_openai,
        slack_bot_token="xoxb-test",
        slack_signing_secret=sr.SECRET,
        slack_api_url=fake_slack.base_url,
        alert_channels=["CALERT"],
        api_token=TOKEN,
    )
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with serve(build_app(gateway)) as url, httpx.Client(base_url=url, headers=headers, timeout=10) as http:
        yield Harness(gateway, fake_slack, fake_openai, http)


def test_a_severity_click_decides_the_next_card_of_the_incident_with_a_link_back(slack: Harness) -> None:
    slack.command(DISK, user="U9")
    (judged,) = slack.cards(1)
    slack.click(judged, ACTION_SEVERITY, "P0", user="U2")
    slack.slack.wait_for(lambda: slack.slack.calls_to("chat.update"))
    judged_id = slack.triages()[0]["id"]

    slack.command(DISK_AGAIN, user="U9")
    _, card = slack.cards(2)
    assert card["blocks"][0]["text"]["text"].startswith(":rotating_light: P0")
    text = card_text(card)
    line = re.search(r":bookmark: P0 · infra as corrected by <@U2> on \d{1,2} \w{3} · <([^|]+)\|judged card>", text)
    assert line is not None, text
    (permalink,) = slack.slack.calls_to("chat.getPermalink")
    assert (permalink.args["channel"], permalink.args["message_ts"]) == ("CALERT", judged["ts"])
    assert line.group(1) == permalink.response["permalink"]
    assert "Seen before: P0 · infra, corrected by <@U2>" in text

    # The link is asked of Slack once per verdict, then remembered.
    slack.command(DISK_AGAIN, user="U9")
    slack.cards(3)
    assert len(slack.slack.calls_to("chat.getPermalink")) == 1
    rows = {row["id"]: row for row in slack.triages()}
    assert len(rows) == 3 and rows[judged_id]["severity"] == "P2"
    assert all(row["severity"] == "P0" for key, row in rows.items() if key != judged_id)
    assert slack.gateway.store.verdict_of(judged_id)["by"] == "U2"  # type: ignore[index]


def test_an_alert_channel_card_carries_the_precedent_of_a_confirmed_card(slack: Harness) -> None:
    slack.command(DISK, user="U9")
    (judged,) = slack.cards(1)
    slack.click(judged, ACTION_CONFIRM, user="U3")
    slack.slack.wait_for(lambda: slack.slack.calls_to("chat.update"))
    slack.event(user="U1", text=DISK_AGAIN, ts="1700000001.000100")
    _, card = slack.cards(2)
    assert card["thread_ts"] == "1700000001.000100"
    assert ":bookmark: P2 · infra as confirmed by <@U3> on" in card_text(card)


EVIL_BY = "U1> <!channel> <https://evil.example/rotate|Rotate your credentials here"


def test_an_author_given_over_http_pings_nobody_and_links_nowhere(slack: Harness) -> None:
    slack.command(DISK, user="U9")
    (card,) = slack.cards(1)
    triage_id = slack.triages()[0]["id"]
    response = slack.http.post(
        f"/v1/triage/{triage_id}/feedback", json={"verdict": "override", "severity": "P3", "by": EVIL_BY}
    )
    assert response.status_code == 200, response.text
    assert response.json()["precedent"]["by"] == EVIL_BY  # recorded as given
    slack.slack.wait_for(lambda: slack.slack.calls_to("chat.update"))
    updated = slack.message(card["channel"], card["ts"])
    assert updated is not None
    for shown in (json.dumps(updated["blocks"]), updated["text"]):
        assert "<!channel>" not in shown and "<https://evil" not in shown and "<@U1>" not in shown
        assert "&lt;!channel&gt;" in shown
    # The next card of the identity names the author in its precedent line, as plain text too.
    slack.command(DISK, user="U9")
    second = slack.cards(2)[-1]
    text = json.dumps(second["blocks"]) + second["text"]
    assert "as corrected by U1&gt; &lt;!channel&gt;" in text
    assert "<!channel>" not in text and "<https://evil" not in text


def test_a_verdict_over_http_redraws_the_posted_card(slack: Harness) -> None:
    slack.command(DISK, user="U9")
    (card,) = slack.cards(1)
    triage_id = slack.triages()[0]["id"]
    response = slack.http.post(
        f"/v1/triage/{triage_id}/feedback", json={"verdict": "override", "category": "data", "by": "U0ANN"}
    )
    assert response.status_code == 200, response.text
    slack.slack.wait_for(lambda: slack.slack.calls_to("chat.update"))
    updated = slack.message(card["channel"], card["ts"])
    # Shaped like a user id, but given over HTTP: shown as given, never as a mention that pings U0ANN.
    assert "Category changed infra → data by U0ANN" in card_text(updated)
    assert "<@U0ANN>" not in card_text(updated)
    assert "Requested by <@U9> with /triage" in card_text(updated)
    assert response.json()["precedent"]["origin"] == "http"
    # A repeat stores nothing and redraws nothing.
    again = slack.http.post(
        f"/v1/triage/{triage_id}/feedback", json={"verdict": "override", "category": "data", "by": "U0ANN"}
    )
    assert again.json() == response.json() and len(slack.slack.calls_to("chat.update")) == 1
    # The next card of the incident names the author the same way, on its precedent and "Seen before" lines.
    slack.command(DISK_AGAIN, user="U9")
    later = card_text(slack.cards(2)[-1])
    assert re.search(r":bookmark: P2 · data as corrected by U0ANN on \d{1,2} \w{3}", later), later
    assert "Seen before: P2 · data, corrected by U0ANN" in later
    assert "<@U0ANN>" not in later
    # A click in Slack on that later card still mentions its author, and only the click's author.
    slack.click(slack.cards(2)[-1], ACTION_CONFIRM, user="U2")
    slack.slack.wait_for(lambda: len(slack.slack.calls_to("chat.update")) >= 2)
    clicked = card_text(slack.message(card["channel"], slack.cards(2)[-1]["ts"]))
    assert "Confirmed by <@U2>" in clicked and "<@U0ANN>" not in clicked


def test_a_slack_click_and_an_http_verdict_on_one_card_are_shown_each_as_it_came(slack: Harness) -> None:
    slack.command(DISK, user="U9")
    (card,) = slack.cards(1)
    triage_id = slack.triages()[0]["id"]
    slack.click(card, ACTION_SEVERITY, "P0", user="U2")
    slack.slack.wait_for(lambda: slack.slack.calls_to("chat.update"))
    response = slack.http.post(
        f"/v1/triage/{triage_id}/feedback", json={"verdict": "override", "category": "data", "by": "U0ANN"}
    )
    assert response.status_code == 200, response.text
    slack.slack.wait_for(lambda: len(slack.slack.calls_to("chat.update")) >= 2)
    text = card_text(slack.message(card["channel"], card["ts"]))
    assert "Severity changed P2 → P0 by <@U2>" in text
    assert "Category changed infra → data by U0ANN" in text and "<@U0ANN>" not in text
    origins = [(row["user"], row["origin"]) for row in slack.gateway.store.feedback_for(triage_id)]
    assert origins == [("U2", "slack"), ("U0ANN", "http")]
