"""Pure recall decisions: which words to search with, which earlier incidents count as similar, in what order."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

SIMILAR_LIMIT = 3
SEARCH_TERMS = 24
# Ranking cost grows with the documents a query matches: search with the rarest words only, and only
# as many as keep the matched incidents under this many (a word in more incidents says little anyway).
MATCH_BUDGET = 400
QUERY_TERMS = 8
INDEXED_TERMS = 64
# Words of two letters or more; digits, ids and punctuation vary between repeats and say little.
_WORD = re.compile(r"[^\W\d_]{2,}")
# Longer runs of letters are blobs (base64, minified code), not words anyone searches for.
MAX_WORD = 40
_STOP = frozenset(
    {
        "the", "and", "for", "are", "was", "were", "with", "from", "this", "that", "into", "onto", "has", "have",
        "had", "not", "but", "its", "any", "all", "can", "may", "you", "your", "our", "out", "per", "via", "is",
        "in", "on", "of", "to", "at", "by", "be", "as", "or", "an", "it", "if", "no", "so",
    }
)
# A candidate found by full text must share at least this share of the smaller word set.
MIN_OVERLAP = 0.5


def words(text: str, limit: int | None = None) -> list[str]:
    """Distinct lower-case words of a text, in order of first appearance, stop words left out."""
    seen: dict[str, None] = {}
    for match in _WORD.finditer(text.casefold()):
        word = match.group()
        if len(word) <= MAX_WORD and word not in _STOP and word not in seen:
            seen[word] = None
            if limit is not None and len(seen) >= limit:
                break
    return list(seen)


# Texts recur (an alert firing again, a batch of repeats): the search words of recent ones are kept.
_TERMS_KEPT = 4096
_TERMS_KEPT_CHARS = 4000
_terms: dict[str, tuple[str, ...]] = {}


def search_terms(text: str, limit: int = SEARCH_TERMS) -> list[str]:
    """The words a full-text search for incidents like `text` uses (bounded, whatever the input size)."""
    if limit != SEARCH_TERMS or len(text) > _TERMS_KEPT_CHARS:
        return words(text, limit)
    kept = _terms.get(text)
    if kept is None:
        if len(_terms) >= _TERMS_KEPT:
            _terms.clear()
        kept = _terms[text] = tuple(words(text, limit))
    return list(kept)


def rare_terms(
    terms: Sequence[str], documents: Mapping[str, int], *, budget: int = MATCH_BUDGET, limit: int = QUERY_TERMS
) -> list[str]:
    """The rarest of `terms` (by how many indexed incidents hold each) whose incidents add up to `budget`."""
    picked: list[str] = []
    total = 0
    for term in sorted(terms, key=lambda t: (documents.get(t, 0), terms.index(t))):
        count = documents.get(term, 0)
        if count == 0:
            continue  # in no incident: cannot find anything
        if total + count > budget or len(picked) >= limit:
            break
        picked.append(term)
        total += count
    return picked


def overlap(query: Iterable[str], candidate: Iterable[str]) -> float:
    """Shared words over the smaller set: 1.0 when one text's words all appear in the other."""
    a, b = set(query), set(candidate)
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


@lru_cache(maxsize=2048)
def _indexed_terms(text: str) -> frozenset[str]:
    # An indexed incident's text never changes and comes back in search after search: its words once.
    return frozenset(search_terms(text))


def related(query_words: Iterable[str], candidate_text: str) -> bool:
    """Is a full-text hit close enough to show as a similar incident? (`query_words` from search_terms)"""
    return overlap(query_words, _indexed_terms(candidate_text)) >= MIN_OVERLAP


def pick_similar(
    fingerprint: str,
    hits: Sequence[str],
    judged: Mapping[str, Mapping[str, Any]],
    latest: Callable[[str, str | None], Mapping[str, Any] | None],
    *,
    exclude: str | None = None,
    limit: int = SIMILAR_LIMIT,
) -> list[dict[str, Any]]:
    """The earlier incidents for `meta.similar`, best first: judged ones first (this identity, then the search
    hits in rank order), then the latest card of this identity, then unjudged hits. One entry per triage.

    `judged` maps identity → its latest verdict (a dict with `triage_id`); `latest(identity, skip)` gives the
    identity's newest triage other than `skip` as {"triage_id", ...}, or None — asked only while places are
    left. Backends supply both from their own queries.
    """
    identities = [fingerprint, *hits]
    picked: list[dict[str, Any]] = []
    seen = {exclude} if exclude else set()

    def add(entry: Mapping[str, Any], same: bool) -> bool:
        if entry["triage_id"] not in seen:
            seen.add(entry["triage_id"])
            picked.append({"verdict": None, "by": None, **entry, "same_identity": same})
        return len(picked) >= limit

    for fp in identities:
        if fp in judged and add(judged[fp], fp == fingerprint):
            return picked
    for fp in identities:
        same = fp == fingerprint
        if fp in judged and not same:
            continue
        newest = latest(fp, judged[fp]["triage_id"] if fp in judged else None)
        if newest is not None and add(newest, same):
            return picked
    return picked
