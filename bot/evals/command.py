"""`triage-bot eval`: run case files through the triage service, write the run, print it or its drift."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol, TextIO

from bot.card import TriageResult
from bot.evals.cases import Case, CaseResult, EvalError, failed_result, load_cases, result_from, summarise
from bot.evals.drift import gate, severity_drift
from bot.evals.provenance import current_commit, degraded_cases, holdout_files, is_holdout, split_figures

RUN_FORMAT = 2
RUN_FILE = "run.json"
REPORT_FILE = "report.html"
DRIFT_FILE = "drift.json"
DRIFT_REPORT_FILE = "drift.html"
MODEL_CONCURRENCY = 4
FEEDBACK_SOURCE = "feedback (judged cards in the database)"


class Triager(Protocol):
    """What the harness needs from the service: the same call every entry point makes."""

    async def triage(self, raw: str, *, source: str = "api", engine: str | None = None) -> TriageResult: ...


ServiceFactory = Callable[[], "Triager | AbstractAsyncContextManager[Triager]"]


# --- runs on disk ----------------------------------------------------------------------------------
def run_document(
    results: Sequence[CaseResult],
    *,
    engine: str,
    files: Sequence[str],
    created_at: float,
    wall_seconds: float,
    commit: str | None = None,
    settings: Mapping[str, Any] | None = None,
    added_holdout: Sequence[str] = (),
) -> dict[str, Any]:
    """The run file: what made it (commit, settings), the summary, and every case's answer, enough to compare
    two runs later. Cases of `added_holdout` files are kept out of the summary and scored apart (`split`)."""
    cases = []
    for result in results:
        record = asdict(result)
        record["category_ok"] = result.category_ok
        record["severity_ok"] = result.severity_ok
        cases.append(record)
    added = {Path(file).name for file in added_holdout}
    given = [result for result in results if result.file not in added]
    return {
        "format": RUN_FORMAT,
        "created_at": created_at,
        "engine": engine,
        "commit": commit,
        "settings": dict(settings or {}),
        "files": list(files),
        "holdout_files": [Path(file).name for file in added_holdout]
        + [Path(file).name for file in files if is_holdout(file)],
        "wall_seconds": round(wall_seconds, 3),
        "summary": summarise(given),
        "split": split_figures(cases),
        "degraded_cases": degraded_cases(cases),
        "cases": cases,
    }


def read_run(path: str | Path) -> dict[str, Any]:
    """A run file, or the run.json inside a directory."""
    location = Path(path)
    if location.is_dir():
        location = location / RUN_FILE
    try:
        document = json.loads(location.read_text(encoding="utf-8"))
    except OSError as exc:
        raise EvalError(f"{location}: cannot read ({exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise EvalError(f"{location}: not JSON ({exc})") from exc
    if not isinstance(document, dict) or not isinstance(document.get("cases"), list):
        raise EvalError(f"{location}: not a run file (no 'cases' list)")
    document.setdefault("path", str(location))
    return document


# --- running cases through the service -------------------------------------------------------------------
async def evaluate(
    service: Triager,
    cases: Sequence[Case],
    *,
    engine: str | None,
    concurrency: int = 1,
    monotonic: Callable[[], float] = time.monotonic,
) -> list[CaseResult]:
    """Every case through service.triage, as the gateway's other entry points call it; input order kept."""
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(case: Case) -> CaseResult:
        async with gate:
            started = monotonic()
            try:
                result = await service.triage(case.text, source="eval", engine=engine)
            except Exception as exc:  # an eval reports failures as results; it must not stop half-way
                return failed_result(case, f"{exc.__class__.__name__}: {exc}", (monotonic() - started) * 1000)
            return result_from(case, result)

    return list(await asyncio.gather(*(one(case) for case in cases)))


async def _with_service(factory: ServiceFactory, work: Callable[[Triager], Awaitable[Any]]) -> Any:
    made = factory()
    if isinstance(made, AbstractAsyncContextManager):
        async with made as service:
            return await work(service)
    try:
        return await work(made)
    finally:
        closer = getattr(made, "aclose", None)
        if callable(closer):
            await closer()


