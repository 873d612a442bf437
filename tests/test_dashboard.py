"""The agreement dashboard: versions side by side, its figures, GET /report, and both pages in a real browser."""

from __future__ import annotations

import io
import json
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from bot.cli import main
from bot.dashboard import dashboard_page
from bot.evals.command import run_eval_command
from bot.report.figures import full_report
from bot.server import build_app
from bot.settings import Settings
from bot.store import SQLStore
from bot.wiring import build_gateway
from tests.browser import figures, render
from tests.servers import serve
from tests.test_evals import RecordingService, assert_self_contained_html
from tests.test_gate import EVALS, args
from tests.test_slack_blocks import make_result

DAY = 86400.0
NOW = time.time()
HOSTILE = '<script>alert("x")</script> & <img src=x onerror=alert(1)> disk full on db-7'
LIVE, CANDIDATE = ("gpt-4o-mini", "triage@live"), ("cand-model", "triage@cand")


def seed(db: str) -> None:
    """Two days of judged cards: a live version and a candidate that answered the same triages."""
    store = SQLStore.open(db)
    cards = [
        # id, day, live severity, candidate severity, human action, fingerprint, text
        ("a", 1, "P1", "P1", ("confirm", None), "fp-disk", "disk 91% on db-1"),
        ("b", 1, "P1", "P2", ("severity", "P2"), "fp-disk", "disk 85% on db-2"),
        ("c", 1, "P2", "P2", ("confirm", None), "fp-lag", "replica lag 30s"),
        ("d", 0, "P1", "P2", ("severity", "P2"), "fp-disk", HOSTILE),
        ("e", 0, "P3", "P3", ("severity", "P2"), "fp-cert", "certificate expires in 20 days"),
        ("f", 0, "P2", "P2", ("confirm", None), "fp-lag", "replica lag 45s"),
    ]
    for triage_id, days_ago, live, candidate, (action, value), fingerprint, text in cards:
        at = NOW - days_ago * DAY
        result = make_result(severity=live, meta={
            "triage_id": triage_id, "created_at": at, "source": "slack:channel", "fingerprint": fingerprint,
            "model": LIVE[0], "prompt_version": LIVE[1], "latency_ms": 800.0, "cost_usd": 0.0004,
        })
        store.record_triage(result, text)
        store.record_shadow({
            "triage_id": triage_id, "model": CANDIDATE[0], "prompt_version": CANDIDATE[1], "severity": candidate,
            "category": "data", "confidence": 0.8, "latency_ms": 1500.0, "cost_usd": 0.001, "created_at": at + 2,
            "result": "{}",
        })
        old = live if action == "severity" else None
        store.record_feedback(triage_id, "U1", action, old, value)
    # a live triage nobody judged, and a failed candidate run: neither is scored
    store.record_triage(make_result(meta={"triage_id": "g", "created_at": NOW, "source": "api"}), "x")
    store.record_shadow({"triage_id": "g", "model": CANDIDATE[0], "prompt_version": CANDIDATE[1],
                         "created_at": NOW, "error": "timeout: no answer", "cost_usd": 0.0})
    store.close()


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "triage.db")
    seed(path)
    return path


def read(db: str) -> dict[str, Any]:
    store = SQLStore.open(db)
    try:
        return full_report(store.triage_rows(), store.feedback_rows(), store.posted_ids(), store.shadow_rows())
    finally:
        store.close()


def test_versions_side_by_side_on_the_same_judged_cards(db: str) -> None:
    report = read(db)
    live, candidate = report["versions"]
    assert (live["role"], live["model"], live["prompt_version"]) == ("live", *LIVE)
    assert (candidate["role"], candidate["model"], candidate["prompt_version"]) == ("shadow", *CANDIDATE)
    assert live["judged"] == candidate["judged"] == 6
    # people: a P1, b P2, c P2, d P2, e P2, f P2
    assert live["agreement_severity"] == pytest.approx(3 / 6, abs=1e-4)
    assert candidate["agreement_severity"] == pytest.approx(5 / 6, abs=1e-4)
    assert live["agreement"] == live["agreement_severity"] and live["agreement_category"] == 1.0
    assert live["drift"]["more_severe"] == 2 and live["drift"]["less_severe"] == 1
    assert candidate["drift"]["less_severe"] == 1 and candidate["drift"]["moved_from_live"] == 2
    assert (live["cost_usd_per_card"], candidate["cost_usd_per_card"]) == (0.0004, 0.001)
    assert (live["latency_ms_p50"], candidate["latency_ms_p50"]) == (800.0, 1500.0)
    assert set(live) >= {"model", "prompt_version", "role", "judged", "agreement_severity", "agreement_category",
                         "agreement", "drift", "cost_usd_per_card", "latency_ms_p50"}
    # the existing keys keep their meaning
    assert (report["cards"], report["confirmed"], report["overridden"]) == (6, 3, 3)
    assert report["shadow_runs"] == {"recorded": 7, "errors": 1}


