"""Eval harness: case parsing, step actionability, scoring, drift, the command, and the HTML report."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from bot.card import TriageMeta, TriageResult
from bot.evals.cases import (
    Case,
    CaseResult,
    EvalError,
    confusion,
    is_imperative,
    load_cases,
    parse_cases,
    percentile,
    result_from,
    step_issues,
    summarise,
)
from bot.evals.command import evaluate, read_run, run_document, run_eval_command
from bot.evals.drift import severity_drift
from bot.evals.pages.drift import drift_report
from bot.evals.pages.run import run_report
from bot.settings import Settings
from bot.triage.heuristics import heuristic_card
from bot.wiring import build_gateway

EVALS = Path(__file__).resolve().parents[1] / "evals"
GOOD_STEPS = ["Check the pod logs", "Roll back the last deploy", "Confirm the error rate falls"]


def case_line(
    case_id: str, text: str = "x", category: list[str] | None = None, severity: list[str] | None = None
) -> str:
    return json.dumps(
        {"id": case_id, "source": "t", "text": text,
         "expected": {"category": category or ["app"], "severity": severity or ["P2"]}, "note": ""}
    )


def make_case(case_id: str, text: str, category: tuple[str, ...] = ("app",), severity: tuple[str, ...] = ("P2",),
              file: str = "cases.jsonl") -> Case:
    return Case(case_id, file, "t", text, category, severity)


def make_result(case_id: str, category: str, severity: str, *, expected_category: tuple[str, ...] = ("app",),
                expected_severity: tuple[str, ...] = ("P2",), latency: float = 1.0, cost: float = 0.0,
                file: str = "cases.jsonl", steps: tuple[str, ...] = tuple(GOOD_STEPS)) -> CaseResult:
    return CaseResult(
        id=case_id, file=file, expected_categories=expected_category, expected_severities=expected_severity,
        category=category, severity=severity, confidence=0.8, summary="what\nwhere\nhow bad", steps=steps,
        schema_valid=True, step_issues=tuple(step_issues(steps)), engine="heuristic", latency_ms=latency,
        cost_usd=cost,
    )


def triage_result(category: str = "app", severity: str = "P2", steps: list[str] | None = None) -> TriageResult:
    meta = TriageMeta(triage_id="t1", engine="model", model="gpt-test", prompt_version="v9", fingerprint="f",
                      latency_ms=12.5, cost_usd=0.0004)
    return TriageResult(category=category, severity=severity, summary="a\nb", steps=steps or GOOD_STEPS,  # type: ignore[arg-type]
                        confidence=0.7, meta=meta)


class RecordingService:
    """A stand-in for TriageService that answers with the heuristic card and records every call."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[tuple[str, str, str | None]] = []
        self.fail_on = fail_on
        self.closed = False

    async def triage(self, raw: str, *, source: str = "api", engine: str | None = None) -> TriageResult:
        self.calls.append((raw, source, engine))
        if self.fail_on is not None and self.fail_on in raw:
            raise RuntimeError("boom")
        card = heuristic_card(raw)
        meta = TriageMeta(triage_id=str(len(self.calls)), engine="heuristic", prompt_version="heuristic",
                          fingerprint="f", latency_ms=float(len(self.calls)), needs_review=card.confidence < 0.5)
        return TriageResult(**card.model_dump(), meta=meta)

    async def aclose(self) -> None:
        self.closed = True


# --- cases -------------------------------------------------------------------------------------------
def test_parse_cases_reads_jsonl_and_skips_blank_lines() -> None:
    cases = parse_cases([case_line("a", category=["infra", "app"], severity=["P0", "P1"]), "", case_line("b")], "f")
    assert [case.id for case in cases] == ["a", "b"]
    assert cases[0].categories == ("infra", "app")
    assert cases[0].severities == ("P0", "P1")
    assert cases[0].file == "f"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "f:1: not a case line"),
        (json.dumps({"id": "a", "text": "x"}), "f:1: not a case line"),
        (case_line("a", category=["weather"]), "expected.category"),
        (case_line("a", severity=["P7"]), "expected.severity"),
        (json.dumps({"id": "a", "text": "x", "expected": {"category": [], "severity": ["P1"]}}), "expected.category"),
    ],
)
def test_parse_cases_rejects_bad_lines_with_their_place(line: str, message: str) -> None:
    with pytest.raises(EvalError, match=message):
        parse_cases([line], "f")


def test_parse_cases_rejects_duplicate_ids() -> None:
    with pytest.raises(EvalError, match="f:2: duplicate id"):
        parse_cases([case_line("a"), case_line("a")], "f")


