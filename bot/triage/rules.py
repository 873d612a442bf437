"""Heuristic rules as data: load the TOML rules file, compile it once, and match text against it."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

SEVERITY_ORDER: tuple[str, ...] = ("P0", "P1", "P2", "P3")


def severity_rank(severity: str) -> int:
    """0 for P0 (the gravest) to 3 for P3."""
    return SEVERITY_ORDER.index(severity)
CATEGORY_NAMES: frozenset[str] = frozenset({"infra", "app", "data", "security", "unknown"})

_PLAIN_WORD = re.compile(r"[a-z0-9]+")
# CamelCase pieces: "PatroniHasNoLeader" -> Patroni Has No Leader, "IPMIVoltage" -> IPMI Voltage
_SPLIT_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")


class RulesError(ValueError):
    """The rules file is malformed; the message names the rule and the problem."""


def plain_words(text: str) -> list[str]:
    """Lowercase alphanumeric runs, CamelCase left whole ("mysql", "crashloopbackoff")."""
    return _PLAIN_WORD.findall(text.lower())


def split_words(text: str) -> list[str]:
    """Lowercase words with CamelCase and letter/digit runs split apart."""
    return " ".join(_SPLIT_WORD.findall(text)).lower().split(" ")


def term_key(term: str) -> str:
    """The form a term is looked up under: one plain word, or split words joined by spaces."""
    plain = plain_words(term)
    if len(plain) == 1:
        return plain[0]
    return " ".join(split_words(term.lower()))


@dataclass(frozen=True)
class Rule:
    """One piece of evidence: a category vote, a severity signal, a named facet, or several."""

    id: str
    category: str | None = None
    weight: float = 0.0
    label: str = ""
    severity: str | None = None
    reason: str = ""
    confidence: float = 0.5
    hedgeable: bool = False
    unlabelled_only: bool = False
    # a stated loss of service: outranks a lower severity label (and the conflict asks for review)
    outranks_label: bool = False
    # proof of the category on its own: a model answer that says otherwise is overruled
    decisive: bool = False
    # context that bounds how severe the card can be, whatever the label ("non-production", "1 of 6 hosts")
    caps: str | None = None


@dataclass(frozen=True)
class Playbook:
    """Three next steps for a category, used when every rule in `when` matched."""

    id: str
    category: str
    when: frozenset[str]
    priority: float
    steps: tuple[str, str, str]
    failure: str = ""
    # the tools (reading sources) the playbook is for, or () for any; and the tools it never fits
    sources: frozenset[str] = frozenset()
    not_sources: frozenset[str] = frozenset()


@dataclass(frozen=True)
class LabelLevel:
    """What an explicit severity label means: a default and the range inference may move within."""

    default: str
    most: str
    least: str


@dataclass(frozen=True)
class LabelSource:
    """A regular expression that finds a severity label word, and the table that maps it."""

    id: str
    pattern: re.Pattern[str]
    table: str
    confidence: float
    pick: str = "first"
    hints: tuple[str, ...] = ()
    # "field": only where labels live (line start, a label set, after the alert name), never in prose
    position: str = "anywhere"


@dataclass(frozen=True)
class Text:
    """A text cut into the word forms the rules are matched on."""

    lowered: str
    words: list[str]
    grams: frozenset[str]


@dataclass(frozen=True)
class RuleSet:
    """The compiled rules: term index, patterns, labels, playbooks and tuning values."""

    rules: tuple[Rule, ...]
    index: Mapping[str, tuple[int, ...]]
    phrase_starts: Mapping[str, int]
    patterns: tuple[tuple[re.Pattern[str], tuple[int, ...]], ...]
    vetoes: Mapping[int, frozenset[str]]
    requirements: Mapping[int, tuple[int, ...]]
    playbooks: tuple[Playbook, ...]
    labels: Mapping[str, Mapping[str, LabelLevel]]
    label_sources: tuple[LabelSource, ...]
    hedges: frozenset[str]
    negations: frozenset[str]
    hedge_window: int
    negation_window: int
    unknown_below: float
    thresholds: Mapping[str, float]
    by_id: Mapping[str, int] = field(default_factory=dict)
    # reading source -> (category, weight): what kind of thing the tool that wrote the text watches
    source_votes: Mapping[str, tuple[str, float]] = field(default_factory=dict)
    # (reading source, label key) -> label table: a vendor's own severity scale
    vendor_scales: Mapping[tuple[str, str], str] = field(default_factory=dict)
    by_category: Mapping[str, tuple[Playbook, ...]] = field(default_factory=dict)

    def prepare(self, text: str) -> Text:
        """Cut text into words and the phrases (up to the longest term) that start a known term."""
        lowered = text.lower()
        words = split_words(text) if text else []
        grams: set[str] = set(words)
        grams.update(_PLAIN_WORD.findall(lowered))
        starts = self.phrase_starts
        count = len(words)
        for i, word in enumerate(words):
            longest = starts.get(word)
            if longest is not None:
                phrase = word
                for j in range(i + 1, min(i + longest, count)):
                    phrase = f"{phrase} {words[j]}"
                    grams.add(phrase)
        return Text(lowered=lowered, words=words, grams=frozenset(grams))

    def match(self, prepared: Text) -> dict[int, str]:
        """Rule index -> the term (or pattern text) that matched first, vetoes applied."""
        found: dict[int, str] = {}
        index = self.index
        for gram in prepared.grams & index.keys():
            for rule_index in index[gram]:
                previous = found.get(rule_index)
                # keep the longest term: it says most about where and how it matched (ties: the first
                # in alphabetical order, so the choice never depends on set iteration order)
                if previous is None or (len(gram), previous) > (len(previous), gram):
                    found[rule_index] = gram
        for pattern, rule_indices in self.patterns:
            hit = pattern.search(prepared.lowered)
            if hit is not None:
                for rule_index in rule_indices:
                    found.setdefault(rule_index, hit.group(0).strip())
        for rule_index, veto in self.vetoes.items():
            if rule_index in found and not veto.isdisjoint(prepared.grams):
                del found[rule_index]
        for rule_index, needed in self.requirements.items():
            if rule_index in found and not all(other in found for other in needed):
                del found[rule_index]
        # Rule order, not hash order: whoever reads the matches sees them the same way in every process.
        return dict(sorted(found.items()))

    def playbooks_for(self, category: str) -> tuple[Playbook, ...]:
        """Playbooks that may serve a category, highest priority first."""
        return self.by_category.get(category, ())


def _need(table: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in table:
        raise RulesError(f"{where}: missing '{key}'")
    return table[key]


def _severity(value: Any, where: str) -> str:
    if value not in SEVERITY_ORDER:
        raise RulesError(f"{where}: severity must be one of {', '.join(SEVERITY_ORDER)}, got {value!r}")
    return str(value)


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise RulesError(f"{where}: expected a list of strings")
    return list(value)


def _compile(pattern: str, where: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.MULTILINE)
    except re.error as exc:
        raise RulesError(f"{where}: bad pattern {pattern!r}: {exc}") from exc


def _build_rules(
    raw_rules: Sequence[Mapping[str, Any]],
) -> tuple[
    list[Rule], dict[str, list[int]], list[tuple[re.Pattern[str], int]], dict[int, frozenset[str]]
]:
    rules: list[Rule] = []
    index: dict[str, list[int]] = {}
    patterns: list[tuple[re.Pattern[str], int]] = []
    vetoes: dict[int, frozenset[str]] = {}
    seen: set[str] = set()
    for position, raw in enumerate(raw_rules):
        rule_id = str(_need(raw, "id", f"rule #{position + 1}"))
        where = f"rule '{rule_id}'"
        if rule_id in seen:
            raise RulesError(f"{where}: duplicate id")
        seen.add(rule_id)
        category = raw.get("category")
        if category is not None and category not in CATEGORY_NAMES:
            raise RulesError(f"{where}: unknown category {category!r}")
        severity = _severity(raw["severity"], where) if "severity" in raw else None
        rule = Rule(
            id=rule_id,
            category=category,
            weight=float(raw.get("weight", 1.0 if category else 0.0)),
            label=str(raw.get("label", "")),
            severity=severity,
            reason=str(raw.get("reason", "")),
            confidence=float(raw.get("confidence", 0.5)),
            hedgeable=bool(raw.get("hedgeable", severity in ("P0", "P1"))),
            unlabelled_only=bool(raw.get("unlabelled_only", False)),
            outranks_label=bool(raw.get("outranks_label", False)),
            decisive=bool(raw.get("decisive", False)),
            caps=_severity(raw["caps"], where) if "caps" in raw else None,
        )
        terms = _strings(raw.get("terms", []), where)
        raw_patterns = _strings(raw.get("patterns", []), where)
        if not terms and not raw_patterns:
            raise RulesError(f"{where}: needs terms or patterns")
        number = len(rules)
        rules.append(rule)
        for term in terms:
            key = term_key(term)
            if not key:
                raise RulesError(f"{where}: empty term {term!r}")
            index.setdefault(key, [])
            if number not in index[key]:
                index[key].append(number)
        for pattern in raw_patterns:
            patterns.append((_compile(pattern, where), number))
        unless = [term_key(term) for term in _strings(raw.get("unless", []), where)]
        if unless:
            vetoes[number] = frozenset(unless)
    return rules, index, patterns, vetoes


def _build_labels(raw: Mapping[str, Any]) -> dict[str, dict[str, LabelLevel]]:
    tables: dict[str, dict[str, LabelLevel]] = {}
    for table_name, table in raw.items():
        levels: dict[str, LabelLevel] = {}
        for word, value in table.items():
            where = f"labels.{table_name}.{word}"
            if not isinstance(value, list) or len(value) != 3:
                raise RulesError(f"{where}: expected [default, most severe, least severe]")
            default, most, least = (_severity(item, where) for item in value)
            if not SEVERITY_ORDER.index(most) <= SEVERITY_ORDER.index(default) <= SEVERITY_ORDER.index(least):
                raise RulesError(f"{where}: default must lie inside the range")
            levels[word.lower()] = LabelLevel(default, most, least)
        tables[table_name] = levels
    return tables


def _build_playbooks(raw_books: Sequence[Mapping[str, Any]], rule_ids: set[str]) -> list[Playbook]:
    books: list[Playbook] = []
    for position, raw in enumerate(raw_books):
        book_id = str(_need(raw, "id", f"playbook #{position + 1}"))
        where = f"playbook '{book_id}'"
        category = str(_need(raw, "category", where))
        if category != "any" and category not in CATEGORY_NAMES:
            raise RulesError(f"{where}: unknown category {category!r}")
        when = tuple(_strings(raw.get("when", []), where))
        missing = [rule_id for rule_id in when if rule_id not in rule_ids]
        if missing:
            raise RulesError(f"{where}: 'when' names unknown rules {missing}")
        steps = _strings(_need(raw, "steps", where), where)
        if len(steps) != 3 or len({step.casefold() for step in steps}) != 3:
            raise RulesError(f"{where}: needs exactly three distinct steps")
        books.append(
            Playbook(
                id=book_id,
                category=category,
                when=frozenset(when),
                priority=float(raw.get("priority", 0)),
                steps=(steps[0], steps[1], steps[2]),
                failure=str(raw.get("failure", "")),
                sources=frozenset(_strings(raw.get("sources", []), where)),
                not_sources=frozenset(_strings(raw.get("not_sources", []), where)),
            )
        )
    books.sort(key=lambda book: -book.priority)
    return books


def compile_rules(data: Mapping[str, Any]) -> RuleSet:
    """Validate parsed TOML and build the matching structures."""
    raw_rules = data.get("rule", [])
    rules, index, patterns, vetoes = _build_rules(raw_rules)
    by_id = {rule.id: number for number, rule in enumerate(rules)}
    requirements: dict[int, tuple[int, ...]] = {}
    for number, raw in enumerate(raw_rules):
        needed = _strings(raw.get("requires", []), f"rule '{rules[number].id}'")
        unknown = [rule_id for rule_id in needed if rule_id not in by_id or by_id[rule_id] == number]
        if unknown:
            raise RulesError(f"rule '{rules[number].id}': 'requires' names unknown rules {unknown}")
        if needed:
            requirements[number] = tuple(by_id[rule_id] for rule_id in needed)
    labels = _build_labels(data.get("labels", {}))
    sources: list[LabelSource] = []
    for position, raw in enumerate(data.get("label_source", [])):
        source_id = str(_need(raw, "id", f"label_source #{position + 1}"))
        where = f"label_source '{source_id}'"
        table = str(_need(raw, "table", where))
        if table not in labels:
            raise RulesError(f"{where}: unknown label table {table!r}")
        pick = str(raw.get("pick", "first"))
        if pick not in ("first", "max"):
            raise RulesError(f"{where}: pick must be 'first' or 'max'")
        place = str(raw.get("position", "anywhere"))
        if place not in ("anywhere", "field"):
            raise RulesError(f"{where}: position must be 'anywhere' or 'field'")
        sources.append(
            LabelSource(
                id=source_id,
                pattern=_compile(str(_need(raw, "pattern", where)), where),
                table=table,
                confidence=float(raw.get("confidence", 0.8)),
                pick=pick,
                hints=tuple(hint.lower() for hint in _strings(raw.get("hints", []), where)),
                position=place,
            )
        )
    shared: dict[str, tuple[re.Pattern[str], list[int]]] = {}
    for pattern, number in patterns:
        entry = shared.setdefault(pattern.pattern, (pattern, []))
        if number not in entry[1]:
            entry[1].append(number)
    settings = data.get("settings", {})
    starts: dict[str, int] = {}
    # veto phrases are looked up among the same grams, so they must be cut from the text too
    for key in (*index, *(phrase for veto in vetoes.values() for phrase in veto)):
        if " " in key:
            first = key.split(" ", 1)[0]
            starts[first] = max(starts.get(first, 1), key.count(" ") + 1)
    playbooks = tuple(_build_playbooks(data.get("playbook", []), set(by_id)))
    by_category = {
        name: tuple(book for book in playbooks if book.category in (name, "any")) for name in CATEGORY_NAMES
    }
    return RuleSet(
        rules=tuple(rules),
        index={key: tuple(value) for key, value in index.items()},
        phrase_starts=starts,
        patterns=tuple((pattern, tuple(numbers)) for pattern, numbers in shared.values()),
        vetoes=vetoes,
        requirements=requirements,
        playbooks=playbooks,
        labels=labels,
        label_sources=tuple(sources),
        hedges=frozenset(settings.get("hedges", [])),
        negations=frozenset(settings.get("negations", [])),
        hedge_window=int(settings.get("hedge_window", 4)),
        negation_window=int(settings.get("negation_window", 2)),
        unknown_below=float(settings.get("unknown_below", 1.0)),
        thresholds={key: float(value) for key, value in data.get("thresholds", {}).items()},
        by_id=by_id,
        by_category=by_category,
        source_votes=_source_votes(data.get("source_category", {})),
        vendor_scales=_vendor_scales(data.get("vendor_scale", []), labels),
    )


def _source_votes(raw: Mapping[str, Any]) -> dict[str, tuple[str, float]]:
    votes: dict[str, tuple[str, float]] = {}
    for source, value in raw.items():
        where = f"source_category.{source}"
        if not isinstance(value, list) or len(value) != 2 or value[0] not in CATEGORY_NAMES:
            raise RulesError(f"{where}: expected [category, weight]")
        votes[source] = (str(value[0]), float(value[1]))
    return votes


def _vendor_scales(raw: Sequence[Mapping[str, Any]], labels: Mapping[str, Any]) -> dict[tuple[str, str], str]:
    scales: dict[tuple[str, str], str] = {}
    for position, entry in enumerate(raw):
        where = f"vendor_scale #{position + 1}"
        table = str(_need(entry, "table", where))
        if table not in labels:
            raise RulesError(f"{where}: unknown label table {table!r}")
        for source in _strings(_need(entry, "sources", where), where):
            for key in _strings(_need(entry, "keys", where), where):
                scales[(source, key.lower())] = table
    return scales


def load_rules(path: str | Path | None = None) -> RuleSet:
    """Read and compile a rules file; the packaged rules.toml when no path is given."""
    packaged = resources.files("bot.triage").joinpath("rules.toml")
    raw = packaged.read_bytes() if path is None else Path(path).read_bytes()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"rules file is not valid TOML: {exc}") from exc
    return compile_rules(data)


@lru_cache(maxsize=1)
def default_rules() -> RuleSet:
    """The packaged rules, compiled on first use and kept for the life of the process."""
    return load_rules()
