"""Evaluation harness: run labelled cases through the triage pipeline, score them, compare two runs."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import re
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO

from pydantic import ValidationError

from bot.card import CATEGORIES, SEVERITIES, TriageCard, TriageResult

RUN_FORMAT = 1
RUN_FILE = "run.json"
REPORT_FILE = "report.html"
DRIFT_FILE = "drift.json"
DRIFT_REPORT_FILE = "drift.html"
MODEL_CONCURRENCY = 4


class EvalError(ValueError):
    """A case file or run file cannot be used; the message says which and where."""


class Triager(Protocol):
    """What the harness needs from the service: the same call every entry point makes."""

    async def triage(self, raw: str, *, source: str = "api", engine: str | None = None) -> TriageResult: ...


ServiceFactory = Callable[[], "Triager | AbstractAsyncContextManager[Triager]"]


# --- cases -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One labelled alert: the text and the acceptable answers."""

    id: str
    file: str
    source: str
    text: str
    categories: tuple[str, ...]
    severities: tuple[str, ...]
    note: str = ""


def parse_cases(lines: Iterable[str], file: str) -> list[Case]:
    """Cases from JSONL lines; blank lines are skipped, anything malformed is an EvalError."""
    cases: list[Case] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{file}:{number}"
        try:
            raw = json.loads(line)
            expected = raw["expected"]
            case = Case(
                id=str(raw["id"]),
                file=file,
                source=str(raw.get("source", "")),
                text=str(raw["text"]),
                categories=tuple(expected["category"]),
                severities=tuple(expected["severity"]),
                note=str(raw.get("note", "")),
            )
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise EvalError(f"{where}: not a case line ({exc.__class__.__name__}: {exc})") from exc
        if not case.categories or not set(case.categories) <= set(CATEGORIES):
            raise EvalError(f"{where}: expected.category must be a non-empty subset of {list(CATEGORIES)}")
        if not case.severities or not set(case.severities) <= set(SEVERITIES):
            raise EvalError(f"{where}: expected.severity must be a non-empty subset of {list(SEVERITIES)}")
        if case.id in seen:
            raise EvalError(f"{where}: duplicate id {case.id!r}")
        seen.add(case.id)
        cases.append(case)
    return cases


def load_cases(paths: Sequence[str | Path]) -> list[Case]:
    """Read every case file; file names (not paths) identify where a case came from."""
    cases: list[Case] = []
    for path in paths:
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise EvalError(f"{file}: cannot read ({exc.strerror})") from exc
        cases.extend(parse_cases(text.splitlines(), file.name))
    if not cases:
        raise EvalError("no cases in " + ", ".join(str(path) for path in paths))
    return cases


# --- steps ----------------------------------------------------------------------------------------
def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


_VERBS = _word_set(
    """
    abort acknowledge add adjust alert allow analyse analyze apply archive ask assign audit back block break
    bring build bump cancel cap capture change check clean clear close collect compare compress configure
    confirm consider contact copy cordon correlate count create debug decide decrease delete deploy
    describe detach diff disable disconnect document double drain drop dump edit enable ensure escalate
    estimate evict examine expand expire export extend fail failover fetch file find fix flush follow force
    free freeze gather get grant grep identify increase inform inspect install investigate isolate keep
    kill label limit list locate lock log look lower make map mark measure merge migrate mitigate monitor
    move mute notify open optimise optimize page patch pause ping pin plan point prune pull purge put query
    quarantine raise read rebalance reboot rebuild recheck reconnect record recover recreate reduce re-enable
    refresh reindex reject release reload remove rename renew reopen repair replace replay report request
    rerun reschedule reset resize resolve restart restore resubmit resume resync retry return revert
    review revoke roll rollback rotate run scale scan schedule search select send set shed shift shorten
    shut silence size skip snapshot split start stop suspend swap switch sync tag take tail tell terminate
    test throttle tighten trace track trigger truncate tune turn uncordon undo unlock unpause update
    upgrade use validate verify vacuum view wait watch whitelist widen write
    """
)
_NOT_IMPERATIVE = _word_set(
    """
    a an the this that these those it its we you i they he she there here is are was were be been being
    maybe perhaps probably possibly should could would might may can will shall must no not none nothing
    n/a na tbd todo fixme xxx unknown step steps
    """
)
_PLACEHOLDER = re.compile(
    r"\b(?:todo|tbd|fixme|xxx|lorem ipsum|placeholder)\b|<[^<>]{1,40}>|\bn/a\b|\{[a-z_]+\}|^\W*$|^step \d+\W*$",
    re.IGNORECASE,
)