def test_load_cases_reports_missing_files(tmp_path: Path) -> None:
    with pytest.raises(EvalError, match="cannot read"):
        load_cases([tmp_path / "missing.jsonl"])
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(EvalError, match="no cases"):
        load_cases([empty])


def test_the_repository_eval_files_load() -> None:
    cases = load_cases(sorted(EVALS.glob("*.jsonl")))
    assert len(cases) >= 127 + 105 + 25


# --- steps -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "step",
    ["Check the pod logs", "Roll back the last deploy", "`kubectl rollout undo deploy/api`", "Uncordon node-3",
     "Drain the node, then replace it"],
)
def test_imperative_steps(step: str) -> None:
    assert is_imperative(step)


@pytest.mark.parametrize(
    "step",
    ["The database is slow", "Checking the logs", "Maybe restart it", "It crashed", "Restarted the pod", "42", ""],
)
def test_not_imperative_steps(step: str) -> None:
    assert not is_imperative(step)


@pytest.mark.parametrize(
    ("steps", "issue"),
    [
        (["Check a", "Check b"], "2 steps instead of 3"),
        (["Check a", "", "Check c"], "an empty step"),
        (["Check a", "check A", "Check c"], "steps repeat each other"),
        (["Check a", "TODO", "Check c"], "step 2 has placeholder text"),
        (["Check <host>", "Check b", "Check c"], "step 1 has placeholder text"),
        (["Check a", "Check b", "N/A"], "step 3 has placeholder text"),
        (["Check {target}", "Check b", "Check c"], "step 1 has placeholder text"),
        (["Check a", "The disk is full", "Check c"], "step 2 is not an instruction"),
    ],
)
def test_step_issues(steps: list[str], issue: str) -> None:
    assert issue in step_issues(steps)


def test_good_steps_have_no_issues() -> None:
    assert step_issues(GOOD_STEPS) == []


def test_every_heuristic_playbook_is_actionable() -> None:
    for case in load_cases(sorted(EVALS.glob("*.jsonl"))):
        assert step_issues(heuristic_card(case.text).steps) == [], case.id


# --- scoring -----------------------------------------------------------------------------------------
def test_percentile_nearest_rank() -> None:
    assert percentile([], 50) == 0.0
    assert percentile([5.0], 95) == 5.0
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0


def test_confusion_diagonal_holds_the_correct_predictions() -> None:
    results = [
        make_result("a", "app", "P2"),
        make_result("b", "infra", "P2", expected_category=("app", "infra")),
        make_result("c", "data", "P1"),
    ]
    matrix = confusion(results, "category")
    assert matrix["app"]["app"] == 1
    assert matrix["infra"]["infra"] == 1
    assert matrix["app"]["data"] == 1
    correct = sum(matrix[name][name] for name in matrix)
    assert correct == sum(result.category_ok for result in results)


def test_summarise_figures() -> None:
    results = [
        make_result("a", "app", "P2", latency=1.0, cost=0.001, file="one.jsonl"),
        make_result("b", "app", "P1", latency=3.0, cost=0.003, file="one.jsonl"),
        make_result("c", "infra", "P2", latency=10.0, file="two.jsonl", steps=("Check a", "TODO", "Check c")),
    ]
    summary = summarise(results)
    assert summary["cases"] == 3
    assert summary["schema_valid"] == 1.0
    assert summary["category_accuracy"] == pytest.approx(2 / 3, abs=1e-4)
    assert summary["severity_accuracy"] == pytest.approx(2 / 3, abs=1e-4)
    assert summary["actionability"] == pytest.approx(2 / 3, abs=1e-4)
    assert summary["step_issues"] == {"a step has placeholder text": 1, "a step is not an instruction": 1}
    assert summary["latency_ms"] == {"p50": 3.0, "p95": 10.0, "max": 10.0}
    assert summary["cost_usd"]["total"] == pytest.approx(0.004)
    assert summary["by_file"]["one.jsonl"] == {"cases": 2, "category_accuracy": 1.0, "severity_accuracy": 0.5}
    assert summary["engines"] == {"heuristic": 3}


def test_result_from_scores_a_service_answer() -> None:
    case = make_case("a", "text", ("app",), ("P1", "P2"))
    scored = result_from(case, triage_result("app", "P2"))
    assert scored.schema_valid and scored.category_ok and scored.severity_ok and scored.actionable
    assert (scored.engine, scored.model, scored.prompt_version) == ("model", "gpt-test", "v9")
    assert scored.cost_usd == pytest.approx(0.0004)


