"""Evaluation cases and their scoring: load labelled cases, check steps, score answers into accuracy figures."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bot.card import CATEGORIES, SEVERITIES, TriageCard, TriageResult


class EvalError(ValueError):
    """A case file or run file cannot be used; the message says which and where."""


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


def rate(count: int, total: int) -> float:
    """count as a share of total, to four places; 0.0 for an empty total."""
    return round(count / total, 4) if total else 0.0


# Confidence bins of the calibration table: [low, high) with the last bin closed.
CALIBRATION_BINS: tuple[tuple[float, float], ...] = ((0.0, 0.5), (0.5, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 0.9),
                                                     (0.9, 1.0))
CONFIDENT = 0.8


def calibration(results: Sequence[CaseResult]) -> list[dict[str, Any]]:
    """Per confidence bin: cards, mean confidence, and how often category, severity and both were right."""
    table: list[dict[str, Any]] = []
    for low, high in CALIBRATION_BINS:
        inside = [r for r in results if r.confidence is not None
                  and (low <= r.confidence < high or (high == 1.0 and r.confidence == 1.0))]
        table.append({
            "bin": f"{low:.1f}-{high:.1f}",
            "cards": len(inside),
            "mean_confidence": round(sum(r.confidence or 0.0 for r in inside) / len(inside), 3) if inside else 0.0,
            "category_accuracy": rate(sum(r.category_ok for r in inside), len(inside)),
            "severity_accuracy": rate(sum(r.severity_ok for r in inside), len(inside)),
            "both_correct": rate(sum(r.category_ok and r.severity_ok for r in inside), len(inside)),
        })
    return table


def confidently_wrong(results: Sequence[CaseResult]) -> float:
    """Share of all cards with confidence >= 0.8 and a wrong severity: the cards that mislead most."""
    return rate(sum((r.confidence or 0.0) >= CONFIDENT and not r.severity_ok for r in results), len(results))


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
            "category_accuracy": rate(sum(r.category_ok for r in subset), len(subset)),
            "severity_accuracy": rate(sum(r.severity_ok for r in subset), len(subset)),
        }
    return {
        "cases": total,
        "schema_valid": rate(sum(r.schema_valid for r in results), total),
        "category_accuracy": rate(sum(r.category_ok for r in results), total),
        "severity_accuracy": rate(sum(r.severity_ok for r in results), total),
        "both_correct": rate(sum(r.category_ok and r.severity_ok for r in results), total),
        "actionability": rate(sum(r.actionable for r in results), total),
        "step_issues": dict(issue_kinds.most_common()),
        "needs_review": rate(sum(r.needs_review for r in results), total),
        "degraded": rate(sum(r.degraded for r in results), total),
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
        "calibration": calibration(results),
        "confidently_wrong": confidently_wrong(results),
    }
