"""Pure matching: which runbook fits an alert, and which recorded changes concern its service."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from bot.context.runbooks import Runbook

MatchKind = Literal["alert", "service", "text"]

# Words every alert and every runbook uses: they say nothing about which runbook fits.
_STOP_TEXT = """
    a about above after again all also an and any are as at be been before below between both but by can cannot
    check could did do does doing down during each few for from further had has have having here how if in into
    is it its itself just more most no nor not now of off on once only or other out over own same should so some
    such than that the their then there these they this those through to too under until up very was we were what
    when where which while who why will with would you your yes per via
    alert alerts alerting alertname firing fired resolved warning warn critical crit error errors info severity
    high low value values service services instance instances job jobs host hosts server servers node prod
    production staging stage env environment summary description labels label annotations status state
    minute minutes min mins second seconds sec secs hour hours day days ago last now current currently time
    percent pct total count number rate threshold over under since see run runs running use using used
    http https www com org net io example please team oncall call page issue problem failing failed fail failure
    grafana prometheus alertmanager datadog cloudwatch monitor monitoring
    """
STOPWORDS = frozenset(_STOP_TEXT.split())
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]{1,40}")
_CAMEL = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
# A name as a whole token: letters, digits and the joiners service and alert names use.
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,200}")
MAX_QUERY_TERMS = 40


def stem(word: str) -> str:
    """A light stemmer, applied alike to alerts and runbooks: logs/log, failing/fail, restarted/restart."""
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def words(text: str) -> list[str]:
    """Lower-case content words of a text, CamelCase names split too (KubePodCrashLooping: kube pod crash …)."""
    out: list[str] = []
    for match in _WORD.finditer(text[:200_000]):
        word = match.group(0)
        parts = [word] if word.islower() or word.isupper() else [word, *_CAMEL.findall(word)]
        for part in parts:
            lower = part.lower()
            if len(lower) >= 3 and lower not in STOPWORDS and not lower.isdigit():
                out.append(lower)
    return out


def terms(text: str) -> set[str]:
    return {stem(word) for word in words(text)}


def tokens(text: str) -> set[str]:
    """Whole tokens, case-folded, with trailing punctuation dropped: the form names are compared in."""
    return {t.rstrip(".:/-").casefold() for t in _TOKEN.findall(text[:200_000])}


# What Kubernetes appends to a workload's name: a StatefulSet ordinal, a ReplicaSet hash and pod suffix,
# a DaemonSet or Job suffix. `payments-api-0` and `payments-api-7f9c8d5b4-x2kq7` are pods of `payments-api`.
_SAFE = "[bcdfghjklmnpqrstvwxz2-9]"  # the alphabet of Kubernetes' generated names: no vowels, no 0, 1, 3
_GENERATED = re.compile(rf"\d{{1,4}}|{_SAFE}{{6,10}}-{_SAFE}{{5}}|{_SAFE}{{5}}")


def names(seen: set[str], name: str) -> bool:
    """Does the text hold `name` as a whole token, or as a pod of it (with a generated suffix)?"""
    name = name.casefold()
    if name in seen:
        return True
    prefix = name + "-"
    return any(
        token.startswith(prefix) and _GENERATED.fullmatch(token[len(prefix):]) is not None for token in seen
    )


def query_terms(text: str, limit: int = MAX_QUERY_TERMS) -> list[str]:
    """The words a full-text search is asked with: distinct, longest (most specific) first."""
    distinct = sorted(set(words(text)), key=lambda w: (-len(w), w))
    return distinct[:limit]


@dataclass(frozen=True)
class Subject:
    """What the context stage needs to know about an alert (from its reading, or from the text alone)."""

    text: str
    alert_name: str = ""
    services: tuple[str, ...] = ()
    environment: str = ""


@dataclass(frozen=True)
class RunbookMatch:
    runbook: Runbook
    kind: MatchKind
    score: float = 0.0


def by_front_matter(subject: Subject, runbooks: Iterable[Runbook]) -> RunbookMatch | None:
    """A runbook whose front matter names the alert (first) or one of its services.

    The alert's structured name and services count first; a name written as a whole token in the text
    (as CamelCase alert names and service names are) counts too.
    """
    books = sorted(runbooks, key=lambda r: r.path)
    name = subject.alert_name.casefold()
    services = {s.casefold() for s in subject.services if s}
    seen = tokens(subject.text)
    for book in books:
        if name and name in {a.casefold() for a in book.alerts}:
            return RunbookMatch(book, "alert")
    for book in books:
        if any(a.casefold() in seen for a in book.alerts):
            return RunbookMatch(book, "alert")
    for book in books:
        if services & {s.casefold() for s in book.services}:
            return RunbookMatch(book, "service")
    for book in books:
        if any(names(seen, s) for s in book.services):
            return RunbookMatch(book, "service")
    return None


@lru_cache(maxsize=4096)
def heading_terms(book: Runbook) -> frozenset[str]:
    return frozenset(terms(" ".join([book.title, *book.alerts, *book.services])))


@lru_cache(maxsize=4096)
def book_terms(book: Runbook) -> frozenset[str]:
    """Every word of a runbook (computed once per version of the file)."""
    return frozenset(terms(f"{book.title}\n{book.body}")) | heading_terms(book)


def by_text(
    subject: Subject, candidates: Sequence[Runbook], every: Sequence[Runbook] | None = None
) -> RunbookMatch | None:
    """The candidate (from the full-text index) that the alert's words support well enough, or None.

    Relevance asks for agreement on what the runbook is about, not just shared words: at least one of the
    alert's words in the runbook's title or front matter, and at least three shared words overall (two when
    both are in the title). Rarer words (held by fewer runbooks) weigh more.
    """
    wanted = terms(subject.text)
    if not wanted or not candidates:
        return None
    corpus = list(every) if every else list(candidates)
    body_terms = {book.path: book_terms(book) for book in corpus}
    for book in candidates:
        body_terms.setdefault(book.path, book_terms(book))
    frequency: dict[str, int] = {}
    for held in body_terms.values():
        for term in held & wanted:
            frequency[term] = frequency.get(term, 0) + 1
    total = len(body_terms)
    best: RunbookMatch | None = None
    for book in candidates:
        shared = wanted & body_terms[book.path]
        in_title = wanted & heading_terms(book)
        if not in_title or len(shared) < 2 or (len(shared) < 3 and len(in_title) < 2):
            continue
        score = sum(math.log(1 + total / frequency.get(t, 1)) for t in shared) + len(in_title)
        if best is None or score > best.score:
            best = RunbookMatch(book, "text", round(score, 3))
    return best


_ENVIRONMENTS = {
    "prod": "prod", "production": "prod", "prd": "prod", "live": "prod",
    "staging": "staging", "stage": "staging", "stg": "staging", "preprod": "staging", "uat": "staging",
    "dev": "dev", "development": "dev", "qa": "test", "test": "test", "testing": "test", "sandbox": "dev",
}


def environment_class(name: str) -> str:
    """prod, staging, test or dev when the name says so (`eu-prod`, `Production`), else '' (unknown)."""
    found = {_ENVIRONMENTS[w] for w in re.split(r"[^a-z]+", name.casefold()) if w in _ENVIRONMENTS}
    return found.pop() if len(found) == 1 else ""


def related_changes(
    subject: Subject, changes: Sequence[Mapping[str, object]], *, since: float
) -> list[Mapping[str, object]]:
    """The changes, newest first, to a service the alert names, since `since`.

    A service counts when the alert's structure names it, or when the text holds it as a whole token
    (`checkout-api` is not `checkout`) or as one of its pods (`checkout-api-7f9c8d5b4-x2kq7`). When the alert
    and the change name environments of different kinds (production and staging), the change is left out;
    names that say no kind never leave a change out.
    """
    named = {s.casefold() for s in subject.services if s}
    seen = tokens(subject.text)
    env = environment_class(subject.environment)
    out = []
    for change in changes:
        service = str(change.get("service") or "").casefold()
        at = change.get("at")
        if not service or not isinstance(at, int | float) or at < since:
            continue
        if service not in named and not names(seen, service):
            continue
        theirs = environment_class(str(change.get("environment") or ""))
        if env and theirs and env != theirs:
            continue
        out.append(change)
    return sorted(out, key=lambda c: (-float(c["at"]), str(c.get("id") or "")))  # type: ignore[arg-type]
