"""Heuristic severity: explicit labels, qualified wording and measured numbers, weighed into one P-level."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.reading import Reading
from bot.triage.rules import SEVERITY_ORDER, LabelLevel, RuleSet, Text, severity_rank

_DEFAULT_SEVERITY = "P3"
_DEFAULT_SEVERITY_CONFIDENCE = 0.35

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
    r"(?:fill|run out|exhaust)\w*\W+(?:\w+\W+){0,4}?(?:in|within)\W+(?:the\s+next\s+)?(\d+(?:\.\d+)?)\s*"
    r"(hours?|h|days?|d|minutes?|min)\b"
)

# "only 2.1% available inodes left", "4% free space remaining": the share of a capacity still left
_LEFT_SHARE = re.compile(
    r"(\d{1,3}(?:\.\d{1,3})?)\s?%\s(?:of\s)?(?:[a-z]+\s){0,2}?(?:left|remaining|free|available)\b"
)
# "94% of maxmemory used", "disk 97% full": the share of a capacity already used
_USED_SHARE = re.compile(
    r"(\d{1,3}(?:\.\d{1,3})?)\s?%\s(?:of\s(?:[a-z]+\s){0,2}?)?(?:used|full|in use|utili[sz]ed|consumed)\b"
)
# "Space used: 48.9 GB of 50 GB", "used 1.9 TiB of 2 TiB": an amount used of a capacity, in one unit
_USED_OF = re.compile(
    r"used\W{0,3}(\d{1,7}(?:\.\d{1,3})?)\s?([kmgtp]i?b|bytes)\s(?:of|/)\s(\d{1,7}(?:\.\d{1,3})?)\s?([kmgtp]i?b|bytes)\b"
)
_CAPACITY_WORDS = ("disk", "filesystem", "file system", "inode", "space", "storage", "volume", "capacity", "quota",
                   "memory")


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


def _less_severe(severity: str) -> str:
    return SEVERITY_ORDER[min(severity_rank(severity) + 1, len(SEVERITY_ORDER) - 1)]


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


def term_signals(rs: RuleSet, found: dict[int, str], prepared: Text, *, labelled: bool) -> list[Signal]:
    signals: list[Signal] = []
    for index, term in found.items():
        rule = rs.rules[index]
        if rule.severity is None or (labelled and rule.unlabelled_only):
            continue
        severity = rule.severity
        context = _term_context(rs, prepared.words, term)
        if context == "negated" and (rule.hedgeable or severity in ("P0", "P1")):
            # "not customer facing", "no data loss": a negated grave statement is no evidence, hedgeable or not
            continue
        if rule.hedgeable and context == "hedged":
            severity = _less_severe(severity)
        signals.append(Signal(severity, rule.confidence, rule.reason, term, rule.id))
    return signals


def measured_percent(text: str) -> float | None:
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


def numeric_signals(rs: RuleSet, ids: frozenset[str], lowered: str, measured: float | None) -> list[Signal]:
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
    if ("%" in lowered or "used" in lowered) and any(word in lowered for word in _CAPACITY_WORDS):
        shares = [float(hit.group(1)) for hit in _LEFT_SHARE.finditer(lowered[:20_000])]
        left = min(shares) if shares else None
        used = [float(hit.group(1)) for hit in _USED_SHARE.finditer(lowered[:20_000])]
        used += [100.0 * float(hit.group(1)) / float(hit.group(3)) for hit in _USED_OF.finditer(lowered[:20_000])
                 if hit.group(2) == hit.group(4) and float(hit.group(3)) > 0]
        if used and max(used) <= 100:
            left = min(left if left is not None else 100.0, 100.0 - max(used))
        if left is not None and left <= limits.get("capacity_left_p2_percent", 15.0):
            severity = "P1" if left <= limits.get("capacity_left_p1_percent", 5.0) else "P2"
            signals.append(Signal(severity, 0.6, "capacity nearly used up", f"{100 - left:g} % used", "capacity_left"))
    fill = _FILL.search(lowered) if ("fill" in lowered or "run out" in lowered or "exhaust" in lowered) else None
    if fill is not None:
        number, unit = float(fill.group(1)), fill.group(2)
        hours = number * 24 if unit.startswith("d") else number / 60 if unit.startswith("m") else number
        severity = "P1" if hours <= limits.get("fill_p1_hours", 6) else "P2"
        signals.append(Signal(severity, 0.65, "capacity runs out soon", f"{hours:g} hours", "fill_time"))
    return signals


def strongest_signal(signals: list[Signal]) -> Signal | None:
    if not signals:
        return None
    return min(signals, key=lambda signal: (severity_rank(signal.severity), -signal.confidence))


def _label_word(hit: re.Match[str]) -> str:
    word = hit.group(hit.lastindex or 0)
    return re.sub(r"[-_ ]", "", word.lower())


# Words a label line may hold besides key=value pairs: the label's own name.
_LABEL_KEYS = frozenset({"severity", "priority", "urgency", "sev", "level", "prio", "labels", "label"})
_PROSE_WORD = re.compile(r"[a-z][a-z'-]*[,.;!?]?")


def in_label_position(text: str, start: int) -> bool:
    """A label lives at a line start or after the alert name, key=value pairs and punctuation, not in prose."""
    line_start = text.rfind("\n", 0, start) + 1
    prefix = text[max(line_start, start - 300) : start]
    for token in prefix.split():
        if _PROSE_WORD.fullmatch(token) and token.strip(",.;!?") not in _LABEL_KEYS:
            return False
    return True


def find_label(rs: RuleSet, text: str, lowered: str) -> LabelHit | None:
    for source in rs.label_sources:
        if source.hints and not any(hint in lowered for hint in source.hints):
            continue
        table = rs.labels[source.table]
        best: LabelHit | None = None
        for hit in source.pattern.finditer(text):
            if source.position == "field" and not in_label_position(text, hit.start()):
                continue
            word = _label_word(hit)
            level = table.get(word)
            if level is None:
                continue
            candidate = LabelHit(source.id, word, level, source.confidence)
            if source.pick == "first":
                return candidate
            if best is None or severity_rank(level.default) < severity_rank(best.level.default):
                best = candidate
        if best is not None:
            return best
    return None


# Label keys read from any tool's label field when it has no scale of its own.
_GENERIC_LABEL_KEYS = ("severity", "priority", "urgency", "level")


def reading_label(rs: RuleSet, reading: Reading) -> LabelHit | None:
    """The severity label in the tool's own label field, mapped by the tool's own scale."""
    if not reading.labels:
        return None
    lowered = {key.lower(): value for key, value in reading.labels.items()}
    for key in (*_GENERIC_LABEL_KEYS, *(k for (source, k) in rs.vendor_scales if source == reading.source)):
        value = lowered.get(key)
        if not value:
            continue
        table_name = rs.vendor_scales.get((reading.source, key)) or rs.vendor_scales.get(("*", key), "default")
        first = value.split()[0] if value.split() else value
        word = re.sub(r"[-_ `*():]", "", first.lower())
        level = rs.labels[table_name].get(word)
        if level is not None:
            return LabelHit(f"{reading.source}:{key}", word, level, 0.8 if table_name == "default" else 0.7)
    return None


def decide_severity(label: LabelHit | None, signal: Signal | None) -> tuple[str, str, float]:
    if label is not None:
        level = label.level
        if signal is None:
            return level.default, "label", label.confidence
        rank = min(max(severity_rank(signal.severity), severity_rank(level.most)), severity_rank(level.least))
        return SEVERITY_ORDER[rank], "label", label.confidence
    if signal is not None:
        return signal.severity, "inferred", signal.confidence
    return _DEFAULT_SEVERITY, "default", _DEFAULT_SEVERITY_CONFIDENCE


def strip_event_fields(text: str) -> str:
    kept = []
    for line in text.splitlines():
        if line.startswith("Priority:"):
            continue
        kept.append(line.split(" | ", 1)[0])
    return "\n".join(kept)