# --- the command ------------------------------------------------------------------------------------------
def format_summary(summary: Mapping[str, Any], engine: str) -> str:
    """A short human-readable account of a run."""
    latency, cost = summary["latency_ms"], summary["cost_usd"]
    lines = [
        f"{summary['cases']} cases, engine {engine} (used: "
        + ", ".join(f"{name} {count}" for name, count in summary["engines"].items())
        + ")",
        f"  schema valid        {summary['schema_valid']:7.1%}",
        f"  category accuracy   {summary['category_accuracy']:7.1%}",
        f"  severity accuracy   {summary['severity_accuracy']:7.1%}",
        f"  actionable steps    {summary['actionability']:7.1%}",
        f"  needs review        {summary['needs_review']:7.1%}    degraded {summary['degraded']:.1%}",
        f"  latency p50 / p95   {latency['p50']:.2f} / {latency['p95']:.2f} ms",
        f"  estimated cost      ${cost['total']:.4f} (${cost['per_1000_cases']:.2f} per 1,000 cases)",
    ]
    for file, figures in summary["by_file"].items():
        lines.append(
            f"  {file}: {figures['cases']} cases, category {figures['category_accuracy']:.1%},"
            f" severity {figures['severity_accuracy']:.1%}"
        )
    wrong = summary.get("confidently_wrong", 0.0)
    lines.append(f"  confidently wrong   {wrong:7.1%}    (confidence >= 0.8, wrong severity)")
    lines.append("  calibration: confidence bin, cards, mean confidence, severity right, both right")
    for row in summary.get("calibration", []):
        if row["cards"]:
            lines.append(f"    {row['bin']}  {row['cards']:4d}  {row['mean_confidence']:.2f}"
                         f"  {row['severity_accuracy']:6.1%}  {row['both_correct']:6.1%}")
    if summary["step_issues"]:
        issues = ", ".join(f"{kind} ({count})" for kind, count in summary["step_issues"].items())
        lines.append(f"  step issues: {issues}")
    if summary["errors"]:
        lines.append(f"  errors: {summary['errors']} cases returned no card")
    return "\n".join(lines)


def format_split(split: Mapping[str, Any]) -> str:
    """Dev figures beside the held-out ones, one line per figure."""
    dev, held = split.get("dev"), split.get("holdout")
    if not dev or not held:
        return ""
    lines = [f"  {'':<20}{'dev':>8}{'held-out':>10}   ({dev['cases']} / {held['cases']} cases)"]
    for name, key in (("category accuracy", "category_accuracy"), ("severity accuracy", "severity_accuracy"),
                      ("both right", "both_correct"), ("schema valid", "schema_valid")):
        lines.append(f"  {name:<20}{dev[key]:>8.1%}{held[key]:>10.1%}")
    return "\n".join(lines)


def degraded_warning(degraded: Mapping[str, Any], engine: str, total: int) -> str:
    """The loud account of cases that fell back to the heuristic engine."""
    reasons = ", ".join(f"{reason} {count}" for reason, count in degraded["reasons"].items())
    return (
        f"eval: DEGRADED RUN - {degraded['count']} of {total} cases ({degraded['share']:.0%}) fell back to the"
        f" heuristic engine ({reasons}); these are not the figures of engine {engine}."
        " Configure the model (OPENAI_API_KEY) or pass --allow-degraded to accept the run."
    )


def format_drift(drift: Mapping[str, Any], limit: int = 20) -> str:
    """A short human-readable account of severity drift."""
    lines = [
        f"severity drift {drift['run_a']} -> {drift['run_b']}",
        f"  {drift['common_cases']} cases in both runs; {drift['moved']} moved ({drift['moved_share']:.1%}):"
        f" {drift['more_severe']} more severe, {drift['less_severe']} less severe",
        "  by levels (+ = more severe): "
        + (", ".join(f"{levels}: {count}" for levels, count in drift["by_levels"].items()) or "none"),
        f"  moves that fixed a case: {drift['became_right']}, that broke one: {drift['became_wrong']};"
        f" category changed in {drift['category_changed']}",
    ]
    if drift["only_in_a"] or drift["only_in_b"]:
        lines.append(f"  only in A: {drift['only_in_a']}, only in B: {drift['only_in_b']}")
    for item in drift["cases"][:limit]:
        lines.append(f"  {item['file']}:{item['id']}  {item['from']} -> {item['to']} ({item['levels']:+d})")
    if len(drift["cases"]) > limit:
        lines.append(f"  ... and {len(drift['cases']) - limit} more")
    return "\n".join(lines)