def is_imperative(step: str) -> bool:
    """Does the step start like an instruction ("Check...", "Roll back...", "`kubectl ...`")?"""
    stripped = step.strip()
    if stripped.startswith(("`", "$ ")):
        return True
    words = stripped.split()
    if not words:
        return False
    first = words[0].strip(".,:;!\"'()[]").lower()
    if first in _VERBS:
        return True
    if first in _NOT_IMPERATIVE or not first.isalpha():
        return False
    # unknown words get the benefit of the doubt unless they read as a gerund or a past participle
    return not first.endswith(("ing", "ed"))


def step_issues(steps: Sequence[str]) -> list[str]:
    """Why a card's steps are not actionable; empty when they are."""
    issues: list[str] = []
    if len(steps) != 3:
        issues.append(f"{len(steps)} steps instead of 3")
    cleaned = [" ".join(step.split()) for step in steps]
    if any(not step for step in cleaned):
        issues.append("an empty step")
    if len({step.casefold() for step in cleaned if step}) != len([step for step in cleaned if step]):
        issues.append("steps repeat each other")
    for number, step in enumerate(cleaned, start=1):
        if not step:
            continue
        if _PLACEHOLDER.search(step):
            issues.append(f"step {number} has placeholder text")
        if not is_imperative(step):
            issues.append(f"step {number} is not an instruction")
    return issues


# --- one case's outcome ------------------------------------------------------------------------------
@dataclass(frozen=True)
class CaseResult:
    """What the pipeline said about one case, and how it scored."""

    id: str
    file: str
    expected_categories: tuple[str, ...]
    expected_severities: tuple[str, ...]
    category: str | None
    severity: str | None
    confidence: float | None
    summary: str
    steps: tuple[str, ...]
    schema_valid: bool
    step_issues: tuple[str, ...]
    engine: str | None = None
    model: str | None = None
    prompt_version: str | None = None
    latency_ms: float = 0.0
    cost_usd: float = 0.0
    needs_review: bool = False
    degraded: bool = False
    degraded_reason: str | None = None
    cached: bool = False
    error: str | None = None
    text_preview: str = ""

    @property
    def category_ok(self) -> bool:
        return self.category is not None and self.category in self.expected_categories

    @property
    def severity_ok(self) -> bool:
        return self.severity is not None and self.severity in self.expected_severities

    @property
    def actionable(self) -> bool:
        return self.schema_valid and not self.step_issues


def result_from(case: Case, result: TriageResult) -> CaseResult:
    """Score a service answer: re-validate it against the schema, check its steps."""
    meta = result.meta
    try:
        TriageCard.model_validate(result.card.model_dump())
        valid = True
    except ValidationError:
        valid = False
    steps = tuple(result.steps)
    return CaseResult(
        id=case.id,
        file=case.file,
        expected_categories=case.categories,
        expected_severities=case.severities,
        category=result.category,
        severity=result.severity,
        confidence=result.confidence,
        summary=result.summary,
        steps=steps,
        schema_valid=valid,
        step_issues=tuple(step_issues(steps)),
        engine=meta.engine,
        model=meta.model,
        prompt_version=meta.prompt_version,
        latency_ms=meta.latency_ms,
        cost_usd=meta.cost_usd,
        needs_review=meta.needs_review,
        degraded=meta.degraded,
        degraded_reason=meta.degraded_reason,
        cached=meta.cached,
        text_preview=case.text[:300],
    )


def failed_result(case: Case, error: str, latency_ms: float) -> CaseResult:
    """A case the pipeline gave no card for: counts against every rate."""
    return CaseResult(
        id=case.id,
        file=case.file,
        expected_categories=case.categories,
        expected_severities=case.severities,
        category=None,
        severity=None,
        confidence=None,
        summary="",
        steps=(),
        schema_valid=False,
        step_issues=("no card",),
        latency_ms=latency_ms,
        error=error,
        text_preview=case.text[:300],
    )


