"""Incident memory over HTTP: verdicts through POST /v1/triage/{id}/feedback become precedents."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bot.server import build_app
from bot.wiring import Gateway
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.gateway import GatewayFactory
from tests.servers import serve

DISK = "[FIRING:1] NodeFilesystemAlmostFull (db-7 /var) | filesystem has 12% space left"
DISK_OTHER_VALUE = "[FIRING:1] NodeFilesystemAlmostFull (db-7 /var) | filesystem has 4% space left"
UNRELATED = "Traceback (most recent call last):\n  File \"billing/tasks.py\", line 112\nKeyError: 'total'"
TOKEN = "t0ken"


class Api:
    def __init__(self, gateway: Gateway, http: httpx.Client) -> None:
        self.gateway, self.http = gateway, http

    def triage(self, text: str, **extra: Any) -> dict[str, Any]:
        response = self.http.post("/v1/triage", json={"text": text, **extra})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def verdict(self, triage_id: str, **body: Any) -> httpx.Response:
        return self.http.post(f"/v1/triage/{triage_id}/feedback", json=body)


@pytest.fixture
def api(gateways: GatewayFactory) -> Iterator[Api]:
    gateway = gateways.build(api_token=TOKEN)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with serve(build_app(gateway)) as url, httpx.Client(base_url=url, headers=headers, timeout=10) as http:
        yield Api(gateway, http)


def test_an_override_decides_later_cards_of_the_same_incident(api: Api) -> None:
    first = api.triage(DISK)
    assert first["meta"]["precedent"] is None and first["meta"]["similar"] == []
    judged_id = first["meta"]["triage_id"]
    response = api.verdict(judged_id, verdict="override", severity="P0", category="data", by="bob")
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["triage_id"] == judged_id and answer["fingerprint"] == first["meta"]["fingerprint"]
    precedent = answer["precedent"]
    assert {k: precedent[k] for k in ("triage_id", "verdict", "severity", "category", "by")} == {
        "triage_id": judged_id, "verdict": "override", "severity": "P0", "category": "data", "by": "bob",
    }
    assert isinstance(precedent["at"], float)
    assert precedent["origin"] == "http"  # given over HTTP: `by` is a name, never a Slack mention

    for text in (DISK, DISK_OTHER_VALUE):
        card = api.triage(text)
        assert (card["severity"], card["category"]) == ("P0", "data")
        assert card["meta"]["precedent"] == precedent
        assert card["meta"]["needs_review"] is False
        similar = card["meta"]["similar"]
        assert similar[0]["triage_id"] == judged_id and similar[0]["verdict"] == "override"
        assert (similar[0]["severity"], similar[0]["category"], similar[0]["by"]) == ("P0", "data", "bob")
        assert set(similar[0]) == {"triage_id", "at", "severity", "category", "verdict", "by", "summary"}
        assert card["meta"]["triage_id"] not in {s["triage_id"] for s in similar}


def test_a_precedent_never_crosses_identities(api: Api) -> None:
    unrelated_before = api.triage(UNRELATED)
    judged = api.triage(DISK)
    assert api.verdict(judged["meta"]["triage_id"], verdict="override", severity="P0", by="bob").status_code == 200
    after = api.triage(UNRELATED)
    assert after["meta"]["precedent"] is None
    assert (after["severity"], after["category"]) == (unrelated_before["severity"], unrelated_before["category"])


def test_the_latest_verdict_on_an_identity_wins(api: Api) -> None:
    one = api.triage(DISK)["meta"]["triage_id"]
    two = api.triage(DISK_OTHER_VALUE)["meta"]["triage_id"]
    assert api.verdict(one, verdict="override", severity="P0", by="ann").status_code == 200
    assert api.verdict(two, verdict="override", severity="P3", category="infra", by="bob").status_code == 200
    card = api.triage(DISK)
    assert (card["severity"], card["category"], card["meta"]["precedent"]["triage_id"]) == ("P3", "infra", two)
    assert api.verdict(one, verdict="override", severity="P1", by="ann").status_code == 200
    card = api.triage(DISK)
    assert card["severity"] == "P1" and card["meta"]["precedent"]["triage_id"] == one


def test_confirm_makes_the_card_as_shown_the_precedent(api: Api) -> None:
    first = api.triage(DISK)
    answer = api.verdict(first["meta"]["triage_id"], verdict="confirm", by="U0BOB").json()
    assert answer["precedent"]["verdict"] == "confirm"
    assert (answer["precedent"]["severity"], answer["precedent"]["category"]) == (first["severity"], first["category"])
    assert api.triage(DISK_OTHER_VALUE)["meta"]["precedent"] == answer["precedent"]


def test_a_repeated_verdict_is_idempotent(api: Api) -> None:
    triage_id = api.triage(DISK)["meta"]["triage_id"]
    body = {"verdict": "override", "severity": "P0", "category": "app", "by": "bob"}
    first, second = api.verdict(triage_id, **body), api.verdict(triage_id, **body)
    assert first.status_code == second.status_code == 200 and first.json() == second.json()
    confirm = api.verdict(triage_id, verdict="confirm", by="carol")
    assert api.verdict(triage_id, verdict="confirm", by="carol").json() == confirm.json()
    actions = [row["action"] for row in api.gateway.store.feedback_for(triage_id)]
    assert sorted(actions) == ["category", "confirm", "severity"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"verdict": "override", "by": "bob"}, "severity or a category"),
        ({"verdict": "override", "severity": "P9", "by": "bob"}, "severity"),
        ({"verdict": "override", "category": "network", "by": "bob"}, "category"),
        ({"verdict": "maybe", "by": "bob"}, "verdict"),
        ({"verdict": "confirm"}, "by"),
        ({"verdict": "confirm", "by": "   "}, "by"),
        ({"verdict": "confirm", "severity": "P0", "by": "bob"}, "override"),
    ],
)
def test_a_bad_verdict_is_422_with_a_reason(api: Api, body: dict[str, Any], reason: str) -> None:
    triage_id = api.triage(DISK)["meta"]["triage_id"]
    response = api.verdict(triage_id, **body)
    assert response.status_code == 422 and reason in response.json()["error"]
    assert api.gateway.store.feedback_for(triage_id) == []


def test_unknown_triage_is_404_and_the_token_is_required(api: Api) -> None:
    response = api.verdict("nope", verdict="confirm", by="bob")
    assert response.status_code == 404 and "nope" in response.json()["error"]
    triage_id = api.triage(DISK)["meta"]["triage_id"]
    url = f"{api.http.base_url}/v1/triage/{triage_id}/feedback"
    anonymous = httpx.post(url, json={"verdict": "confirm", "by": "x"})
    assert anonymous.status_code == 401


def test_the_cache_never_serves_a_card_people_have_since_corrected(
    gateways: GatewayFactory, fake_openai: FakeOpenAI
) -> None:
    fake_openai.default = Reply.card(severity="P2", category="infra")
    gateway = gateways.build(fake_openai, api_token=TOKEN)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with serve(build_app(gateway)) as url, httpx.Client(base_url=url, headers=headers, timeout=10) as http:
        api = Api(gateway, http)
        first = api.triage(DISK)
        again = api.triage(DISK)
        assert again["meta"]["cached"] is True and fake_openai.calls == 1
        assert api.verdict(first["meta"]["triage_id"], verdict="override", severity="P0", by="bob").status_code == 200
        corrected = api.triage(DISK)
        assert (corrected["severity"], corrected["category"]) == ("P0", "infra")
        assert corrected["meta"]["engine"] == "model" and corrected["meta"]["cached"] is False
        # The model was asked again, with the judged incident as an example in the prompt.
        assert fake_openai.calls == 2
        prompt = fake_openai.requests[-1]["json"]["messages"][-1]["content"]
        assert "<<<EXAMPLE severity=P0 category=infra verdict=corrected same_incident=yes" in prompt
        assert corrected["meta"]["prompt_version"] == first["meta"]["prompt_version"]
        # From now on the corrected answer is the cached one, with the human's labels.
        cached = api.triage(DISK)
        assert cached["meta"]["cached"] is True and cached["severity"] == "P0" and fake_openai.calls == 2
        # The model said P2 again, but the people's severity stands on every engine.
        heuristic = api.triage(DISK_OTHER_VALUE, engine="heuristic")
        assert heuristic["severity"] == "P0" and heuristic["meta"]["precedent"]["by"] == "bob"


CRITICAL = "[FIRING:1] PostgresDown instance=pg-3:9187 job=postgres severity=critical | Postgres is down"


def test_a_verdict_below_the_alerts_own_label_is_kept_and_said(api: Api) -> None:
    first = api.triage(CRITICAL)
    assert first["severity"] in ("P0", "P1")
    assert api.verdict(first["meta"]["triage_id"], verdict="override", severity="P3", by="bob").status_code == 200
    later = api.triage(CRITICAL)
    assert later["severity"] == "P3"
    assert later["meta"]["precedent"]["below_label"] == "P1"
    assert later["meta"]["needs_review"] is True
    # A verdict the label allows says nothing more.
    assert api.verdict(first["meta"]["triage_id"], verdict="override", severity="P1", by="bob").status_code == 200
    agreed = api.triage(CRITICAL)
    assert "below_label" not in agreed["meta"]["precedent"] and agreed["meta"]["needs_review"] is False


def test_verdicts_over_http_need_the_api_token(gateways: GatewayFactory) -> None:
    gateway = gateways.build()
    with serve(build_app(gateway)) as url, httpx.Client(base_url=url, timeout=10) as http:
        triaged = http.post("/v1/triage", json={"text": DISK}).json()
        refused = http.post(f"/v1/triage/{triaged['meta']['triage_id']}/feedback",
                            json={"verdict": "override", "severity": "P3", "by": "mallory"})
        assert refused.status_code == 403 and "TRIAGE_API_TOKEN" in refused.json()["error"]
        assert http.post(f"/v1/triage/{triaged['meta']['triage_id']}/feedback", content=b"{").status_code == 403
        assert http.post("/v1/triage", json={"text": DISK}).json()["meta"]["precedent"] is None


def test_a_wrong_token_is_refused_with_401(api: Api) -> None:
    first = api.triage(DISK)
    response = api.http.post(f"/v1/triage/{first['meta']['triage_id']}/feedback",
                             json={"verdict": "confirm", "by": "x"}, headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
