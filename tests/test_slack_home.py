"""The Home tab end to end: app_home_opened in, views.publish of the person's cards, agreement and incidents."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from bot.report.agreement import Group, Verdict
from bot.slack import home
from bot.slack.actions import ACTION_CONFIRM, ACTION_SEVERITY
from bot.slack.mrkdwn import escape
from tests.fakes import slack_requests as sr
from tests.fakes.slack import Call, FakeSlack
from tests.gateway import GatewayFactory
from tests.slack_harness import SlackApp, slack_app


@pytest.fixture
def app(gateways: GatewayFactory, fake_slack: FakeSlack) -> Iterator[SlackApp]:
    with slack_app(gateways, fake_slack) as served:
        yield served


def published(app: SlackApp, count: int = 1) -> list[dict[str, Any]]:
    def enough() -> list[Call]:
        found = app.slack.calls_to("views.publish", ok_only=True)
        return found if len(found) >= count else []

    calls = app.slack.wait_for(enough)
    views = []
    for call in calls:
        view = call.args["view"]
        views.append({"user_id": call.args["user_id"], **(json.loads(view) if isinstance(view, str) else view)})
    return views


def text_of(view: dict[str, Any]) -> str:
    return json.dumps(view["blocks"], ensure_ascii=False)


def click(app: SlackApp, post: Any, action_id: str, value: str | None = None, user: str = "U2") -> None:
    card = app.card(post)
    action = sr.click(card["blocks"], action_id, value)
    message = {"ts": card["ts"], "blocks": card["blocks"], "text": card["text"]}
    app.interact(sr.block_actions(action, message=message, user=user, channel=post.response["channel"]))


def test_home_of_someone_new_says_what_will_appear(app: SlackApp) -> None:
    app.event(sr.app_home_opened("U5"))
    (view,) = published(app)
    assert view["user_id"] == "U5" and view["type"] == "home"
    text = text_of(view)
    assert "Your recent cards" in text and "No cards yet" in text
    assert "No verdicts this week" in text and "No open incidents" in text


def test_home_shows_my_cards_with_verdicts_the_weeks_agreement_and_open_incidents(app: SlackApp) -> None:
    # a card I asked for with the shortcut, which someone else then corrected
    message = {"ts": "1700000100.000200", "user": "U7", "text": "Customer reports checkout fails with HTTP 500"}
    app.interact(sr.message_action(message, channel="CSUPPORT", user="U3"))
    (mine,) = app.posted(1)
    app.slack.wait_for(lambda: app.gateway.store.message_card("CSUPPORT", "1700000100.000200"))
    click(app, mine, ACTION_SEVERITY, "P0", user="U2")
    # an alert-channel incident, which I confirmed
    app.event(sr.message_event(user="U1", text="Disk /var on db-2 at 97% and rising", ts="1700000200.000100")[0])
    _, alert = app.posted(2)
    click(app, alert, ACTION_CONFIRM, user="U3")
    app.slack.wait_for(lambda: len(app.gateway.store.feedback_rows()) == 2)

    app.event(sr.app_home_opened("U3"))
    (view,) = published(app)
    text = text_of(view)
    assert view["user_id"] == "U3" and view["type"] == "home"
    store = app.gateway.store
    mine_id, alert_id = (store.triage_at(p.response["channel"], p.response["ts"]) for p in (mine, alert))
    for triage_id in (mine_id, alert_id):
        result = store.get_triage(str(triage_id))
        assert result is not None and json.dumps(escape(result.summary.splitlines()[0][:100]))[1:-1] in text
    assert "corrected: severity P1 → P0" in text and ":white_check_mark: confirmed" in text
    assert f"p{mine.response['ts'].replace('.', '')}|open card" in text
    assert "`heuristic` · prompt `heuristic`: *50%* agreement (1 confirmed, 1 corrected, 2 cards)" in text
    incidents = text[text.index("Open incidents"):]
    assert "<#CALERT>" in incidents and "seen once" in incidents
    assert f"p{alert.response['ts'].replace('.', '')}|open card" in incidents
    assert len(view["blocks"]) <= 100


def test_only_the_home_tab_gets_a_view(app: SlackApp) -> None:
    app.event(sr.app_home_opened("U5", tab="messages"))
    app.event(sr.app_home_opened("U6"))
    (view,) = published(app)
    assert view["user_id"] == "U6"
    assert len(app.slack.calls_to("views.publish")) == 1


def test_a_refused_publish_is_logged_not_raised(app: SlackApp) -> None:
    app.slack.fail("views.publish", "not_enabled")
    app.event(sr.app_home_opened("U5"))
    app.slack.wait_for(lambda: app.slack.calls_to("views.publish"))
    app.event(sr.app_home_opened("U5"))
    published(app)  # the next one goes through: nothing got stuck


# -- pure view -------------------------------------------------------------------------------------


def test_a_busy_home_stays_within_slacks_block_limit_and_escapes_text() -> None:
    cards = [home.HomeCard("P1", "app", "<!channel> *boom* & more\nsecond line", 1.7e9 + n, channel="C1")
             for n in range(60)]
    incidents = [home.HomeIncident("P2", "data", "x", 3, 1.7e9, "C2", link="https://s/p1") for _ in range(60)]
    groups = [Group("m", "v1", cards=4, confirmed=3, overridden=1), Group("n", "v2", cards=2)]
    view = home.home_view(home.HomeData("U1", 1.7e9, cards, groups, incidents))
    assert view["type"] == "home" and len(view["blocks"]) <= 100
    text = text_of(view)
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text and "second line" not in text
    assert "`m` · prompt `v1`: *75%* agreement (3 confirmed, 1 corrected, 4 cards)" in text
    assert "`n`" not in text  # no verdicts, no agreement to show


def test_verdict_words() -> None:
    assert "no verdict" in home.verdict_words(None)
    assert home.verdict_words(Verdict("P2", "app", "P2", "app", True)) == ":white_check_mark: confirmed"
    both = home.verdict_words(Verdict("P2", "app", "P1", "data", False))
    assert both == ":pencil2: corrected: severity P2 → P1, category app → data"
