"""Incident memory: the full-text index of identities, precedents, similar incidents, the judged cases."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam as B
from sqlalchemy import func, literal, select

from bot.memory.recall import INDEXED_TERMS, SIMILAR_LIMIT, pick_similar, rare_terms, related, search_terms, words
from bot.store.dialects import Tx
from bot.store.schema import incident_terms, incident_text, triages, verdicts
from bot.store.sql.core import StoreCore
from bot.store.sql.rows import VERDICT, card_summary, verdict_from

# Full-text searches kept until the incident index changes (SQLite, see Memory._search).
SEARCH_CACHE = 4096

# Bounds on what is indexed and handed back: enough words to find an incident, little to carry around.
INDEXED_CHARS = 4000
EXCERPT_CHARS = 600
FTS_CANDIDATES = 30


class Memory(StoreCore):
    """One indexed text per incident identity keeps the search small; what recalls read again and again is kept
    between transactions while nothing else writes to the database (see StoreCore._kept)."""

    def _index_incident(self, tx: Tx, fingerprint: str, body: str) -> None:
        """Index the first text of each identity."""
        seen = tx.one(self.q(
            lambda: select(literal(1)).where(triages.c.fingerprint == B("fp")).limit(1)
        ), fp=fingerprint)
        if seen is None and self.dialect.index_text(tx, fingerprint, body[:INDEXED_CHARS]):
            self._searches.clear()  # a new identity can be found from now on
            self._count_terms(tx, body)

    def _count_terms(self, tx: Tx, body: str) -> None:
        # Sorted: replicas indexing at the same moment take the rows' locks in the same order.
        terms = sorted(words(body[:INDEXED_CHARS], INDEXED_TERMS))

        def upsert() -> Any:
            return self.dialect.insert(incident_terms).on_conflict_do_update(
                index_elements=[incident_terms.c.term], set_={"docs": incident_terms.c.docs + 1}
            )

        tx.many(self.q(upsert, keys=("term", "docs")), [{"term": term, "docs": 1} for term in terms])

    def backfill_terms(self) -> None:
        """Count the words of incidents indexed before word counts existed (once, when the store opens)."""
        with self._tx() as tx:
            if tx.one(self.q(lambda: select(incident_terms.c.term).limit(1))) is not None:
                return
            self._searches.clear()
            for (body,) in tx.rows(self.q(lambda: select(incident_text.c.text))):
                self._count_terms(tx, body)

    def precedent(self, fingerprint: str) -> dict[str, Any] | None:
        """The latest verdict on any card of this identity, with an excerpt of the judged text."""
        with self._read() as tx:
            return self._precedent(tx, fingerprint)

    def _precedent(self, tx: Tx, fingerprint: str) -> dict[str, Any] | None:
        row = tx.one(self.q(
            lambda: select(*VERDICT, func.substr(triages.c.text, 1, EXCERPT_CHARS))
            .join(triages, triages.c.id == verdicts.c.triage_id)
            .where(verdicts.c.fingerprint == B("fp"))
            .order_by(verdicts.c.judged_at.desc(), verdicts.c.triage_id.desc()).limit(1)
        ), fp=fingerprint)
        return {**verdict_from(row), "text": row[8]} if row else None

    def recall(
        self, fingerprint: str, text: str, *, exclude: str | None = None, limit: int = SIMILAR_LIMIT
    ) -> dict[str, Any]:
        """What memory knows about an incident: its precedent and up to `limit` similar earlier incidents.

        Similar ones come from the same identity and from a full-text search over other identities
        (one entry per identity, its judged card if any); judged ones first. Plain data: {"precedent":
        dict | None, "similar": [{triage_id, at, severity, category, verdict, by, summary, text}]}.
        """
        with self._read() as tx:
            return self._recall(tx, self._kept(tx), fingerprint, text, exclude, limit)

    def recall_many(self, items: Sequence[tuple[str, str]], *, limit: int = SIMILAR_LIMIT) -> list[dict[str, Any]]:
        """`recall(fingerprint, text)` for each (fingerprint, text) of a group, in one read."""
        with self._read() as tx:
            keep = self._kept(tx)
            return [self._recall(tx, keep, fingerprint, text, None, limit) for fingerprint, text in items]

    def _recall(
        self, tx: Tx, keep: bool, fingerprint: str, text: str, exclude: str | None, limit: int
    ) -> dict[str, Any]:
        any_verdict = not keep or self._has_verdicts(tx)
        precedent = self._precedent(tx, fingerprint) if any_verdict else None
        hits = self._search(tx, fingerprint, text, keep)
        fingerprints = [fingerprint, *hits]
        # The latest verdict per identity among the candidates.
        judged: dict[str, dict[str, Any]] = {}
        for row in [] if not any_verdict else tx.rows(self.q(
            lambda: select(*VERDICT)
            .where(verdicts.c.fingerprint.in_([B(f"f{n}") for n in range(len(fingerprints))]))
            .order_by(verdicts.c.judged_at.desc(), verdicts.c.triage_id.desc()),
            variant=len(fingerprints),
        ), **{f"f{n}": fp for n, fp in enumerate(fingerprints)}):
            if row[0] != exclude:
                judged.setdefault(row[6], verdict_from(row))
        picked = pick_similar(
            fingerprint, hits, judged, lambda fp, skip: self._latest(tx, fp, exclude, skip), exclude=exclude,
            limit=limit,
        )
        similar = [self._describe(tx, candidate, keep) for candidate in picked]
        return {"precedent": precedent, "similar": [s for s in similar if s is not None]}

    def judged_cases(self, since: float = 0.0) -> list[dict[str, Any]]:
        """One row per judged card (its latest verdict) judged since a time, oldest verdict first."""
        with self._read() as tx:
            rows = tx.rows(self.q(
                lambda: select(*VERDICT, triages.c.text, triages.c.source, triages.c.severity, triages.c.category,
                               triages.c.created_at, triages.c.engine, triages.c.model, triages.c.prompt_version)
                .join(triages, triages.c.id == verdicts.c.triage_id).where(verdicts.c.judged_at >= B("since"))
                .order_by(verdicts.c.judged_at, verdicts.c.triage_id)
            ), since=since)
        keys = ("text", "source", "card_severity", "card_category", "created_at", "engine", "model", "prompt_version")
        return [{**verdict_from(row), **dict(zip(keys, row[8:], strict=True))} for row in rows]

    def _search(self, tx: Tx, fingerprint: str, text: str, keep: bool) -> list[str]:
        """Other identities whose text is close to `text`, best first.

        Ranking costs far more than anything else in a recall, and its answer only changes when an identity is
        indexed: on SQLite the answer is kept until then: this store indexing one, a purge, or another
        connection committing to the file (`keep`, see _kept). A shared store keeps nothing.
        """
        terms = search_terms(text)
        if not terms:
            return []
        key = (fingerprint, tuple(terms))
        if keep:
            kept = self._searches.get(key)
            if kept is not None:
                return list(kept)
        found = self._rank(tx, fingerprint, terms)
        if keep:
            if len(self._searches) >= SEARCH_CACHE:
                self._searches.clear()
            self._searches[key] = found
        return list(found)

    def _has_verdicts(self, tx: Tx) -> bool:
        """Is there any verdict? (kept, see _kept: most stores of a batch have none, and recalls skip the look-ups)"""
        if self._any_verdict is None:
            self._any_verdict = tx.one(self.q(lambda: select(literal(1)).select_from(verdicts).limit(1))) is not None
        return self._any_verdict

    def _rank(self, tx: Tx, fingerprint: str, terms: list[str]) -> list[str]:
        documents = {
            str(term): int(docs) for term, docs in tx.rows(self.q(
                lambda: select(incident_terms.c.term, incident_terms.c.docs)
                .where(incident_terms.c.term.in_([B(f"t{n}") for n in range(len(terms))])),
                variant=len(terms),
            ), **{f"t{n}": term for n, term in enumerate(terms)})
        }
        chosen = rare_terms(terms, documents)
        if not chosen:
            return []
        found: list[str] = []
        for fp, indexed in self.dialect.search(tx, chosen, FTS_CANDIDATES):
            if fp != fingerprint and fp not in found and related(terms, indexed):
                found.append(fp)
        return found

    def _latest(self, tx: Tx, fingerprint: str, exclude: str | None, skip: str | None) -> dict[str, Any] | None:
        found = tx.one(self.q(
            lambda: select(triages.c.id, triages.c.created_at, triages.c.severity, triages.c.category,
                           triages.c.result, func.substr(triages.c.text, 1, EXCERPT_CHARS)).where(
                triages.c.fingerprint == B("fp"), triages.c.id != B("exclude"), triages.c.id != B("skip")
            ).order_by(triages.c.created_at.desc()).limit(1)
        ), fp=fingerprint, exclude=exclude or "", skip=skip or "")
        # the row as _describe reads it, so the card is not read a second time
        return {"triage_id": found[0], "fingerprint": fingerprint, "row": found[1:]} if found is not None else None

    def _describe(self, tx: Tx, candidate: Mapping[str, Any], keep: bool) -> dict[str, Any] | None:
        triage_id = candidate["triage_id"]
        row = candidate.get("row") or tx.one(self.q(
            lambda: select(triages.c.created_at, triages.c.severity, triages.c.category, triages.c.result,
                           func.substr(triages.c.text, 1, EXCERPT_CHARS)).where(triages.c.id == B("triage"))
        ), triage=triage_id)
        if row is None:
            return None
        at, severity, category, result, excerpt = row
        summary = self._summaries.get(triage_id) if keep else None
        if summary is None:
            summary = card_summary(result)
            if keep:  # read from the card's JSON once (see _kept)
                if len(self._summaries) >= SEARCH_CACHE:
                    self._summaries.clear()
                self._summaries[triage_id] = summary
        judged = candidate.get("verdict") is not None
        return {
            "triage_id": triage_id, "at": at,
            "severity": candidate["severity"] if judged else severity,
            "category": candidate["category"] if judged else category,
            "verdict": candidate.get("verdict"), "by": candidate.get("by"),
            "origin": candidate.get("origin") if judged else None,
            "summary": summary, "text": excerpt or "",
        }