def test_dashboard_figures(db: str) -> None:
    report = read(db)
    assert report["severity_matrix"]["P1"] == {"P0": 0, "P1": 1, "P2": 2, "P3": 0}
    assert report["severity_matrix"]["P3"]["P2"] == 1
    top = report["overridden_identities"][0]
    assert (top["fingerprint"], top["overridden"], top["judged"], top["example"]) == ("fp-disk", 2, 3, HOSTILE)
    days = {(p["day"], p["role"]) for p in report["timeline"]}
    assert len(days) == 4  # two days, two versions
    assert sum(day["shadow_usd"] for day in report["cost_per_day"]) == pytest.approx(0.006)


def test_without_a_shadow_the_live_versions_use_every_judged_card() -> None:
    triages = [{"id": "a", "severity": "P1", "category": "data", "model": "m", "prompt_version": "v",
                "source": "slack:channel", "created_at": NOW}]
    feedback = [{"id": 1, "triage_id": "a", "action": "severity", "new_value": "P0", "created_at": NOW}]
    (live,) = full_report(triages, feedback, [], [])["versions"]
    assert (live["judged"], live["agreement"], live["drift"]["less_severe"]) == (1, 0.0, 1)


def test_the_page_is_self_contained_and_escapes_alert_text(db: str) -> None:
    page = dashboard_page(read(db))
    assert_self_contained_html(page)
    assert HOSTILE not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;img" in page
    assert page.count("<svg") >= 3


def test_get_report_is_behind_the_api_token(db: str) -> None:
    gateway = build_gateway(Settings(db_path=db, api_token=SecretStr("s3cret")))
    with serve(build_app(gateway)) as url:
        assert httpx.get(f"{url}/report").status_code == 401
        assert httpx.get(f"{url}/report", headers={"Authorization": "Bearer wrong"}).status_code == 401
        response = httpx.get(f"{url}/report", headers={"Authorization": "Bearer s3cret"})
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
        assert "Versions on the same judged cards" in response.text and HOSTILE not in response.text
        narrow = httpx.get(f"{url}/report?since=0.5", headers={"Authorization": "Bearer s3cret"})
        assert narrow.status_code == 200
        assert httpx.get(f"{url}/report?since=-1", headers={"Authorization": "Bearer s3cret"}).status_code == 422


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


