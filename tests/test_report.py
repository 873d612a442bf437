"""The agreement report: pure aggregation, and `triage-bot report` over a real database."""

from __future__ import annotations

import io
import json
import time
from typing import Any

from bot.cli import main
from bot.report.agreement import aggregate, report_json, verdict
from bot.report.command import run_report
from bot.settings import Settings
from bot.store import SQLStore
from tests.test_slack_blocks import make_result


def triage(tid: str, model: str | None = "gpt-4o-mini", prompt: str = "v3", **extra: Any) -> dict[str, Any]:
    row = {"id": tid, "severity": "P2", "category": "infra", "model": model, "prompt_version": prompt,
           "engine": "model" if model else "heuristic", "source": "slack:channel"}
    row.update(extra)
    return row


def fb(tid: str, action: str, new: str | None, n: int, user: str = "U1") -> dict[str, Any]:
    return {"id": n, "triage_id": tid, "user": user, "action": action, "new_value": new, "created_at": float(n)}


def test_verdict_folds_feedback_latest_override_wins() -> None:
    assert verdict(triage("a"), []) is None
    v = verdict(triage("a"), [fb("a", "severity", "P1", 1), fb("a", "severity", "P0", 2)])
    assert v is not None and v.overridden and v.final_severity == "P0" and not v.confirmed
    back = verdict(triage("a"), [fb("a", "severity", "P1", 1), fb("a", "severity", "P2", 2)])
    assert back is not None and not back.overridden
    confirmed = verdict(triage("a"), [fb("a", "confirm", "P2/infra", 1)])
    assert confirmed is not None and confirmed.confirmed and not confirmed.overridden


def test_aggregate_per_model_and_prompt_with_confusion() -> None:
    triages = [
        triage("a"), triage("b"), triage("c"), triage("d"),
        triage("h", model=None, prompt="heuristic"),
        triage("api", source="api"),  # never shown in Slack, no feedback: not a card
        triage("posted", source="alertmanager"),
    ]
    feedback = [
        fb("a", "confirm", "P2/infra", 1),
        fb("b", "severity", "P1", 2),
        fb("b", "confirm", "P1/infra", 3, user="U2"),
        fb("c", "category", "data", 4),
        fb("h", "confirm", "P2/infra", 5),
    ]
    groups = aggregate(triages, feedback, posted=["posted"])
    report = report_json(groups)
    assert (report["cards"], report["confirmed"], report["overridden"]) == (6, 2, 2)
    assert report["agreement"] == 0.5
    first, second = report["groups"]
    assert (first["model"], first["prompt_version"], first["cards"]) == ("gpt-4o-mini", "v3", 5)
    assert (first["confirmed"], first["overridden"], first["agreement"]) == (1, 2, 0.3333)
    assert first["severity_confusion"] == {"P2": {"P1": 1}}
    assert first["category_confusion"] == {"infra": {"data": 1}}
    assert (second["model"], second["agreement"]) == ("heuristic", 1.0)


def test_no_feedback_means_no_agreement_figure() -> None:
    report = report_json(aggregate([triage("a")], []))
    assert report["cards"] == 1 and report["agreement"] is None and report["groups"][0]["agreement"] is None


def test_report_command_reads_the_database(tmp_path: Any, monkeypatch: Any, capsys: Any) -> None:
    db = str(tmp_path / "t.db")
    store = SQLStore.open(db)
    old = make_result(meta={"triage_id": "old", "source": "slack:channel", "created_at": time.time() - 10 * 86400})
    new = make_result(meta={"triage_id": "new", "source": "slack:command", "created_at": time.time()})
    for result in (old, new):
        store.record_triage(result, "text")
    store.record_feedback("new", "U1", "severity", "P1", "P0")
    store.record_feedback("old", "U1", "confirm", None, "P1/data")
    store.close()

    out = io.StringIO()
    assert run_report(Settings(db_path=db), days=7, as_json=True, out=out) == 0
    report = json.loads(out.getvalue())
    assert (report["cards"], report["confirmed"], report["overridden"], report["agreement"]) == (1, 0, 1, 0.0)
    assert report["groups"][0]["severity_confusion"] == {"P1": {"P0": 1}}

    monkeypatch.setenv("TRIAGE_DB", db)
    # main() configures logging onto pytest's captured stream, which closes after this test.
    monkeypatch.setattr("bot.cli.configure_logging", lambda *args, **kwargs: None)
    assert main(["report"]) == 0
    text = capsys.readouterr().out
    assert "gpt-4o-mini" in text and "50%" in text and "severity changed: P1→P0 ×1" in text
