"""Rule-based triage: a valid card from the alert text alone, deterministic, offline and fast."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from bot.card import STEP_MAX, SUMMARY_LINE_MAX, TriageCard
from bot.triage.rules import SEVERITY_ORDER, LabelLevel, Rule, RuleSet, Text, default_rules

_CATEGORY_ORDER: tuple[str, ...] = ("security", "data", "app", "infra")
_DEFAULT_SEVERITY = "P3"
_DEFAULT_SEVERITY_CONFIDENCE = 0.35
_UNKNOWN_CATEGORY_CONFIDENCE = 0.25

# --- what the alert says about itself -------------------------------------------------------------
_FIRING = re.compile(r"^\s*(?::\w+:\s*)?\[(FIRING|RESOLVED)(?::(\d+))?\]\s*", re.IGNORECASE)
_RESOLVED = re.compile(r"\[RESOLVED\b|\bstatus\s*[=:]\s*\"?resolved\b", re.IGNORECASE)
_SLACK_TITLE = re.compile(r"^\*Alert:\*\s*(.+)$", re.MULTILINE)
_SLACK_DESCRIPTION = re.compile(r"^\*Description:\*\s*(.+)$", re.MULTILINE)
_RULE_LINE = re.compile(r"^Rule:\s*(.+)$", re.MULTILINE)
_FALCO_EVENT = re.compile(
    r"\d{4}-\d\d-\d\dT[\d:.]+(?:[+-]\d\d:?\d\d|Z)?:\s+"
    r"(?:(?:Emergency|Alert|Critical|Error|Warning|Notice|Informational|Info|Debug)\s+)?"
    r"(.+?)(?:\s+\|\s|$)",
    re.MULTILINE,
)
_PG_LINE = re.compile(r"(?:([\w.-]+)@([\w.-]+) )?(?:LOG|ERROR|FATAL|PANIC|WARNING):\s+(.+)$", re.MULTILINE)
_FIELD = re.compile(
    r"\b(instance|job|namespace|k8s_ns_name|k8s_pod_name|pod|container_name|service|hostname|host|cluster"
    r"|process|user)"
    r"\s*[=:]\s*\"?([A-Za-z0-9][^\s,;\]\)\"|]*)"
)
_PG_DETAIL = re.compile(r"(?:DETAIL|HINT):\s+(.+)$")
_FIELD_NAMES = {"k8s_ns_name": "namespace", "k8s_pod_name": "pod", "container_name": "container", "hostname": "host"}
_PAREN_INSTANCE = re.compile(r"\s*\(instance ([^)\s]+)\)")
_FALCO_HOST = re.compile(r"^Falco alert on (\S+)", re.MULTILINE)
_LEADING_STAMP = re.compile(
    r"^(?:\d{4}-\d\d-\d\d[T ][\d:.,]+(?:\s?(?:[+-]\d\d:?\d\d|Z|UTC))?\s*|\[\d+\]\s*|:\w+:\s*)+"
)
_SYSLOG_PREFIX = re.compile(r"^[A-Z][a-z]{2}\s+\d+\s[\d:]+\s(\S+)\s[\w./-]+(?:\[\d+\])?:\s*")
_EXCEPTION_LINE = re.compile(
    r"^\s*(?:Exception in thread \"[^\"]*\"\s+)?((?:[\w$]+\.)*[\w$]*(?:Exception|Error)\b(?::[^\n]*)?)$",
    re.MULTILINE,
)
_LOOSE_PLACE = re.compile(
    r"\b(?i:on|host|pod|node|instance)\s+(?:host\s+)?\"?((?=[\w.@/-]*[\d.@/-])[A-Za-z0-9][\w.@/-]*[A-Za-z0-9])\"?"
)
_CAMEL_GAP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SAFE_TARGET = re.compile(r"[^\w.:/@ ()-]")

# --- numbers that change severity ---------------------------------------------------------------------
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s?%")
_THRESHOLD_BEFORE = re.compile(
    r"(?:[<>=≥≤]|\bthan|\babove|\bover|\bexceeds?|\bbelow|\bunder|\bleast|\bmost|\bthreshold|\blimit)\s*$"
)
_VALUE = re.compile(r"\bVALUE\s*=\s*(\d+(?:\.\d+)?)")
_EXPIRY = re.compile(
    r"expir\w*\W+(?:\w+\W+){0,4}?(?:in|within)\W+(\d+(?:\.\d+)?)\s*(days?|d|hours?|h)\b"
    r"|(\d+(?:\.\d+)?)\s*(days?|hours?)\s+(?:left|remaining|until|before)",
)
_FILL = re.compile(
    r"(?:fill|run out|exhaust)\w*\W+(?:\w+\W+){0,4}?(?:in|within)\W+(\d+(?:\.\d+)?)\s*(hours?|h|days?|d|minutes?|min)\b"
)


@dataclass(frozen=True)
class Signal:
    """One reason for a severity, with how much it is worth."""

    severity: str
    confidence: float
    reason: str
    evidence: str
    rule: str


@dataclass(frozen=True)
class LabelHit:
    """An explicit severity label found in the alert."""

    source: str
    word: str
    level: LabelLevel
    confidence: float


@dataclass(frozen=True)
class AlertFields:
    """The parts of an alert a card is built from."""

    title: str
    description: str
    where: tuple[tuple[str, str], ...]
    target: str
    firing: int


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
        reduced = _strip_event_fields(text)
        severity_text = rs.prepare(reduced)
        severity_found = rs.match(severity_text)
    severity_ids = frozenset(rs.rules[index].id for index in severity_found)

    label = _find_label(rs, text, prepared.lowered)
    signals = _signals(rs, severity_found, severity_text, labelled=label is not None)
    measured = _measured_percent(text) if severity_ids & {"http_5xx", "http_4xx", "error_rate"} else None
    signals.extend(_numeric_signals(rs, severity_ids, severity_text.lowered, measured))
    signal = _strongest(signals)
    severity, basis, severity_confidence = _decide_severity(label, signal)
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


# --- severity -----------------------------------------------------------------------------------------
def _rank(severity: str) -> int:
    return SEVERITY_ORDER.index(severity)


def _less_severe(severity: str) -> str:
    return SEVERITY_ORDER[min(_rank(severity) + 1, len(SEVERITY_ORDER) - 1)]


def _term_context(rs: RuleSet, words: list[str], term: str) -> str:
    """'plain', 'hedged' or 'negated': how the first words before a term qualify it."""
    term_words = term.split(" ")
    size = len(term_words)
    first = term_words[0]
    status = "missing"
    for i, word in enumerate(words):
        if word != first or words[i : i + size] != term_words:
            continue
        if any(w in rs.negations for w in words[max(0, i - rs.negation_window) : i]):
            status = "negated" if status == "missing" else status
            continue
        if any(w in rs.hedges for w in words[max(0, i - rs.hedge_window) : i]):
            status = "hedged"
            continue
        return "plain"
    return "plain" if status == "missing" else status


def _signals(rs: RuleSet, found: dict[int, str], prepared: Text, *, labelled: bool) -> list[Signal]:
    signals: list[Signal] = []
    for index, term in found.items():
        rule = rs.rules[index]
        if rule.severity is None or (labelled and rule.unlabelled_only):
            continue
        severity = rule.severity
        if rule.hedgeable:
            context = _term_context(rs, prepared.words, term)
            if context == "negated":
                continue
            if context == "hedged":
                severity = _less_severe(severity)
        signals.append(Signal(severity, rule.confidence, rule.reason, term, rule.id))
    return signals


def _measured_percent(text: str) -> float | None:
    """The share the alert reports as measured, ignoring thresholds such as '> 5%'."""
    values: list[float] = []
    for hit in _PERCENT.finditer(text):
        before = text[max(0, hit.start() - 12) : hit.start()]
        if _THRESHOLD_BEFORE.search(before):
            continue
        values.append(float(hit.group(1)))
    if values:
        return max(values)
    value = _VALUE.search(text)
    if value is not None and "%" in text:
        number = float(value.group(1))
        if 0 <= number <= 100:
            return number
    return None


def _numeric_signals(rs: RuleSet, ids: frozenset[str], lowered: str, measured: float | None) -> list[Signal]:
    limits = rs.thresholds
    signals: list[Signal] = []
    if "http_5xx" in ids:
        small = measured is not None and measured < limits.get("server_error_rate_p2_below_percent", 2.0)
        signals.append(Signal("P2" if small else "P1", 0.65, "server errors (5xx) returned", "5xx", "http_5xx"))
    elif "http_4xx" in ids and measured is not None:
        high = measured >= limits.get("client_error_rate_p1_percent", 50.0)
        signals.append(
            Signal("P1" if high else "P2", 0.6, "client errors (4xx) returned", f"{measured:g} %", "http_4xx")
        )
    elif "error_rate" in ids and measured is not None:
        high = measured >= limits.get("error_rate_p1_percent", 25.0)
        signals.append(Signal("P1" if high else "P2", 0.6, "a high error rate", f"{measured:g} %", "error_rate"))
    if "certificate" in ids:
        expiry = _EXPIRY.search(lowered)
        if expiry is not None:
            number = float(expiry.group(1) or expiry.group(3))
            unit = expiry.group(2) or expiry.group(4)
            days = number / 24 if unit.startswith("h") else number
            if days <= limits.get("cert_p1_days", 3):
                severity = "P1"
            elif days <= limits.get("cert_p2_days", 21):
                severity = "P2"
            else:
                severity = "P3"
            signals.append(Signal(severity, 0.7, "certificate expiry horizon", f"{days:g} days", "cert_expiry"))
    fill = _FILL.search(lowered) if ("fill" in lowered or "run out" in lowered or "exhaust" in lowered) else None
    if fill is not None:
        number, unit = float(fill.group(1)), fill.group(2)
        hours = number * 24 if unit.startswith("d") else number / 60 if unit.startswith("m") else number
        severity = "P1" if hours <= limits.get("fill_p1_hours", 6) else "P2"
        signals.append(Signal(severity, 0.65, "capacity runs out soon", f"{hours:g} hours", "fill_time"))
    return signals


def _strongest(signals: list[Signal]) -> Signal | None:
    if not signals:
        return None
    return min(signals, key=lambda signal: (_rank(signal.severity), -signal.confidence))


def _label_word(hit: re.Match[str]) -> str:
    word = hit.group(hit.lastindex or 0)
    return re.sub(r"[-_ ]", "", word.lower())


def _find_label(rs: RuleSet, text: str, lowered: str) -> LabelHit | None:
    for source in rs.label_sources:
        if source.hints and not any(hint in lowered for hint in source.hints):
            continue
        table = rs.labels[source.table]
        best: LabelHit | None = None
        for hit in source.pattern.finditer(text):
            word = _label_word(hit)
            level = table.get(word)
            if level is None:
                continue
            candidate = LabelHit(source.id, word, level, source.confidence)
            if source.pick == "first":
                return candidate
            if best is None or _rank(level.default) < _rank(best.level.default):
                best = candidate
        if best is not None:
            return best
    return None


def _decide_severity(label: LabelHit | None, signal: Signal | None) -> tuple[str, str, float]:
    if label is not None:
        level = label.level
        if signal is None:
            return level.default, "label", label.confidence
        rank = min(max(_rank(signal.severity), _rank(level.most)), _rank(level.least))
        return SEVERITY_ORDER[rank], "label", label.confidence
    if signal is not None:
        return signal.severity, "inferred", signal.confidence
    return _DEFAULT_SEVERITY, "default", _DEFAULT_SEVERITY_CONFIDENCE


def _strip_event_fields(text: str) -> str:
    kept = []
    for line in text.splitlines():
        if line.startswith("Priority:"):
            continue
        kept.append(line.split(" | ", 1)[0])
    return "\n".join(kept)


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


# --- fields and summary -------------------------------------------------------------------------------
def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip(" ,;:-") + "…"


def _humanise(name: str) -> str:
    return _CAMEL_GAP.sub(" ", name)


def _clean_line(line: str) -> str:
    line = _FIRING.sub("", line)
    line = _SYSLOG_PREFIX.sub("", line)
    line = _LEADING_STAMP.sub("", line)
    line = _PAREN_INSTANCE.sub("", line)
    return line.strip(" *:-—")


def _title_and_description(text: str, lines: list[str]) -> tuple[str, str]:
    slack_title = _SLACK_TITLE.search(text) if "*Alert:*" in text else None
    if slack_title is not None:
        slack_description = _SLACK_DESCRIPTION.search(text)
        return _clean_line(slack_title.group(1)), slack_description.group(1).strip() if slack_description else ""
    falco = _FALCO_EVENT.search(text) if "T" in text and ": " in text and "-" in text else None
    rule_line = _RULE_LINE.search(text) if "Rule:" in text else None
    if falco is not None:
        message = falco.group(1).strip()
        if rule_line is not None:
            return rule_line.group(1).strip(), message
        return message, ""
    first = lines[0]
    if _FIRING.match(first):
        rest = _FIRING.sub("", first)
        head, _, tail = rest.partition(" — ")
        name = head.split(" ", 1)[0]
        if tail:
            return _humanise(name), tail.strip()
        body = [line for line in lines[1:] if not line.lstrip().startswith(("VALUE", "LABELS"))]
        if body:
            return _clean_line(body[0]), body[1].strip() if len(body) > 1 else ""
        return _humanise(name), ""
    pg = _PG_LINE.search(first) if ":  " in first else None
    if pg is not None:
        detail = next((hit for line in lines[1:] if (hit := _PG_DETAIL.search(line))), None)
        return pg.group(3).strip(), detail.group(1).strip() if detail else ""
    if "Exception" in text or "Error" in text:
        exceptions = _EXCEPTION_LINE.findall(text)
        if exceptions:
            # a Python traceback ends with the exception; Java and Go logs start with it
            exception = exceptions[-1] if "Traceback" in text else exceptions[0]
            return exception.strip(), ""
    title = _clean_line(first) or first.strip()
    others = [_clean_line(line) for line in lines[1:]]
    similar = [line for line in others if line.split(" ")[:3] == title.split(" ")[:3]]
    if similar and len(similar) == len(others):
        return title, f"and {len(similar)} more similar lines"
    return title, others[0] if others else ""


def extract_fields(text: str) -> AlertFields:
    """Title, description and location (instance, job, pod, host...) as the alert states them."""
    lines = [line for line in text.splitlines() if line.strip()] or [""]
    title, description = _title_and_description(text, lines)
    where: dict[str, str] = {}
    falco_host = _FALCO_HOST.search(text) if "Falco alert on" in text else None
    if falco_host is not None:
        where["host"] = falco_host.group(1)
    paren = _PAREN_INSTANCE.search(text) if "(instance " in text else None
    if paren is not None:
        where["instance"] = paren.group(1)
    for hit in _FIELD.finditer(text):
        key = hit.group(1).lower()
        key = _FIELD_NAMES.get(key, key)
        value = hit.group(2).rstrip(".:")
        if key not in where and value and value.lower() not in ("<na>", "null", "none"):
            where[key] = value
    pg = _PG_LINE.search(text) if ":  " in text else None
    if pg is not None and pg.group(2):
        where.setdefault("database", f"{pg.group(2)} (user {pg.group(1)})")
    if not where:
        syslog = _SYSLOG_PREFIX.match(lines[0])
        loose = _LOOSE_PLACE.search(text)
        if syslog is not None:
            where["host"] = syslog.group(1)
        elif loose is not None:
            where["near"] = loose.group(1)
    target = next(
        (where[key] for key in ("instance", "pod", "container", "host", "service", "job", "near") if key in where),
        "",
    )
    if not target and "database" in where:
        target = f"database {where['database'].split(' ', 1)[0]}"
    if not target and "process" in where:
        target = f"the host running {where['process']}"
    safe_target = _SAFE_TARGET.sub("", target)[:60] or "the affected component"
    firing = _FIRING.match(lines[0])
    count = int(firing.group(2)) if firing is not None and firing.group(2) else 1
    order = (
        "host", "instance", "job", "service", "cluster", "namespace", "pod", "container", "database", "process", "user",
        "near",
    )
    ordered = tuple((key, _clip(where[key], 80)) for key in order if key in where)
    return AlertFields(title=title, description=description, where=ordered, target=safe_target, firing=count)


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
            _clip(what, SUMMARY_LINE_MAX),
            _clip(f"Where: {where}", SUMMARY_LINE_MAX),
            _clip(f"How bad: {how}", SUMMARY_LINE_MAX),
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
