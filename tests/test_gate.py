"""The release gate: `eval --compare` refuses a drifting candidate, and evals that cannot mislead."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bot.card import TriageResult
from bot.cli import main
from bot.evals.cases import Case
from bot.evals.command import FEEDBACK_SOURCE, run_eval_command
from bot.evals.drift import gate, severity_drift
from bot.evals.provenance import current_commit, holdout_files, is_holdout
from bot.settings import Settings
from bot.wiring import build_gateway
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.test_evals import RecordingService, case_line

EVALS = Path(__file__).resolve().parents[1] / "evals"


class Drifting(RecordingService):
    """A candidate that calls everything with "down" in it a P0."""

    async def triage(self, raw: str, *, source: str = "api", engine: str | None = None) -> TriageResult:
        result = await super().triage(raw, source=source, engine=engine)
        return result.model_copy(update={"severity": "P0"}) if "down" in raw else result


def args(**overrides: Any) -> argparse.Namespace:
    values: dict[str, Any] = {"files": [], "engine": "heuristic", "json": False, "out": None, "compare": None,
                              "max_drift": None, "min_agreement": None, "allow_degraded": False,
                              "no_holdout": False}
    values.update(overrides)
    return argparse.Namespace(**values)


@pytest.fixture
def cases(tmp_path: Path) -> Path:
    path = tmp_path / "dev.jsonl"
    lines = [
        case_line("db", "MySQL instance db-1 is down", ["data"], ["P1"]),
        case_line("lag", "Kafka consumer lag growing on orders", ["data"], ["P2", "P3"]),
        case_line("api", "checkout API is down, 100% of requests fail", ["app"], ["P0", "P1"]),
        case_line("cert", "TLS certificate for api.example.com expires in 20 days", ["infra"], ["P3"]),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(tmp_path: Path, name: str, files: list[str], service: Any, **overrides: Any) -> Path:
    out = tmp_path / name
    code = run_eval_command(args(files=files, out=str(out), **overrides), lambda: service, stdout=io.StringIO(),
                            stderr=io.StringIO())
    assert code == 0
    return out


def compare(a: Path, b: Path, **overrides: Any) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_eval_command(args(compare=[str(a), str(b)], **overrides), lambda: RecordingService(), stdout=out,
                            stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_the_gate_passes_an_identical_candidate(tmp_path: Path, cases: Path) -> None:
    a = run(tmp_path, "a", [str(cases)], RecordingService())
    b = run(tmp_path, "b", [str(cases)], RecordingService())
    code, out, _ = compare(a, b, max_drift=0, min_agreement=0.5)
    assert code == 0, out
    assert "0 moved" in out


def test_the_gate_refuses_a_drifting_candidate_and_names_the_cases(tmp_path: Path, cases: Path) -> None:
    a = run(tmp_path, "a", [str(cases)], RecordingService())
    b = run(tmp_path, "b", [str(cases)], Drifting())
    code, out, err = compare(a, b, max_drift=10, min_agreement=0.5)
    assert code == 1
    assert "dev.jsonl:db" in out and "P0 (+" in out
    assert "gate failed" in err and "more than the 10 % allowed" in err
    # Within the allowed drift it passes; agreement alone can still refuse it.
    assert compare(a, b, max_drift=50)[0] == 0
    code, _, err = compare(a, b, min_agreement=0.99)
    assert code == 1 and "agreement with the human labels" in err
    assert compare(a, b, min_agreement=99)[0] == 1  # a percentage works too
    assert compare(a, b)[0] == 0  # no thresholds, no gate


def test_gate_thresholds_are_pure() -> None:
    drift = {"moved": 1, "common_cases": 20, "moved_share": 0.05, "agreement": {"a": 0.9, "b": 0.8}}
    assert gate(drift, max_drift=5, min_agreement=0.8) == []
    assert len(gate(drift, max_drift=4.9, min_agreement=0.81)) == 2


def test_the_gate_from_the_command_line(tmp_path: Path, cases: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("bot.cli.configure_logging", lambda *a, **k: None)
    monkeypatch.setenv("TRIAGE_DB", str(tmp_path / "cli.db"))
    for name in ("a", "b"):
        assert main(["eval", str(cases), "--out", str(tmp_path / name)]) == 0
    assert main(["eval", "--compare", str(tmp_path / "a"), str(tmp_path / "b"), "--max-drift", "0",
                 "--min-agreement", "0.5"]) == 0
    drifted = json.loads((tmp_path / "b" / "run.json").read_text(encoding="utf-8"))
    drifted["cases"][0]["severity"] = "P3"
    (tmp_path / "b" / "run.json").write_text(json.dumps(drifted), encoding="utf-8")
    capsys.readouterr()
    assert main(["eval", "--compare", str(tmp_path / "a"), str(tmp_path / "b"), "--max-drift", "0"]) == 1
    assert "dev.jsonl:db  P1 -> P3" in capsys.readouterr().out


def test_the_gate_over_judged_cards(tmp_path: Path) -> None:
    judged = [Case("t1", FEEDBACK_SOURCE, "slack", "MySQL instance db-1 is down", ("data",), ("P1",)),
              Case("t2", FEEDBACK_SOURCE, "slack", "Kafka consumer lag growing", ("data",), ("P2",))]

    def from_feedback(name: str, service: Any) -> Path:
        out = tmp_path / name
        code = run_eval_command(args(out=str(out)), lambda: service, feedback_cases=lambda: list(judged),
                                stdout=io.StringIO())
        assert code == 0
        return out

    live, same, candidate = (from_feedback("live", RecordingService()), from_feedback("same", RecordingService()),
                             from_feedback("cand", Drifting()))
    assert compare(live, same, max_drift=0, min_agreement=0.5)[0] == 0
    code, out, _ = compare(live, candidate, max_drift=0)
    assert code == 1 and "t1" in out


# --- evals that cannot mislead ---------------------------------------------------------------------------


def test_a_model_eval_without_a_model_fails_loudly_unless_allowed(tmp_path: Path, cases: Path) -> None:
    def service() -> Any:
        return build_gateway(Settings(db_path=str(tmp_path / "eval.db"))).service

    out, err = io.StringIO(), io.StringIO()
    code = run_eval_command(args(files=[str(cases)], engine="model", out=str(tmp_path / "run")), service,
                            stdout=out, stderr=err)
    assert code == 1
    assert "DEGRADED RUN - 4 of 4 cases (100%)" in err.getvalue() and "no_api_key 4" in err.getvalue()
    page = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    assert "<title>Triage eval · engine model · DEGRADED 100.0 %</title>" in page
    assert '<div class="banner"' in page and "Degraded run: 100.0 % of cases" in page
    allowed = run_eval_command(args(files=[str(cases)], engine="model", allow_degraded=True), service,
                               stdout=io.StringIO(), stderr=io.StringIO())
    assert allowed == 0


def test_a_clean_run_has_no_banner(tmp_path: Path, cases: Path) -> None:
    out = run(tmp_path, "a", [str(cases)], RecordingService())
    page = (out / "report.html").read_text(encoding="utf-8")
    assert 'class="banner"' not in page and "DEGRADED" not in page


def test_a_run_records_its_commit_settings_and_answers(tmp_path: Path, cases: Path) -> None:
    def service() -> Any:
        return build_gateway(Settings(db_path=str(tmp_path / "eval.db"), min_confidence=0.7)).service

    out = tmp_path / "run"
    assert run_eval_command(args(files=[str(cases)], out=str(out)), service, stdout=io.StringIO(),
                            describe=lambda prompt: {"prompt_version": prompt, "min_confidence": 0.7}) == 0
    document = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert document["commit"] == current_commit() and document["commit"]
    assert document["settings"] == {"engine": "heuristic", "prompt_version": "heuristic", "min_confidence": 0.7}
    first = document["cases"][0]
    assert (first["id"], first["severity"], first["category"], first["engine"]) == ("db", "P1", "data", "heuristic")


def test_commit_is_the_checkout_head_or_the_package_version(tmp_path: Path) -> None:
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False,
                          cwd=Path(__file__).parent).stdout.strip()
    if head:
        assert current_commit().startswith(head)
    assert current_commit(tmp_path).startswith(("triage-gateway ", "unknown"))


def test_held_out_sets_are_added_and_scored_apart(tmp_path: Path) -> None:
    assert is_holdout("evals/holdout2-oncall.jsonl") and not is_holdout("evals/dev.jsonl")
    found = {Path(file).name for file in holdout_files([str(EVALS / "dev.jsonl")])}
    assert {"holdout-oncall.jsonl", "holdout2-oncall.jsonl"} <= found
    out = io.StringIO()
    code = run_eval_command(args(files=[str(EVALS / "dev.jsonl")], out=str(tmp_path / "run"), json=True),
                            lambda: RecordingService(), stdout=out)
    assert code == 0
    payload = json.loads(out.getvalue())
    dev, held = payload["split"]["dev"], payload["split"]["holdout"]
    assert payload["cases"] == dev["cases"] == 127  # the headline stays the files given
    assert held["cases"] >= 40 and set(held["files"]) >= {"holdout-oncall.jsonl", "holdout2-oncall.jsonl"}
    page = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    assert "severity accuracy · held-out" in page and "held-out (never tuned on)" in page
    assert f'data-key="split.holdout.severity_accuracy" data-value="{held["severity_accuracy"]}"' in page
    skipped = io.StringIO()
    run_eval_command(args(files=[str(EVALS / "dev.jsonl")], json=True, no_holdout=True), lambda: RecordingService(),
                     stdout=skipped)
    assert json.loads(skipped.getvalue())["split"]["holdout"] is None


def test_drift_counts_agreement_on_the_common_cases() -> None:
    def document(severity: str) -> dict[str, Any]:
        return {"cases": [{"id": "a", "file": "f", "severity": severity, "category": "data",
                           "severity_ok": severity == "P1", "category_ok": True},
                          {"id": "only-here", "file": "f", "severity": "P3", "category_ok": True}]}

    drift = severity_drift(document("P1"), {"cases": document("P0")["cases"][:1]})
    assert drift["agreement"] == {"a": 1.0, "b": 0.0} and drift["common_cases"] == 1


def test_the_ci_step_for_a_prompt_change_against_a_model(
    tmp_path: Path, cases: Path, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Live prompt and candidate prompt through the same (fake) model, then the gate, as README's CI step."""
    def answer(body: dict[str, Any]) -> Reply:
        system = body["messages"][0]["content"]
        return Reply.card(category="data", severity="P0" if "ALWAYS PAGE" in system else "P1", confidence=0.9)

    fake_openai.default = answer
    monkeypatch.setattr("bot.cli.configure_logging", lambda *a, **k: None)
    for name, value in {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": fake_openai.base_url,
                        "TRIAGE_DB": str(tmp_path / "t.db")}.items():
        monkeypatch.setenv(name, value)
    live = tmp_path / "live.md"
    live.write_text((Path(__file__).resolve().parents[1] / "bot" / "prompts" / "triage.md").read_text(encoding="utf-8"))
    paging = tmp_path / "paging.md"
    paging.write_text(live.read_text(encoding="utf-8") + "\nALWAYS PAGE: every alert is a P0.\n")
    common = [str(cases), "--engine", "model", "--no-holdout"]
    assert main(["eval", *common, "--prompt", str(live), "--out", str(tmp_path / "live")]) == 0
    assert main(["eval", *common, "--out", str(tmp_path / "same")]) == 0
    assert main(["eval", *common, "--prompt", str(paging), "--out", str(tmp_path / "paging")]) == 0
    runs = {name: json.loads((tmp_path / name / "run.json").read_text(encoding="utf-8"))
            for name in ("live", "same", "paging")}
    assert runs["live"]["settings"]["prompt_version"].startswith("live@")
    assert runs["paging"]["settings"]["prompt_version"].startswith("paging@")
    assert runs["live"]["settings"]["model_fast"] == "gpt-4o-mini" and runs["live"]["commit"]
    capsys.readouterr()
    gate_args = ["--max-drift", "5", "--min-agreement", "0.2"]
    assert main(["eval", "--compare", str(tmp_path / "live"), str(tmp_path / "same"), *gate_args]) == 0
    assert main(["eval", "--compare", str(tmp_path / "live"), str(tmp_path / "paging"), *gate_args]) == 1
    captured = capsys.readouterr()
    assert "dev.jsonl:db  P1 -> P0 (+1)" in captured.out and "gate failed" in captured.err
    assert main(["eval", *common, "--prompt", str(tmp_path / "missing.md")]) == 2


def test_recorded_settings_hold_no_secret() -> None:
    from pydantic import SecretStr

    from bot.evals.provenance import answer_settings

    recorded = answer_settings(
        Settings(openai_api_key=SecretStr("sk-secret"), openai_base_url="https://user:pw@llm.example/v1"), "p@1"
    )
    assert recorded["openai_base_url"] == "https://llm.example/v1" and recorded["prompt_version"] == "p@1"
    assert "sk-secret" not in json.dumps(recorded) and "pw" not in json.dumps(recorded)
