"""Operator basics: settings that cannot mislead, the CLI's version and help, metrics, the Makefile, the deploy
files, and cards and the Home tab that show the labels people set."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bot.card import TriageMeta, TriageResult
from bot.cli import main, parser
from bot.observability import version
from bot.settings import ConfigError, Settings, without_blanks
from bot.slack.card import card_message
from bot.slack.card_state import CardState, FeedbackNote
from bot.wiring import build_openai_client
from tests.fakes import slack_requests as sr
from tests.fakes.slack import FakeSlack
from tests.gateway import GatewayFactory
from tests.servers import serve
from tests.slack_harness import slack_app

ROOT = Path(__file__).resolve().parents[1]
DISK = "Disk /var on db-2 at 97% and rising"


# --- settings -------------------------------------------------------------------------------------


def test_a_blank_value_is_unset_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    example = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            name, _, value = line.partition("=")
            example[name] = value
    assert example["OPENAI_BASE_URL"] == ""
    settings = Settings.from_env(example)  # a copied .env.example is valid as it is
    assert settings.openai_base_url is None and settings.database_url is None
    # The openai client reads OPENAI_BASE_URL itself when given none: it is always given one.
    monkeypatch.setenv("OPENAI_BASE_URL", "")
    client = build_openai_client(Settings(openai_api_key=SecretStr("k")))
    assert str(client.base_url).startswith("https://api.openai.com/v1")
    assert without_blanks({"OPENAI_BASE_URL": " ", "TRIAGE_DB": "x", "HOME": ""}) == {"TRIAGE_DB": "x", "HOME": ""}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TRIAGE_LOG_LEVEL", "bogus"),
        ("TRIAGE_DATABASE_POOL", "0"),
        ("TRIAGE_DATABASE_POOL", "many"),
        ("TRIAGE_DATABASE_TIMEOUT", "-1"),
        ("OPENAI_BASE_URL", "localhost:8000"),
        ("SLACK_API_URL", "slack.com/api"),
        ("TRIAGE_MODEL_FAST", " "),
        ("TRIAGE_DEADLINE", "soon"),
    ],
)
def test_a_bad_setting_is_refused_naming_its_variable(name: str, value: str) -> None:
    env = {name: value}
    if value.strip() == "":
        # blank is unset: nothing to refuse
        assert Settings.from_env(env)
        return
    with pytest.raises(ConfigError, match=f"^{name}: "):
        Settings.from_env(env)


def test_the_cli_stops_on_a_bad_setting(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TRIAGE_LOG_LEVEL", "bogus")
    assert main(["triage", "x"]) == 2
    assert "TRIAGE_LOG_LEVEL" in capsys.readouterr().err


def test_the_pool_size_reaches_the_postgres_pool(pg_server: str, gateways: GatewayFactory) -> None:
    from tests import pg

    with pg.fresh_database(pg_server) as url:
        gateway = gateways.build(database_url=url, database_pool=3)
        assert gateway.store.inner.engine.pool.size() == 3  # type: ignore[attr-defined]


# --- command line -----------------------------------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"triage-bot {version()}"
    assert version() == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_every_option_has_help() -> None:
    def walk(p: argparse.ArgumentParser, where: str) -> list[str]:
        missing = []
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    missing += walk(child, f"{where} {name}")
            elif not action.help:
                missing.append(f"{where} {'/'.join(action.option_strings) or action.dest}")
        return missing

    assert walk(parser(), "triage-bot") == []


def test_make_run_takes_a_port() -> None:
    def dry(*args: str) -> str:
        return subprocess.run(["make", "-n", "-W", "pyproject.toml", "run", *args], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout

    assert "--port 8080" in dry()
    assert "--port 9000" in dry("PORT=9000")


def test_pyproject_license_is_an_spdx_expression() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
    assert "Apache License" in (ROOT / "LICENSE").read_text()[:200]
    assert "END OF TERMS AND CONDITIONS" in (ROOT / "LICENSE").read_text()


# --- deploy files -----------------------------------------------------------------------------------


def test_the_image_runs_unprivileged_with_a_health_check_and_pinned_dependencies() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert re.search(r"^USER (?!root|0\b)\S+", dockerfile, re.M)
    assert re.search(r"^HEALTHCHECK (?:.*\\\n)*.*/readyz", dockerfile, re.M)
    assert "-c deploy/constraints.txt" in dockerfile
    assert "COPY prompts" not in dockerfile  # prompts ship inside the package
    ignore = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignore and ".git" in ignore and ".env" in ignore


def test_the_constraints_pin_every_dependency() -> None:
    pins = {
        line.split("==")[0].strip().lower().replace("_", "-")
        for line in (ROOT / "deploy" / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        name = re.split(r"[<>=\[;! ]", requirement, maxsplit=1)[0].lower().replace("_", "-")
        assert name in pins, name


def test_compose_waits_on_health() -> None:
    compose = (ROOT / "deploy" / "compose.yml").read_text()
    assert compose.count("condition: service_healthy") >= 3  # replicas on postgres, proxy on each replica
    assert "/readyz" in compose and "pg_isready" in compose


# --- metrics -------------------------------------------------------------------------------------------


def test_http_requests_are_counted_by_route_template_and_status(gateways: GatewayFactory) -> None:
    gateway = gateways.build(api_token="secret")
    from bot.server import build_app

    with serve(build_app(gateway)) as url, httpx.Client(base_url=url) as http:
        auth = {"authorization": "Bearer secret"}
        triage_id = http.post("/v1/triage", json={"text": DISK}, headers=auth).json()["meta"]["triage_id"]
        http.post(f"/v1/triage/{triage_id}/feedback", json={"verdict": "confirm", "by": "ann"}, headers=auth)
        http.post("/v1/triage", json={"text": DISK})  # 401, refused before routing
        http.get("/no/such/path")
        http.get("/readyz")
        text = http.get("/metrics").text
    assert 'triage_http_requests_total{method="POST",route="/v1/triage",status="200"} 1.0' in text
    assert 'triage_http_requests_total{method="POST",route="/v1/triage",status="401"} 1.0' in text
    assert 'route="/v1/triage/{triage_id}/feedback",status="200"' in text
    assert 'route="unmatched",status="404"' in text
    assert triage_id not in text  # never the raw path
    assert 'triage_http_request_duration_seconds_count{method="GET",route="/readyz"} 1.0' in text
    assert 'triage_build_info{python="' in text and f'version="{version()}"' in text
    assert "triage_database_up 1.0" in text


def test_every_metric_is_in_the_readme(gateways: GatewayFactory) -> None:
    readme = (ROOT / "README.md").read_text()
    registry = gateways.build().metrics.registry
    for metric in registry.collect():
        name = metric.name + ("_total" if metric.type == "counter" else "")
        name = name + "_info" if metric.type == "info" else name
        assert f"`{name}`" in readme, name


# --- a card that agrees with itself ---------------------------------------------------------------


def result(severity: str = "P2", category: str = "infra") -> TriageResult:
    return TriageResult(
        category=category, severity=severity,  # type: ignore[arg-type]
        summary=f"Disk almost full on db-2\nWhere: db-2\nSeverity {severity} ({category}) because the disk is at 97 %",
        steps=["Check free space on db-2", "Free space safely", "Add capacity"], confidence=0.7,
        meta=TriageMeta(triage_id="t1", engine="heuristic", prompt_version="heuristic", fingerprint="f"),
    )


def test_after_corrections_every_line_says_the_set_labels_and_the_text_stays_short() -> None:
    notes = tuple(
        FeedbackNote(f"U{i}", "severity" if i % 2 else "category", "P2" if i % 2 else "infra",
                     "P1" if i % 2 else "app")
        for i in range(17)
    )
    message = card_message(result(), CardState(feedback=notes))
    # What the card states (header, summary, steps), apart from the history of clicks and the selects' options.
    stated = json.dumps([b for b in message["blocks"] if b["type"] in ("header", "section")], ensure_ascii=False)
    assert "P2" not in stated and "(infra)" not in stated and "Infrastructure" not in stated
    assert "Severity P1 (app) as corrected on this card" in stated
    one = card_message(result(), CardState(feedback=notes[:1]))["text"]
    assert len(message["text"]) <= len(one) + 20 and len(message["text"]) <= 300


def test_a_precedent_restates_the_summary(gateways: GatewayFactory) -> None:
    gateway = gateways.build(api_token="ops-token")
    from bot.server import build_app

    auth = {"Authorization": "Bearer ops-token"}
    with serve(build_app(gateway)) as url, httpx.Client(base_url=url, headers=auth) as http:
        first = http.post("/v1/triage", json={"text": DISK}).json()
        new = "P0" if first["severity"] != "P0" else "P1"
        verdict = {"verdict": "override", "severity": new, "category": "app", "by": "ann"}
        assert http.post(f"/v1/triage/{first['meta']['triage_id']}/feedback", json=verdict).status_code == 200
        again = http.post("/v1/triage", json={"text": DISK}).json()
    assert (again["severity"], again["category"]) == (new, "app")
    stated = [line for line in again["summary"].splitlines() if re.search(r"\bP[0-3]\b", line)]
    assert stated and all(new in line and "(app)" in line for line in stated), again["summary"]


# --- the Home tab ---------------------------------------------------------------------------------


def test_home_shows_the_labels_people_set(gateways: GatewayFactory, fake_slack: FakeSlack) -> None:
    with slack_app(gateways, fake_slack) as app:
        app.event(sr.message_event(user="U1", text=DISK, ts="1700000200.000100")[0])
        (post,) = app.posted(1)
        card = app.card(post)
        original = app.gateway.store.get_triage(
            str(next(b for b in card["blocks"] if b["type"] == "actions")["elements"][0]["value"])
        )
        assert original is not None
        new = "P0" if original.severity != "P0" else "P3"
        for action_id, value in (("triage_severity", new), ("triage_category", "security")):
            action = sr.click(card["blocks"], action_id, value)
            message = {"ts": card["ts"], "blocks": card["blocks"], "text": card["text"]}
            app.interact(sr.block_actions(action, message=message, user="U3", channel=post.response["channel"]))
        app.slack.wait_for(lambda: len(app.gateway.store.feedback_rows()) == 2)
        app.event(sr.app_home_opened("U3"))
        view = app.slack.wait_for(lambda: app.slack.calls_to("views.publish", ok_only=True))[0].args["view"]
        blocks: Any = json.loads(view)["blocks"] if isinstance(view, str) else view["blocks"]
        text = json.dumps(blocks, ensure_ascii=False)
    incidents = text[text.index("Open incidents"):]
    mine = text[text.index("Your recent cards"):text.index("Agreement this week")]
    assert f"{new} · Security" in incidents, incidents
    assert f"{new} · Security" in mine, mine
    assert f"{original.severity} · " not in incidents