def test_result_from_catches_an_answer_that_breaks_the_schema() -> None:
    broken = TriageResult.model_construct(
        category="app", severity="P2", summary="", steps=["Check a"], confidence=3.0, meta=triage_result().meta
    )
    scored = result_from(make_case("a", "text"), broken)
    assert not scored.schema_valid
    assert not scored.actionable


# --- drift -------------------------------------------------------------------------------------------
def _run(results: list[CaseResult]) -> dict[str, Any]:
    return run_document(results, engine="heuristic", files=["cases.jsonl"], created_at=0.0, wall_seconds=0.1)


def test_severity_drift_counts_moves_levels_and_direction() -> None:
    before = _run([
        make_result("a", "app", "P2"), make_result("b", "app", "P3"), make_result("c", "app", "P1"),
        make_result("d", "app", "P2"), make_result("only-a", "app", "P2"),
    ])
    after = _run([
        make_result("a", "app", "P2"), make_result("b", "app", "P1"), make_result("c", "infra", "P2"),
        make_result("d", "app", "P0"), make_result("only-b", "app", "P2"),
    ])
    drift = severity_drift(before, after)
    assert drift["common_cases"] == 4
    assert drift["moved"] == 3
    assert drift["more_severe"] == 2  # b P3->P1 (+2), d P2->P0 (+2)
    assert drift["less_severe"] == 1  # c P1->P2 (-1)
    assert drift["by_levels"] == {"+2": 2, "-1": 1}
    assert drift["max_levels"] == 2
    assert drift["became_right"] == 1  # c: P2 is acceptable
    assert drift["became_wrong"] == 1  # d: P0 is not
    assert drift["category_changed"] == 1
    assert (drift["only_in_a"], drift["only_in_b"]) == (1, 1)
    assert [item["id"] for item in drift["cases"]][:2] == ["b", "d"]


def test_severity_drift_matches_by_id_when_file_names_differ() -> None:
    before = _run([make_result("a", "app", "P2", file="old.jsonl")])
    after = _run([make_result("a", "app", "P1", file="new.jsonl")])
    assert severity_drift(before, after)["moved"] == 1


def test_read_run_accepts_a_file_or_its_directory(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text(json.dumps(_run([make_result("a", "app", "P2")])), encoding="utf-8")
    assert read_run(tmp_path)["cases"][0]["id"] == "a"
    assert read_run(tmp_path / "run.json")["cases"][0]["id"] == "a"
    (tmp_path / "bad.json").write_text("{}", encoding="utf-8")
    with pytest.raises(EvalError, match="not a run file"):
        read_run(tmp_path / "bad.json")


# --- running through a service -----------------------------------------------------------------------
async def test_evaluate_calls_the_service_like_the_gateway_does() -> None:
    service = RecordingService(fail_on="explode")
    cases = [make_case("a", "MySQL down"), make_case("b", "please explode"), make_case("c", "Redis down")]
    results = await evaluate(service, cases, engine="heuristic", concurrency=3)
    assert [result.id for result in results] == ["a", "b", "c"]
    assert {call[1] for call in service.calls} == {"eval"}
    assert {call[2] for call in service.calls} == {"heuristic"}
    assert results[1].error == "RuntimeError: boom"
    assert not results[1].schema_valid
    assert results[0].schema_valid and results[2].schema_valid


async def test_evaluate_through_the_real_service(tmp_path: Path) -> None:
    gateway = build_gateway(Settings(db_path=str(tmp_path / "eval.db")))
    try:
        cases = load_cases([EVALS / "handwritten.jsonl"])
        results = await evaluate(gateway.service, cases, engine="heuristic")
    finally:
        await gateway.aclose()
    summary = summarise(results)
    assert summary["schema_valid"] == 1.0
    assert summary["engines"] == {"heuristic": len(cases)}
    assert summary["category_accuracy"] >= 0.9


def _args(**overrides: Any) -> argparse.Namespace:
    values: dict[str, Any] = {"files": [], "engine": "heuristic", "json": False, "out": None, "compare": None}
    values.update(overrides)
    return argparse.Namespace(**values)


def test_eval_command_json(tmp_path: Path) -> None:
    cases = tmp_path / "cases.jsonl"
    cases.write_text(case_line("a", "MySQL instance is down", ["data"], ["P1"]) + "\n", encoding="utf-8")
    out = io.StringIO()
    service = RecordingService()
    code = run_eval_command(_args(files=[str(cases)], json=True), lambda: service, stdout=out)
    assert code == 0
    payload = json.loads(out.getvalue())
    assert {"cases", "schema_valid", "category_accuracy", "severity_accuracy"} <= payload.keys()
    assert payload["cases"] == 1
    assert payload["category_accuracy"] == 1.0
    assert service.closed  # an object with aclose() is closed after the run


def test_eval_command_writes_a_run_and_a_report_then_compares(tmp_path: Path) -> None:
    cases = tmp_path / "cases.jsonl"
    cases.write_text(
        "\n".join([case_line("a", "MySQL instance is down", ["data"], ["P1"]),
                   case_line("b", "Kafka consumer lag growing", ["data"], ["P2", "P3"])]),
        encoding="utf-8",
    )

    @contextlib.asynccontextmanager
    async def factory() -> AsyncIterator[RecordingService]:
        yield RecordingService()

    out = io.StringIO()
    assert run_eval_command(_args(files=[str(cases)], out=str(tmp_path / "a")), factory, stdout=out) == 0
    assert "category accuracy" in out.getvalue()
    run = json.loads((tmp_path / "a" / "run.json").read_text(encoding="utf-8"))
    assert [case["id"] for case in run["cases"]] == ["a", "b"]
    assert (tmp_path / "a" / "report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")

    # a second run where one case moved
    run["cases"][1]["severity"] = "P1"
    run["cases"][1]["severity_ok"] = False
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "run.json").write_text(json.dumps(run), encoding="utf-8")
    out = io.StringIO()
    args = _args(compare=[str(tmp_path / "a"), str(tmp_path / "b")], json=True, out=str(tmp_path / "drift"))
    assert run_eval_command(args, lambda: RecordingService(), stdout=out) == 0
    drift = json.loads(out.getvalue())
    assert (drift["moved"], drift["more_severe"], drift["became_wrong"]) == (1, 1, 1)
    assert (tmp_path / "drift" / "drift.html").exists()