def _write(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")


def run_eval_command(
    args: argparse.Namespace,
    service_factory: ServiceFactory,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    clock: Callable[[], float] = time.time,
    feedback_cases: Callable[[], list[Case]] | None = None,
    describe: Callable[[str | None], Mapping[str, Any]] | None = None,
) -> int:
    """`triage-bot eval`: score case files (args.files, args.engine, args.json, args.out) or, with
    args.compare = [RUN_A, RUN_B], report severity drift and apply the gate (args.max_drift,
    args.min_agreement). `describe(prompt_version)` gives the settings that shape answers, kept in the run.

    Returns the exit code: 0; 1 when the gate refuses the candidate or cases fell back to the heuristic
    engine (unless args.allow_degraded); 2 for bad input."""
    from bot.evals.pages.drift import drift_report
    from bot.evals.pages.run import run_report

    out, err = stdout or sys.stdout, stderr or sys.stderr
    target = Path(args.out) if getattr(args, "out", None) else None
    as_json = bool(getattr(args, "json", False))
    try:
        compare = getattr(args, "compare", None)
        if compare:
            drift = severity_drift(read_run(compare[0]), read_run(compare[1]))
            if not drift["common_cases"]:
                print("eval: the two runs share no case ids; nothing to compare", file=err)
                return 2
            refused = gate(drift, max_drift=getattr(args, "max_drift", None),
                           min_agreement=getattr(args, "min_agreement", None))
            drift["gate"] = {"passed": not refused, "reasons": refused,
                             "max_drift": getattr(args, "max_drift", None),
                             "min_agreement": getattr(args, "min_agreement", None)}
            if target is not None:
                _write(target / DRIFT_FILE, json.dumps(drift, indent=1))
                _write(target / DRIFT_REPORT_FILE, drift_report(drift))
            limit = len(drift["cases"]) if refused else 20
            print(json.dumps(drift) if as_json else format_drift(drift, limit), file=out)
            if refused:
                for reason in refused:
                    print(f"eval: gate failed: {reason}", file=err)
                return 1
            return 0
        files = list(getattr(args, "files", None) or [])
        if not files and feedback_cases is None:
            print("eval: give one or more JSONL case files, --feedback, or --compare RUN_A RUN_B", file=err)
            return 2
        cases = load_cases(files) if files else []
        added = holdout_files(files) if files and not getattr(args, "no_holdout", False) else []
        if added:
            # Scored apart: every dev figure gets the figure on sets that were never tuned on beside it.
            cases.extend(load_cases(added))
        if feedback_cases is not None:
            # The cards people judged, straight from the database: the team's own ground truth.
            judged = feedback_cases()
            if not judged:
                print("eval: no judged cards in the database yet", file=err)
            cases.extend(judged)
            files.append(FEEDBACK_SOURCE)
    except EvalError as exc:
        print(f"eval: {exc}", file=err)
        return 2

    choice = getattr(args, "engine", "auto") or "auto"
    engine = None if choice == "auto" else choice
    concurrency = 1 if choice == "heuristic" else MODEL_CONCURRENCY
    started, wall = clock(), time.monotonic()
    seen: dict[str, Any] = {}

    async def work(service: Triager) -> list[CaseResult]:
        seen["prompt_version"] = getattr(service, "prompt_version", None)
        return await evaluate(service, cases, engine=engine, concurrency=concurrency)

    results: list[CaseResult] = asyncio.run(_with_service(service_factory, work))
    document = run_document(
        results, engine=choice, files=[str(file) for file in files], created_at=started,
        wall_seconds=time.monotonic() - wall, commit=current_commit(),
        settings={"engine": choice, **(describe(seen.get("prompt_version")) if describe else {})},
        added_holdout=added,
    )
    summary = document["summary"]
    degraded = document["degraded_cases"]
    refuse_degraded = bool(degraded["count"]) and not getattr(args, "allow_degraded", False)
    if target is not None:
        _write(target / RUN_FILE, json.dumps(document, indent=1))
        _write(target / REPORT_FILE, run_report(document))
    if as_json:
        payload = dict(summary)
        payload["engine"] = choice
        payload["commit"] = document["commit"]
        payload["split"] = document["split"]
        payload["degraded_cases"] = degraded
        if target is not None:
            payload["run_file"] = str(target / RUN_FILE)
            payload["report"] = str(target / REPORT_FILE)
        print(json.dumps(payload), file=out)
    else:
        print(format_summary(summary, choice), file=out)
        split = format_split(document["split"])
        if split:
            print(split, file=out)
        if target is not None:
            print(f"  wrote {target / RUN_FILE} and {target / REPORT_FILE}", file=out)
    if degraded["count"]:
        print(degraded_warning(degraded, choice, len(results)), file=err)
    return 1 if refuse_degraded else 0