def test_the_dashboard_renders_in_a_browser_with_the_figures_of_report_json(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("bot.cli.configure_logging", lambda *a, **k: None)
    monkeypatch.setenv("TRIAGE_DB", db)
    page = tmp_path / "dashboard.html"
    assert main(["report", "--json", "--html", str(page)]) == 0
    report = json.loads(capsys.readouterr().out)

    rendered = render(page)
    assert rendered["title"] == "Triage agreement"
    shown = figures(rendered)
    for index, version in enumerate(report["versions"]):
        for key in ("agreement_severity", "agreement_category", "agreement"):
            figure = shown[f"versions.{index}.{key}"]
            assert figure["visible"] and figure["text"] == _percent(version[key])
            assert float(figure["value"]) == version[key]
        assert shown[f"versions.{index}.judged"]["text"] == str(version["judged"])
        assert float(shown[f"versions.{index}.latency_ms_p50"]["value"]) == version["latency_ms_p50"]
    for card, humans in report["severity_matrix"].items():
        for human, count in humans.items():
            assert shown[f"severity_matrix.{card}.{human}"]["text"] == str(count)
    assert shown["overridden_identities.0.overridden"]["text"] == str(report["overridden_identities"][0]["overridden"])
    # the hostile example shows as text, and ran nothing
    assert HOSTILE in rendered["text"]
    charts = {chart["chart"]: chart for chart in rendered["charts"]}
    for name in ("versions", "timeline", "cost"):
        assert charts[name]["width"] > 300 and charts[name]["height"] > 40, charts[name]
        assert charts[name]["visible_marks"] >= 2, charts[name]
    # one point per day and version on the agreement line, each at the JSON figure
    assert charts["timeline"]["marks"] - charts["timeline"]["visible_marks"] == 0
    labels = " ".join(charts["versions"]["text"])
    for version in report["versions"]:
        assert _percent(version["agreement"]) in labels


def test_the_eval_page_renders_in_a_browser_with_the_figures_of_its_run(tmp_path: Path) -> None:
    def service() -> Any:
        return build_gateway(Settings(db_path=str(tmp_path / "eval.db"))).service

    out = tmp_path / "run"
    code = run_eval_command(args(files=[str(EVALS / "dev.jsonl")], engine="model", out=str(out)), service,
                            stdout=io.StringIO(), stderr=io.StringIO())
    assert code == 1  # no model configured: degraded, refused
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    rendered = render(out / "report.html")
    assert "DEGRADED 100.0 %" in rendered["title"]
    assert rendered["banner"] and "Degraded run: 100.0 % of cases" in rendered["banner"]
    shown = figures(rendered)
    for side in ("dev", "holdout"):
        for key in ("category_accuracy", "severity_accuracy", "both_correct"):
            figure = shown[f"split.{side}.{key}"]
            assert figure["visible"] and figure["text"] == _percent(run["split"][side][key])
    # the headline card beside the dev figure
    held = _percent(run["split"]["holdout"]["severity_accuracy"])
    assert f"{held}\nseverity accuracy · held-out" in rendered["text"]
    assert len([c for c in rendered["charts"] if c["visible_marks"]]) >= 4


def test_eval_page_for_dashboard(tmp_path: Path, db: str) -> None:
    out = tmp_path / "run"
    run_eval_command(args(files=[str(EVALS / "dev.jsonl")], out=str(out)), lambda: RecordingService(),
                     stdout=io.StringIO())
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    page = dashboard_page(read(db), eval_run=run)
    assert f'data-key="split.holdout.severity_accuracy" data-value="{run["split"]["holdout"]["severity_accuracy"]}"' \
        in page


def test_report_text_shows_the_versions_and_html_with_an_eval_run(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("bot.cli.configure_logging", lambda *a, **k: None)
    monkeypatch.setenv("TRIAGE_DB", db)
    assert main(["report"]) == 0
    text = capsys.readouterr().out
    assert "versions on the same judged cards" in text
    live_line = next(line for line in text.splitlines() if line.startswith("live "))
    shadow_line = next(line for line in text.splitlines() if line.startswith("shadow "))
    assert "cand-model" in shadow_line and "83%" in shadow_line and "50%" in live_line
    run_eval_command(args(files=[str(EVALS / "handwritten.jsonl")], out=str(tmp_path / "run")),
                     lambda: RecordingService(), stdout=io.StringIO())
    page = tmp_path / "d.html"
    assert main(["report", "--html", str(page), "--eval", str(tmp_path / "run")]) == 0
    assert "Offline evals: dev and held-out" in page.read_text(encoding="utf-8")
    assert main(["report", "--html", str(page), "--eval", str(tmp_path / "nowhere")]) == 2
    assert "--eval" in capsys.readouterr().err


# Text naming a URL is shown as text; the page check below looks for URLs the page itself would load.
_no_url = st.text(max_size=400).filter(lambda t: "://" not in t)


@settings(max_examples=60, deadline=None)
@given(text=_no_url, model=st.text(min_size=1, max_size=40).filter(lambda t: "://" not in t),
       prompt=st.text(min_size=1, max_size=40).filter(lambda t: "://" not in t))
def test_any_stored_text_is_escaped_on_the_page(text: str, model: str, prompt: str) -> None:
    triages = [{"id": "a", "severity": "P1", "category": "data", "model": model, "prompt_version": prompt,
                "source": "slack:channel", "created_at": NOW, "text": text, "fingerprint": text[:20]}]
    feedback = [{"id": 1, "triage_id": "a", "action": "severity", "new_value": "P2", "created_at": NOW}]
    shadows = [{"triage_id": "a", "model": prompt, "prompt_version": model, "severity": "P2", "category": "data",
                "created_at": NOW}]
    page = dashboard_page(full_report(triages, feedback, [], shadows))
    assert_self_contained_html(page)
    tags = Tags()
    tags.feed(page)
    # whatever the stored text held, the page has only the tags it writes itself, and shows the text as text
    assert tags.names <= PAGE_TAGS, tags.names - PAGE_TAGS
    assert text.strip()[:50].replace("\r", "\n") in "".join(tags.data).replace("\r", "\n") or not text.strip()


PAGE_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "div", "b", "span", "table",
             "thead", "tbody", "tr", "th", "td", "code", "svg", "text", "rect", "line", "circle", "polyline"}


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()
        self.data: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.names.add(tag)

    def handle_data(self, data: str) -> None:
        self.data.append(data)


def test_a_megabyte_of_blanks_as_an_example_text() -> None:
    triages = [{"id": "a", "severity": "P1", "category": "data", "source": "slack:channel", "created_at": NOW,
                "text": " " * 1_000_000}]
    feedback = [{"id": 1, "triage_id": "a", "action": "category", "new_value": "app", "created_at": NOW}]
    report = full_report(triages, feedback, [], [])
    assert len(report["overridden_identities"][0]["example"]) == 300
    assert_self_contained_html(dashboard_page(report))
