"""Storage for incident memory: verdicts per card, the full-text index of incidents, and recall.

A verdict is derived from a card's feedback rows whenever one is stored, so precedents need no extra
call from the Slack or HTTP paths. Full text is SQLite FTS5 ranked with bm25, one indexed text per
incident identity; another backend keeps the same methods and uses its own full-text search.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bot.memory.recall import (
    INDEXED_TERMS,
    SIMILAR_LIMIT,
    pick_similar,
    rare_terms,
    related,
    search_terms,
    words,
)
from bot.memory.verdicts import fold_verdict

# The tables live in migration 2 (bot/store/migrations/sqlite.py); this is the full-text table's shape.
FTS_TABLE = "create virtual table incident_text using fts5(text, fingerprint unindexed)"
# Bounds on what is indexed and handed back: enough words to find an incident, little to carry around.
INDEXED_CHARS = 4000
EXCERPT_CHARS = 600
FTS_CANDIDATES = 30
# Full-text searches remembered until the next incident is indexed (the answer cannot change before then).
SEARCH_MEMO_SIZE = 2048

_VERDICT_COLUMNS = "v.triage_id, v.verdict, v.severity, v.category, v.judged_by, v.judged_at, v.fingerprint"


def fts5_query(terms: Sequence[str]) -> str:
    """An FTS5 MATCH expression that finds any of the terms; each is quoted, so no word is an operator."""
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)


def _verdict(row: Sequence[Any]) -> dict[str, Any]:
    triage_id, verdict, severity, category, by, at, fingerprint = row[:7]
    return {
        "triage_id": triage_id, "verdict": verdict, "severity": severity, "category": category,
        "by": by, "at": at, "fingerprint": fingerprint,
    }


class MemoryStore:
    """Mixed into Store: `conn`, `_lock` and `_clock` come from there."""

    _lock: threading.RLock
    _clock: Callable[[], float]
    # Incidents indexed through this connection, and the full-text answers given since the index last changed
    # (here or, per SQLite's data_version, by another connection), by identity and search words.
    _indexed = 0
    _search_memo: OrderedDict[tuple[str, tuple[str, ...]], list[str]] | None = None
    _search_memo_at: tuple[int, int] = (-1, -1)

    @property
    def conn(self) -> sqlite3.Connection:
        raise NotImplementedError

    def repair_verdicts(self) -> None:
        """Fold feedback that has no verdict yet: stored before verdicts existed, or cut off by a crash."""
        with self._lock:
            stale = self.conn.execute(
                "select distinct f.triage_id from feedback f left join verdicts v on v.triage_id = f.triage_id "
                "where v.triage_id is null or f.created_at > v.judged_at"
            ).fetchall()
            for (triage_id,) in stale:
                self.refresh_verdict(triage_id)

    # --- writes, called by record_triage and record_feedback under the store lock --------------------

    def index_incident(self, fingerprint: str, text: str) -> None:
        """Index the first text of each identity: one row per incident keeps the search small in storms."""
        with self._lock:
            seen = self.conn.execute("select 1 from triages where fingerprint = ? limit 1", (fingerprint,)).fetchone()
            if seen is None:
                self.conn.execute(
                    "insert into incident_text (text, fingerprint) values (?, ?)", (text[:INDEXED_CHARS], fingerprint)
                )
                self._count_terms(text)
                self._indexed += 1

    def _count_terms(self, text: str) -> None:
        self.conn.executemany(
            "insert into incident_terms (term, docs) values (?, 1) on conflict (term) do update set docs = docs + 1",
            [(term,) for term in words(text[:INDEXED_CHARS], INDEXED_TERMS)],
        )

    def backfill_terms(self) -> None:
        """Count the words of incidents indexed before word counts existed (once, when the store opens)."""
        with self._lock:
            if self.conn.execute("select 1 from incident_terms limit 1").fetchone() is not None:
                return
            texts = self.conn.execute("select text from incident_text").fetchall()
            self.conn.execute("begin immediate")
            try:
                for (text,) in texts:
                    self._count_terms(text)
            except BaseException:
                self.conn.execute("rollback")
                raise
            self.conn.execute("commit")

    def refresh_verdict(self, triage_id: str) -> dict[str, Any] | None:
        """Fold a card's feedback into its verdict row (the precedent of its identity); return it."""
        with self._lock:
            card = self.conn.execute(
                "select fingerprint, severity, category from triages where id = ?", (triage_id,)
            ).fetchone()
            if card is None:
                return None
            rows = self.conn.execute(
                "select action, user, new_value, created_at from feedback where triage_id = ? order by id",
                (triage_id,),
            ).fetchall()
            keys = ("action", "user", "new_value", "created_at")
            folded = fold_verdict(card[1], card[2], [dict(zip(keys, row, strict=True)) for row in rows])
            if folded is None:
                self.conn.execute("delete from verdicts where triage_id = ?", (triage_id,))
                return None
            self.conn.execute(
                "insert into verdicts (triage_id, fingerprint, verdict, severity, category, judged_by, judged_at) "
                "values (?, ?, ?, ?, ?, ?, ?) on conflict (triage_id) do update set fingerprint = excluded.fingerprint,"
                " verdict = excluded.verdict, severity = excluded.severity, category = excluded.category,"
                " judged_by = excluded.judged_by, judged_at = excluded.judged_at",
                (triage_id, card[0], folded.verdict, folded.severity, folded.category, folded.by, folded.at),
            )
        return self.verdict_of(triage_id)

    def set_verdict_link(self, triage_id: str, link: str) -> None:
        """Remember the permalink of a judged card (asked of Slack once, shown on every later card)."""
        with self._lock:
            self.conn.execute("update verdicts set link = ? where triage_id = ?", (link, triage_id))

    # --- reads -----------------------------------------------------------------------------------

    def verdict_of(self, triage_id: str) -> dict[str, Any] | None:
        """The standing verdict on one card: triage_id, verdict, severity, category, by, at, fingerprint."""
        with self._lock:
            row = self.conn.execute(f"select {_VERDICT_COLUMNS} from verdicts v where triage_id = ?",
                                    (triage_id,)).fetchone()
        return _verdict(row) if row else None

    def verdict_link(self, triage_id: str) -> str | None:
        with self._lock:
            row = self.conn.execute("select link from verdicts where triage_id = ?", (triage_id,)).fetchone()
        return str(row[0]) if row and row[0] else None

    def precedent(self, fingerprint: str) -> dict[str, Any] | None:
        """The latest verdict on any card of this identity, with an excerpt of the judged text."""
        with self._lock:
            row = self.conn.execute(
                f"select {_VERDICT_COLUMNS}, substr(t.text, 1, ?) from verdicts v join triages t on t.id = v.triage_id"
                " where v.fingerprint = ? order by v.judged_at desc, v.rowid desc limit 1",
                (EXCERPT_CHARS, fingerprint),
            ).fetchone()
        if row is None:
            return None
        return {**_verdict(row), "text": row[7]}

    def recall(
        self, fingerprint: str, text: str, *, exclude: str | None = None, limit: int = SIMILAR_LIMIT
    ) -> dict[str, Any]:
        """What memory knows about an incident: its precedent and up to `limit` similar earlier incidents.

        Similar ones come from the same identity and from a bm25 full-text search over other identities
        (one entry per identity, its judged card if any); judged ones first. Plain data: {"precedent":
        dict | None, "similar": [{triage_id, at, severity, category, verdict, by, summary, text}]}.
        """
        with self._lock:
            precedent = self.precedent(fingerprint)
            hits = self._search(fingerprint, text)
            fingerprints = [fingerprint, *hits]
            marks = ",".join("?" * len(fingerprints))
            # The latest verdict per identity among the candidates.
            judged: dict[str, dict[str, Any]] = {}
            for row in self.conn.execute(
                f"select {_VERDICT_COLUMNS} from verdicts v where v.fingerprint in ({marks}) "
                "order by v.judged_at desc, v.rowid desc",
                fingerprints,
            ):
                if row[0] != exclude:
                    judged.setdefault(row[6], _verdict(row))
            picked = pick_similar(
                fingerprint, hits, judged, lambda fp, skip: self._latest(fp, exclude, skip), exclude=exclude,
                limit=limit,
            )
            similar = [self._describe(candidate) for candidate in picked]
        return {"precedent": precedent, "similar": [s for s in similar if s is not None]}

    def judged_cases(self, since: float = 0.0) -> list[dict[str, Any]]:
        """One row per judged card (its latest verdict) judged since a time, oldest verdict first."""
        with self._lock:
            rows = self.conn.execute(
                f"select {_VERDICT_COLUMNS}, t.text, t.source, t.severity, t.category, t.created_at,"
                " t.engine, t.model, t.prompt_version from verdicts v join triages t on t.id = v.triage_id"
                " where v.judged_at >= ? order by v.judged_at, v.triage_id",
                (since,),
            ).fetchall()
        keys = ("text", "source", "card_severity", "card_category", "created_at", "engine", "model", "prompt_version")
        return [{**_verdict(row), **dict(zip(keys, row[7:], strict=True))} for row in rows]

    # --- helpers ---------------------------------------------------------------------------------

    def _search(self, fingerprint: str, text: str) -> list[str]:
        """Other identities whose text is close to `text`, best bm25 first."""
        terms = search_terms(text)
        if not terms:
            return []
        state = (self._indexed, self.conn.execute("pragma data_version").fetchone()[0])
        memo = self._search_memo
        if memo is None or self._search_memo_at != state:
            memo = self._search_memo = OrderedDict()
            self._search_memo_at = state
        key = (fingerprint, tuple(terms))
        known = memo.get(key)
        if known is not None:
            memo.move_to_end(key)
            return list(known)
        found = self._search_index(fingerprint, terms)
        memo[key] = found
        if len(memo) > SEARCH_MEMO_SIZE:
            memo.popitem(last=False)
        return list(found)

    def _search_index(self, fingerprint: str, terms: list[str]) -> list[str]:
        marks = ",".join("?" * len(terms))
        documents = dict(
            self.conn.execute(f"select term, docs from incident_terms where term in ({marks})", terms).fetchall()
        )
        chosen = rare_terms(terms, documents)
        if not chosen:
            return []
        rows = self.conn.execute(
            "select fingerprint, text from incident_text where incident_text match ? "
            "order by bm25(incident_text) limit ?",
            (fts5_query(chosen), FTS_CANDIDATES),
        ).fetchall()
        found: list[str] = []
        for fp, indexed in rows:
            if fp != fingerprint and fp not in found and related(terms, indexed):
                found.append(fp)
        return found

    def _latest(self, fingerprint: str, exclude: str | None, skip: str | None) -> dict[str, Any] | None:
        row = self.conn.execute(
            "select id from triages where fingerprint = ? and id != ? and id != ? order by created_at desc limit 1",
            (fingerprint, exclude or "", skip or ""),
        ).fetchone()
        if row is None:
            return None
        return {"triage_id": row[0], "fingerprint": fingerprint}

    def _describe(self, candidate: Mapping[str, Any]) -> dict[str, Any] | None:
        row = self.conn.execute(
            "select created_at, severity, category, json_extract(result, '$.summary'), substr(text, 1, ?) "
            "from triages where id = ?",
            (EXCERPT_CHARS, candidate["triage_id"]),
        ).fetchone()
        if row is None:
            return None
        at, severity, category, summary, text = row
        judged = candidate.get("verdict") is not None
        return {
            "triage_id": candidate["triage_id"], "at": at,
            "severity": candidate["severity"] if judged else severity,
            "category": candidate["category"] if judged else category,
            "verdict": candidate.get("verdict"), "by": candidate.get("by"),
            "summary": summary or "", "text": text or "",
        }
