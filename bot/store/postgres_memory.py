"""PostgreSQL storage for incident memory: verdicts, a tsvector index of incidents, and recall.

The same methods and plain data as the SQLite memory; full text is a `tsvector` column with a GIN index,
ranked with `ts_rank`, one indexed text per incident identity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

import psycopg

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

Conn = psycopg.Connection[tuple[Any, ...]]
INDEXED_CHARS = 4000
EXCERPT_CHARS = 600
FTS_CANDIDATES = 30
_VERDICT_COLUMNS = "v.triage_id, v.verdict, v.severity, v.category, v.judged_by, v.judged_at, v.fingerprint"


def tsquery(terms: Sequence[str]) -> str:
    """A to_tsquery expression matching any term; each is quoted as a lexeme, so none is an operator."""
    return " | ".join("'" + term.replace("'", "''").replace("\\", "") + "'" for term in terms)


def _verdict(row: Sequence[Any]) -> dict[str, Any]:
    triage_id, verdict, severity, category, by, at, fingerprint = row[:7]
    return {
        "triage_id": triage_id, "verdict": verdict, "severity": severity, "category": category,
        "by": by, "at": at, "fingerprint": fingerprint,
    }


class PostgresMemoryStore:
    """Mixed into PostgresStore, which provides `_tx`."""

    def _tx(self) -> AbstractContextManager[Conn]:
        raise NotImplementedError

    # --- writes inside the caller's transaction ------------------------------------------------------

    def _index_incident(self, conn: Conn, fingerprint: str, text: str) -> None:
        cursor = conn.execute(
            "insert into incident_text (fingerprint, text) values (%s, %s) on conflict do nothing",
            (fingerprint, text[:INDEXED_CHARS]),
        )
        if cursor.rowcount == 1:
            self._count_terms(conn, text)

    def _count_terms(self, conn: Conn, text: str) -> None:
        # Sorted: replicas indexing at the same moment take the rows' locks in the same order.
        terms = sorted(words(text[:INDEXED_CHARS], INDEXED_TERMS))
        if terms:
            conn.execute(
                "insert into incident_terms (term, docs) select unnest(%s::text[]), 1"
                " on conflict (term) do update set docs = incident_terms.docs + 1",
                (terms,),
            )

    def backfill_terms(self) -> None:
        """Count the words of incidents indexed before word counts existed (once, when the store opens)."""
        with self._tx() as conn:
            if conn.execute("select 1 from incident_terms limit 1").fetchone() is not None:
                return
            for (text,) in conn.execute("select text from incident_text").fetchall():
                self._count_terms(conn, text)

    def _refresh_verdict(self, conn: Conn, triage_id: str) -> None:
        card = conn.execute(
            "select fingerprint, severity, category from triages where id = %s", (triage_id,)
        ).fetchone()
        if card is None:
            return
        rows = conn.execute(
            'select action, "user", new_value, created_at from feedback where triage_id = %s order by id', (triage_id,)
        ).fetchall()
        keys = ("action", "user", "new_value", "created_at")
        folded = fold_verdict(card[1], card[2], [dict(zip(keys, row, strict=True)) for row in rows])
        if folded is None:
            conn.execute("delete from verdicts where triage_id = %s", (triage_id,))
            return
        conn.execute(
            "insert into verdicts (triage_id, fingerprint, verdict, severity, category, judged_by, judged_at)"
            " values (%s, %s, %s, %s, %s, %s, %s) on conflict (triage_id) do update set"
            " fingerprint = excluded.fingerprint, verdict = excluded.verdict, severity = excluded.severity,"
            " category = excluded.category, judged_by = excluded.judged_by, judged_at = excluded.judged_at",
            (triage_id, card[0], folded.verdict, folded.severity, folded.category, folded.by, folded.at),
        )

    def repair_verdicts(self) -> None:
        """Fold feedback that has no verdict yet (stored before verdicts existed)."""
        with self._tx() as conn:
            stale = conn.execute(
                "select distinct f.triage_id from feedback f left join verdicts v on v.triage_id = f.triage_id"
                " where v.triage_id is null or f.created_at > v.judged_at"
            ).fetchall()
            for (triage_id,) in stale:
                self._refresh_verdict(conn, triage_id)

    def set_verdict_link(self, triage_id: str, link: str) -> None:
        with self._tx() as conn:
            conn.execute("update verdicts set link = %s where triage_id = %s", (link, triage_id))

    # --- reads -----------------------------------------------------------------------------------

    def verdict_of(self, triage_id: str) -> dict[str, Any] | None:
        with self._tx() as conn:
            row = conn.execute(f"select {_VERDICT_COLUMNS} from verdicts v where triage_id = %s",
                               (triage_id,)).fetchone()
        return _verdict(row) if row else None

    def verdict_link(self, triage_id: str) -> str | None:
        with self._tx() as conn:
            row = conn.execute("select link from verdicts where triage_id = %s", (triage_id,)).fetchone()
        return str(row[0]) if row and row[0] else None

    def precedent(self, fingerprint: str) -> dict[str, Any] | None:
        with self._tx() as conn:
            return self._precedent(conn, fingerprint)

    def _precedent(self, conn: Conn, fingerprint: str) -> dict[str, Any] | None:
        row = conn.execute(
            f"select {_VERDICT_COLUMNS}, left(t.text, %s) from verdicts v join triages t on t.id = v.triage_id"
            " where v.fingerprint = %s order by v.judged_at desc, v.triage_id desc limit 1",
            (EXCERPT_CHARS, fingerprint),
        ).fetchone()
        return {**_verdict(row), "text": row[7]} if row else None

    def recall(
        self, fingerprint: str, text: str, *, exclude: str | None = None, limit: int = SIMILAR_LIMIT
    ) -> dict[str, Any]:
        """The precedent and up to `limit` similar earlier incidents (see the SQLite store for the rules)."""
        with self._tx() as conn:
            precedent = self._precedent(conn, fingerprint)
            hits = self._search(conn, fingerprint, text)
            judged: dict[str, dict[str, Any]] = {}
            for row in conn.execute(
                f"select {_VERDICT_COLUMNS} from verdicts v where v.fingerprint = any(%s)"
                " order by v.judged_at desc, v.triage_id desc",
                ([fingerprint, *hits],),
            ).fetchall():
                if row[0] != exclude:
                    judged.setdefault(row[6], _verdict(row))
            picked = pick_similar(
                fingerprint, hits, judged, lambda fp, skip: self._latest(conn, fp, exclude, skip), exclude=exclude,
                limit=limit,
            )
            similar = [self._describe(conn, candidate) for candidate in picked]
        return {"precedent": precedent, "similar": [s for s in similar if s is not None]}

    def judged_cases(self, since: float = 0.0) -> list[dict[str, Any]]:
        with self._tx() as conn:
            rows = conn.execute(
                f"select {_VERDICT_COLUMNS}, t.text, t.source, t.severity, t.category, t.created_at,"
                " t.engine, t.model, t.prompt_version from verdicts v join triages t on t.id = v.triage_id"
                " where v.judged_at >= %s order by v.judged_at, v.triage_id",
                (since,),
            ).fetchall()
        keys = ("text", "source", "card_severity", "card_category", "created_at", "engine", "model", "prompt_version")
        return [{**_verdict(row), **dict(zip(keys, row[7:], strict=True))} for row in rows]

    # --- helpers ---------------------------------------------------------------------------------

    def _search(self, conn: Conn, fingerprint: str, text: str) -> list[str]:
        terms = search_terms(text)
        if not terms:
            return []
        documents: dict[str, int] = dict(conn.execute(
            "select term, docs from incident_terms where term = any(%s)", (terms,)
        ).fetchall())
        chosen = rare_terms(terms, documents)
        if not chosen:
            return []
        rows = conn.execute(
            "select fingerprint, text from incident_text, to_tsquery('simple', %s) q where tsv @@ q"
            " order by ts_rank(tsv, q) desc limit %s",
            (tsquery(chosen), FTS_CANDIDATES),
        ).fetchall()
        found: list[str] = []
        for fp, indexed in rows:
            if fp != fingerprint and fp not in found and related(terms, indexed):
                found.append(fp)
        return found

    def _latest(self, conn: Conn, fingerprint: str, exclude: str | None, skip: str | None) -> dict[str, Any] | None:
        row = conn.execute(
            "select id from triages where fingerprint = %s and id <> %s and id <> %s order by created_at desc limit 1",
            (fingerprint, exclude or "", skip or ""),
        ).fetchone()
        return {"triage_id": row[0], "fingerprint": fingerprint} if row else None

    def _describe(self, conn: Conn, candidate: Mapping[str, Any]) -> dict[str, Any] | None:
        row = conn.execute(
            "select created_at, severity, category, result::json->>'summary', left(text, %s) from triages"
            " where id = %s",
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