@pytest.mark.parametrize(
    "overrides",
    [{"files": []}, {"files": ["/nonexistent/cases.jsonl"]}, {"compare": ["/nonexistent/a", "/nonexistent/b"]}],
)
def test_eval_command_bad_input_exits_2(overrides: dict[str, Any]) -> None:
    err = io.StringIO()
    assert run_eval_command(_args(**overrides), lambda: RecordingService(), stdout=io.StringIO(), stderr=err) == 2
    assert err.getvalue().startswith("eval: ")


# --- the HTML report ---------------------------------------------------------------------------------
class _TagBalance(HTMLParser):
    VOID = frozenset({"meta", "br", "rect", "link", "img", "input", "hr"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._loads(attrs)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._loads(attrs)

    def _loads(self, attrs: list[tuple[str, str | None]]) -> None:
        """An attribute that would make the browser fetch something from elsewhere."""
        for name, value in attrs:
            if name in {"src", "href", "xlink:href", "srcset", "action", "style"} and value and "//" in value:
                self.errors.append(f"{name}={value[:80]} loads from elsewhere")

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
        else:
            self.stack.pop()


def assert_self_contained_html(page: str) -> None:
    checker = _TagBalance()
    checker.feed(page)
    assert not checker.errors, checker.errors[:3]
    assert not checker.stack, checker.stack
    # URLs inside case texts are shown as text; only attributes (checked above) and styles could load them
    styles = "".join(re.findall(r"<style>(.*?)</style>", page, re.S))
    assert "url(" not in styles and "@import" not in styles
    assert "<script" not in page and "<link" not in page


def test_run_report_is_self_contained_and_escapes_alert_text() -> None:
    hostile = make_result("x", "data", "P3")
    results = [make_result("a", "app", "P2"), hostile]
    document = _run(results)
    document["cases"][1]["text_preview"] = "<script>alert(1)</script> & <img src=x>"
    document["cases"][1]["summary"] = "<b>bold</b>"
    page = run_report(document)
    assert_self_contained_html(page)
    assert "&lt;script&gt;" in page and "&lt;b&gt;bold" in page
    assert page.count("<svg") >= 3
    assert "Category confusion" in page and "Severity confusion" in page


def test_drift_report_is_self_contained() -> None:
    drift = severity_drift(_run([make_result("a", "app", "P2")]), _run([make_result("a", "app", "P0")]))
    page = drift_report(drift)
    assert_self_contained_html(page)
    assert "+2" in page


def test_report_for_the_heuristic_engine_on_the_dev_set(tmp_path: Path) -> None:
    out = io.StringIO()
    args = _args(files=[str(EVALS / "dev.jsonl")], out=str(tmp_path), json=True)
    assert run_eval_command(args, lambda: RecordingService(), stdout=out) == 0
    payload = json.loads(out.getvalue())
    assert payload["category_accuracy"] >= 0.92
    assert payload["severity_accuracy"] >= 0.97
    assert payload["actionability"] == 1.0
    assert_self_contained_html((tmp_path / "report.html").read_text(encoding="utf-8"))
