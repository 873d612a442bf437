"""Rule-based triage: a valid card from the alert text alone, deterministic, offline and fast."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from bot.card import STEP_MAX, SUMMARY_LINE_MAX, TriageCard
from bot.triage.alert_fields import AlertFields, clip, extract_fields
from bot.triage.rules import Rule, RuleSet, default_rules
from bot.triage.severity import (
    LabelHit,
    Signal,
    decide_severity,
    find_label,
    measured_percent,
    numeric_signals,
    strip_event_fields,
    strongest_signal,
    term_signals,
)

_CATEGORY_ORDER: tuple[str, ...] = ("security", "data", "app", "infra")
_UNKNOWN_CATEGORY_CONFIDENCE = 0.25
_RESOLVED = re.compile(r"\[RESOLVED\b|\bstatus\s*[=:]\s*\"?resolved\b", re.IGNORECASE)


@dataclass(frozen=True)
class Analysis:
    """Everything the engine decided and why; heuristic_card turns it into a card."""

    category: str
    scores: dict[str, float]
    subject: str
    severity: str
    basis: str
    label: LabelHit | None
    signal: Signal | None
    measured: float | None
    matched: frozenset[str]
    playbook: str
    steps: tuple[str, str, str]
    confidence: float
    fields: AlertFields


def heuristic_card(text: str) -> TriageCard:
    """Triage an alert with the packaged rules: category, severity, summary, steps, confidence."""
    analysis = analyse(text)
    return TriageCard(
        category=analysis.category,  # type: ignore[arg-type]
        severity=analysis.severity,  # type: ignore[arg-type]
        summary=summarise(analysis),
        steps=list(analysis.steps),
        confidence=analysis.confidence,
    )


def analyse(text: str, rules: RuleSet | None = None) -> Analysis:
    """Run the rules over one alert and return the decisions with their evidence."""
    rs = rules or default_rules()
    prepared = rs.prepare(text)
    found = rs.match(prepared)
    matched_ids = frozenset(rs.rules[index].id for index in found)

    category, scores, subject = _categorise(rs, found)

    # Falco output carries a long field list (process names, file paths) that is evidence of
    # *what* happened but says nothing about how bad it is: infer severity from the message only.
    severity_text, severity_found = prepared, found
    if "falco" in matched_ids:
        reduced = strip_event_fields(text)
        severity_text = rs.prepare(reduced)
        severity_found = rs.match(severity_text)
    severity_ids = frozenset(rs.rules[index].id for index in severity_found)

    label = find_label(rs, text, prepared.lowered)
    signals = term_signals(rs, severity_found, severity_text, labelled=label is not None)
    measured = measured_percent(text) if severity_ids & {"http_5xx", "http_4xx", "error_rate"} else None
    signals.extend(numeric_signals(rs, severity_ids, severity_text.lowered, measured))
    signal = strongest_signal(signals)
    severity, basis, severity_confidence = decide_severity(label, signal)
    if "resolved" in prepared.lowered and _RESOLVED.search(text):
        severity, basis, severity_confidence = "P3", "resolved", 0.8

    all_ids = matched_ids | severity_ids
    fields = extract_fields(text)
    playbook_id, steps = _steps(rs, category, all_ids, fields.target)
    confidence = _confidence(category, scores, severity_confidence)
    return Analysis(
        category=category,
        scores=scores,
        subject=subject,
        severity=severity,
        basis=basis,
        label=label,
        signal=signal,
        measured=measured,
        matched=all_ids,
        playbook=playbook_id,
        steps=steps,
        confidence=confidence,
        fields=fields,
    )


# --- category -----------------------------------------------------------------------------------------
def _categorise(rs: RuleSet, found: dict[int, str]) -> tuple[str, dict[str, float], str]:
    scores: dict[str, float] = {}
    best_rule: dict[str, Rule] = {}
    strongest: dict[str, float] = {}
    for index in found:
        rule = rs.rules[index]
        if rule.category is None or rule.weight <= 0:
            continue
        scores[rule.category] = scores.get(rule.category, 0.0) + rule.weight
        strongest[rule.category] = max(strongest.get(rule.category, 0.0), rule.weight)
        current = best_rule.get(rule.category)
        if rule.label and (current is None or rule.weight > current.weight):
            best_rule[rule.category] = rule
    if not scores:
        return "unknown", scores, "Unclassified alert"
    # on equal totals the category with the single strongest piece of evidence wins
    category = max(
        _CATEGORY_ORDER,
        key=lambda name: (scores.get(name, 0.0), strongest.get(name, 0.0), -_CATEGORY_ORDER.index(name)),
    )
    if scores.get(category, 0.0) < rs.unknown_below:
        return "unknown", scores, "Unclassified alert"
    winner = best_rule.get(category)
    return category, scores, winner.label if winner else category


# --- steps and confidence -----------------------------------------------------------------------------
def _steps(rs: RuleSet, category: str, ids: frozenset[str], target: str) -> tuple[str, tuple[str, str, str]]:
    chosen = next((book for book in rs.playbooks_for(category) if book.when <= ids), None)
    if chosen is None:
        return "none", (
            "Read the full alert and identify the affected service and its owner",
            "Check that service's dashboards and logs around the alert time",
            "Escalate to the owning team if you confirm user impact",
        )
    filled = tuple(_fill_step(step, target) for step in chosen.steps)
    return chosen.id, (filled[0], filled[1], filled[2])


def _fill_step(step: str, target: str) -> str:
    filled = step.replace("{target}", target)
    if len(filled) > STEP_MAX:
        filled = step.replace("{target}", "the affected component")
    return filled[:STEP_MAX]


def _confidence(category: str, scores: dict[str, float], severity_confidence: float) -> float:
    if category == "unknown":
        category_confidence = _UNKNOWN_CATEGORY_CONFIDENCE
    else:
        ranked = sorted(scores.values(), reverse=True)
        top = ranked[0]
        runner_up = ranked[1] if len(ranked) > 1 else 0.0
        strength = min(0.95, 0.45 + 0.1 * top)
        margin = (top - runner_up) / top
        category_confidence = strength * (0.7 + 0.3 * margin)
    return round(math.sqrt(category_confidence * severity_confidence), 2)


# --- summary ------------------------------------------------------------------------------------------
def summarise(analysis: Analysis) -> str:
    """Three lines: what happened, where, and how bad with the reason."""
    fields = analysis.fields
    title = fields.title or "no title"
    subject = analysis.subject
    what = title if title.casefold().startswith(subject.casefold()) else f"{subject}: {title}"
    description = fields.description
    if description and description.casefold() not in title.casefold():
        what = f"{what} — {description}"
    where = ", ".join(value if key == "near" else f"{key} {value}" for key, value in fields.where)
    where = where or "not stated in the alert"
    how = f"{analysis.severity} ({analysis.category}), {_basis_text(analysis)}"
    if analysis.measured is not None:
        how = f"{how}; measured {analysis.measured:g} %"
    if fields.firing > 1:
        how = f"{how}; {fields.firing} alerts firing"
    return "\n".join(
        (
            clip(what, SUMMARY_LINE_MAX),
            clip(f"Where: {where}", SUMMARY_LINE_MAX),
            clip(f"How bad: {how}", SUMMARY_LINE_MAX),
        )
    )


def _basis_text(analysis: Analysis) -> str:
    signal = analysis.signal
    if analysis.basis == "resolved":
        return "the alert is resolved"
    if analysis.basis == "label" and analysis.label is not None:
        text = f"labelled {analysis.label.word}"
        if signal is not None and signal.severity != "P3":
            text = f"{text}; the text shows {signal.reason} ('{signal.evidence}')"
        return text
    if analysis.basis == "inferred" and signal is not None:
        return f"inferred from {signal.reason} ('{signal.evidence}')"
    return "no severity label and no impact stated"