# --- scoring (pure) ------------------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def confusion(results: Sequence[CaseResult], kind: str) -> dict[str, dict[str, int]]:
    """truth -> predicted -> count. A right answer counts as its own truth, a wrong one under the first
    acceptable value, so the diagonal holds exactly the correct predictions."""
    labels = CATEGORIES if kind == "category" else SEVERITIES
    matrix = {truth: dict.fromkeys([*labels, "none"], 0) for truth in labels}
    for result in results:
        predicted = result.category if kind == "category" else result.severity
        accepted = result.expected_categories if kind == "category" else result.expected_severities
        truth = predicted if predicted in accepted else accepted[0]
        matrix[truth][predicted if predicted in labels else "none"] += 1
    return matrix


def _rate(count: int, total: int) -> float:
    return round(count / total, 4) if total else 0.0


def summarise(results: Sequence[CaseResult]) -> dict[str, Any]:
    """The figures a run is judged by: validity, accuracy, confusion, actionability, latency, cost."""
    total = len(results)
    latencies = [result.latency_ms for result in results if result.schema_valid]
    cost = sum(result.cost_usd for result in results)
    issue_kinds: Counter[str] = Counter(
        re.sub(r"^step \d+ ", "a step ", issue) for result in results for issue in result.step_issues
    )
    by_file: dict[str, dict[str, Any]] = {}
    for file in dict.fromkeys(result.file for result in results):
        subset = [result for result in results if result.file == file]
        by_file[file] = {
            "cases": len(subset),
            "category_accuracy": _rate(sum(r.category_ok for r in subset), len(subset)),
            "severity_accuracy": _rate(sum(r.severity_ok for r in subset), len(subset)),
        }
    return {
        "cases": total,
        "schema_valid": _rate(sum(r.schema_valid for r in results), total),
        "category_accuracy": _rate(sum(r.category_ok for r in results), total),
        "severity_accuracy": _rate(sum(r.severity_ok for r in results), total),
        "both_correct": _rate(sum(r.category_ok and r.severity_ok for r in results), total),
        "actionability": _rate(sum(r.actionable for r in results), total),
        "step_issues": dict(issue_kinds.most_common()),
        "needs_review": _rate(sum(r.needs_review for r in results), total),
        "degraded": _rate(sum(r.degraded for r in results), total),
        "errors": sum(r.error is not None for r in results),
        "engines": dict(Counter(r.engine or "none" for r in results).most_common()),
        "models": dict(Counter(r.model for r in results if r.model).most_common()),
        "prompt_versions": dict(Counter(r.prompt_version for r in results if r.prompt_version).most_common()),
        "latency_ms": {
            "p50": round(percentile(latencies, 50), 3),
            "p95": round(percentile(latencies, 95), 3),
            "max": round(max(latencies, default=0.0), 3),
        },
        "cost_usd": {
            "total": round(cost, 6),
            "per_case": round(cost / total, 8) if total else 0.0,
            "per_1000_cases": round(cost / total * 1000, 4) if total else 0.0,
        },
        "confusion": {"category": confusion(results, "category"), "severity": confusion(results, "severity")},
        "by_file": by_file,
    }


# --- runs on disk ----------------------------------------------------------------------------------
def run_document(results: Sequence[CaseResult], *, engine: str, files: Sequence[str], created_at: float,
                 wall_seconds: float) -> dict[str, Any]:
    """The run file: the summary plus every case's prediction, enough to compare two runs later."""
    cases = []
    for result in results:
        record = asdict(result)
        record["category_ok"] = result.category_ok
        record["severity_ok"] = result.severity_ok
        cases.append(record)
    return {
        "format": RUN_FORMAT,
        "created_at": created_at,
        "engine": engine,
        "files": list(files),
        "wall_seconds": round(wall_seconds, 3),
        "summary": summarise(results),
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


# --- drift between two runs (pure) ---------------------------------------------------------------------
def _keyed(run: Mapping[str, Any]) -> dict[tuple[str, str], Mapping[str, Any]]:
    return {(str(case.get("file", "")), str(case["id"])): case for case in run["cases"] if "id" in case}


def severity_drift(run_a: Mapping[str, Any], run_b: Mapping[str, Any]) -> dict[str, Any]:
    """How severities moved from run A to run B. Positive levels mean B is more severe (P2 -> P1 = +1)."""
    a, b = _keyed(run_a), _keyed(run_b)
    if not a.keys() & b.keys():  # the same cases read from differently named files
        a = {("", key[1]): case for key, case in a.items()}
        b = {("", key[1]): case for key, case in b.items()}
    common = [key for key in a if key in b]
    moved: list[dict[str, Any]] = []
    by_levels: Counter[int] = Counter()
    category_changed = 0
    became_right = became_wrong = 0
    for key in common:
        before, after = a[key], b[key]
        if before.get("category") != after.get("category"):
            category_changed += 1
        old, new = before.get("severity"), after.get("severity")
        if old not in SEVERITIES or new not in SEVERITIES or old == new:
            continue
        levels = SEVERITIES.index(old) - SEVERITIES.index(new)
        by_levels[levels] += 1
        right_before, right_after = bool(before.get("severity_ok")), bool(after.get("severity_ok"))
        became_right += right_after and not right_before
        became_wrong += right_before and not right_after
        moved.append(
            {"id": key[1], "file": key[0] or after.get("file", ""), "from": old, "to": new, "levels": levels,
             "right_before": right_before, "right_after": right_after}
        )
    moved.sort(key=lambda item: (-abs(item["levels"]), item["file"], item["id"]))
    return {
        "run_a": str(run_a.get("path", "A")),
        "run_b": str(run_b.get("path", "B")),
        "common_cases": len(common),
        "only_in_a": len(a.keys() - b.keys()),
        "only_in_b": len(b.keys() - a.keys()),
        "moved": len(moved),
        "moved_share": _rate(len(moved), len(common)),
        "more_severe": sum(1 for item in moved if item["levels"] > 0),
        "less_severe": sum(1 for item in moved if item["levels"] < 0),
        "by_levels": {f"{levels:+d}": by_levels[levels] for levels in sorted(by_levels, reverse=True)},
        "max_levels": max((abs(item["levels"]) for item in moved), default=0),
        "became_right": became_right,
        "became_wrong": became_wrong,
        "category_changed": category_changed,
        "severity_accuracy": {
            "a": run_a.get("summary", {}).get("severity_accuracy"),
            "b": run_b.get("summary", {}).get("severity_accuracy"),
        },
        "cases": moved,
    }


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
    if summary["step_issues"]:
        issues = ", ".join(f"{kind} ({count})" for kind, count in summary["step_issues"].items())
        lines.append(f"  step issues: {issues}")
    if summary["errors"]:
        lines.append(f"  errors: {summary['errors']} cases returned no card")
    return "\n".join(lines)


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
) -> int:
    """`triage-bot eval`: score case files (args.files, args.engine, args.json, args.out) or, with
    args.compare = [RUN_A, RUN_B], report severity drift. Returns the exit code: 0, or 2 for bad input."""
    from bot.report_html import drift_report, run_report

    out, err = stdout or sys.stdout, stderr or sys.stderr
    target = Path(args.out) if getattr(args, "out", None) else None
    as_json = bool(getattr(args, "json", False))
    try:
        compare = getattr(args, "compare", None)
        if compare:
            drift = severity_drift(read_run(compare[0]), read_run(compare[1]))
            if target is not None:
                _write(target / DRIFT_FILE, json.dumps(drift, indent=1))
                _write(target / DRIFT_REPORT_FILE, drift_report(drift))
            print(json.dumps(drift) if as_json else format_drift(drift), file=out)
            return 0
        files = list(getattr(args, "files", None) or [])
        if not files:
            print("eval: give one or more JSONL case files, or --compare RUN_A RUN_B", file=err)
            return 2
        cases = load_cases(files)
    except EvalError as exc:
        print(f"eval: {exc}", file=err)
        return 2

    choice = getattr(args, "engine", "auto") or "auto"
    engine = None if choice == "auto" else choice
    concurrency = 1 if choice == "heuristic" else MODEL_CONCURRENCY
    started, wall = clock(), time.monotonic()
    results: list[CaseResult] = asyncio.run(
        _with_service(service_factory, lambda service: evaluate(service, cases, engine=engine, concurrency=concurrency))
    )
    document = run_document(
        results, engine=choice, files=[str(file) for file in files], created_at=started,
        wall_seconds=time.monotonic() - wall,
    )
    summary = document["summary"]
    if target is not None:
        _write(target / RUN_FILE, json.dumps(document, indent=1))
        _write(target / REPORT_FILE, run_report(document))
    if as_json:
        payload = dict(summary)
        payload["engine"] = choice
        if target is not None:
            payload["run_file"] = str(target / RUN_FILE)
            payload["report"] = str(target / REPORT_FILE)
        print(json.dumps(payload), file=out)
    else:
        print(format_summary(summary, choice), file=out)
        if target is not None:
            print(f"  wrote {target / RUN_FILE} and {target / REPORT_FILE}", file=out)
    return 0

