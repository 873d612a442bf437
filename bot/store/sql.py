"""The store, one implementation for SQLite and PostgreSQL (SQLAlchemy Core over bot/store/schema.py).

Methods are synchronous; async code runs them on the store's worker threads with `await store.run(fn, ...)`,
so database work never blocks the event loop. Each write is one transaction. On SQLite there is one worker
thread and one connection, and a write transaction takes the file's write lock at once (BEGIN IMMEDIATE), so a
check followed by a write is never interleaved. On PostgreSQL, shared by several replicas, whatever must be
decided once across them is decided by the database: unique keys with ON CONFLICT, row locks with
SKIP LOCKED, advisory locks. What differs between the two lives in bot/store/dialects.py.

Statements are SQLAlchemy Core expressions with bind parameters, written where they are used and built and
compiled once per store (`q`); each call then only binds its values.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import (
    ColumnElement,
    Integer,
    Row,
    and_,
    case,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy import bindparam as B

from bot.alerts.incidents import Incident, may_resolve, merge_places
from bot.card import TriageResult
from bot.memory.recall import INDEXED_TERMS, SIMILAR_LIMIT, pick_similar, rare_terms, related, search_terms, words
from bot.memory.verdicts import fold_verdict
from bot.store import dialects
from bot.store.base import TriageRecord
from bot.store.dialects import Tx
from bot.store.leases import WRITE_GRACE, one_per_channel, soonest_wait
from bot.store.migrate import upgrade
from bot.store.retention import PURGE
from bot.store.schema import (
    alerts,
    cache,
    changes,
    channel_pace,
    feedback,
    flights,
    identity_templates,
    incident_terms,
    incident_text,
    incidents,
    message_cards,
    posts,
    replicas,
    retries,
    runbooks,
    shadow_results,
    slack_events,
    tool_calls,
    triages,
    verdicts,
    webhook_spool,
)

P = ParamSpec("P")
T = TypeVar("T")
POOL_SIZE = 8
# Full-text searches kept until the incident index changes (SQLite, see SQLStore._search).
SEARCH_CACHE = 4096

# Bounds on what is indexed and handed back: enough words to find an incident, little to carry around.
INDEXED_CHARS = 4000
EXCERPT_CHARS = 600
FTS_CANDIDATES = 30

# The columns of a shadow result (bot/shadow), the keys of its plain dicts.
SHADOW_COLUMNS = tuple(column.name for column in shadow_results.c)

INCIDENT = (
    incidents.c.id, incidents.c.fingerprint, incidents.c.channel, incidents.c.thread_ts, incidents.c.count,
    incidents.c.first_seen, incidents.c.last_seen, incidents.c.triage_id, incidents.c.card_ts, incidents.c.resolved,
    incidents.c.dirty, incidents.c.shown_at, incidents.c.post_state, incidents.c.places,
)
VERDICT = (
    verdicts.c.triage_id, verdicts.c.verdict, verdicts.c.severity, verdicts.c.category, verdicts.c.judged_by,
    verdicts.c.judged_at, verdicts.c.fingerprint, verdicts.c.judged_origin,
)


class Redelivery(Exception):
    """A claim was taken before: the alert's transaction is rolled back and nothing is recorded."""


def _incident(row: Row[Any] | Sequence[Any]) -> Incident:
    (id_, fingerprint, channel, thread_ts, count, first_seen, last_seen, triage_id, card_ts, resolved, dirty,
     shown_at, post_state, places) = tuple(row)[:14]
    return Incident(
        id=id_, fingerprint=fingerprint, channel=channel, thread_ts=thread_ts, count=count,
        first_seen=first_seen, last_seen=last_seen, triage_id=triage_id, card_ts=card_ts,
        resolved=bool(resolved), dirty=bool(dirty), shown_at=shown_at, post_state=post_state,
        places=tuple(json.loads(places or "[]")),
    )


def _verdict(row: Sequence[Any]) -> dict[str, Any]:
    triage_id, verdict, severity, category, by, at, fingerprint, origin = tuple(row)[:8]
    return {
        "triage_id": triage_id, "verdict": verdict, "severity": severity, "category": category,
        "by": by, "at": at, "fingerprint": fingerprint, "origin": origin or "slack",
    }


def card_summary(raw: Any) -> str:
    """The summary of a stored card (its result JSON), or "" when it cannot be read."""
    try:
        return str(json.loads(raw).get("summary") or "")
    except (TypeError, ValueError, AttributeError):
        return ""


def _dead(owner: ColumnElement[Any], stale_before: Any) -> ColumnElement[bool]:
    """The lease holder `owner` is not alive: no heartbeat of its replica at or after `stale_before`."""
    return ~exists().where(replicas.c.id == owner, replicas.c.seen_at >= stale_before)


class SQLStore:
    """The Store protocol (bot/store/base.py) on either backend."""

    def __init__(self, dialect: dialects.Dialect, clock: Callable[[], float] = time.time) -> None:
        self.dialect = dialect
        self.engine = dialect.engine
        self.shared = dialect.shared
        self._clock = clock
        self._prepared: dict[Any, dialects.Prepared] = {}
        self._executor = ThreadPoolExecutor(max_workers=dialect.workers, thread_name_prefix="store")
        # What recalls read again and again, kept while nothing else writes to the database (SQLite, see _kept):
        # (identity, search words) -> other identities found, while the incident index stays as it was;
        # triage id -> the summary of its stored card, while this store does not write that card again.
        self._searches: dict[tuple[str, tuple[str, ...]], list[str]] = {}
        self._summaries: dict[str, str] = {}
        # identities known to be indexed already; whether there is any verdict at all (None: not known)
        self._indexed: set[str] = set()
        self._any_verdict: bool | None = None
        self._kept_version: int | None = None
        with dialect.lock():
            upgrade(dialect)
        self.repair_verdicts()
        self.backfill_terms()

    @classmethod
    def open(
        cls, target: str, clock: Callable[[], float] = time.time, *, size: int = POOL_SIZE, timeout: float = 15.0
    ) -> SQLStore:
        """Connect to a PostgreSQL URL or a SQLite file and bring its schema up to date."""
        dialect = dialects.connect(target, size=size, timeout=timeout)
        try:
            return cls(dialect, clock)
        except BaseException:
            dialect.close()
            raise

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.dialect.close()

    def ping(self, timeout: float = 2.0) -> None:
        """Raise unless the database can be used now (the readiness check)."""
        self.dialect.ping(timeout)

    def _tx(self) -> AbstractContextManager[Tx]:
        """One write transaction: committed when the block ends, rolled back when it raises."""
        return self.dialect.transaction(write=True)

    def _read(self) -> AbstractContextManager[Tx]:
        """Reads only (on SQLite they take no lock)."""
        return self.dialect.transaction(write=False)

    def q(self, build: Callable[[], Any], keys: Sequence[str] = (), variant: Any = None) -> dialects.Prepared:
        """The statement `build` makes, built and compiled once per store. `build` must hold no values of the
        call (those are bind parameters); `keys` are the columns an INSERT is given; `variant` tells apart
        shapes one `build` makes (an IN list's length)."""
        key = (build.__code__, variant)
        found = self._prepared.get(key)
        if found is None:
            found = self._prepared[key] = self.dialect.prepare(build(), keys)
        return found

    # --- triages -------------------------------------------------------------------------------

    def record_triage(
        self,
        result: TriageResult,
        text: str,
        *,
        outcome: str = "ok",
        error: str | None = None,
        cache: tuple[str, TriageResult, float] | None = None,
    ) -> None:
        """Record one triage; with `cache`, also keep its card for identical input (one transaction)."""
        self.record_triages([TriageRecord(result, text, outcome, error, cache)])

    def record_triages(self, records: Sequence[TriageRecord]) -> None:
        """Record a group of triages in one transaction, in order (group commit): all or none."""

        def upsert() -> Any:
            stmt = self.dialect.insert(triages)
            return stmt.on_conflict_do_update(
                index_elements=[triages.c.id], set_={c.name: stmt.excluded[c.name] for c in triages.c if c.name != "id"}
            )

        rows = []
        try:
            with self._tx() as tx:
                keep = self._kept(tx)
                indexed: set[str] = set()  # identities indexed, or found indexed, in this transaction
                for record in records:
                    result, meta = record.result, record.result.meta
                    self._summaries.pop(meta.triage_id, None)  # a card written again has a new summary
                    rows.append({
                        "id": meta.triage_id, "created_at": meta.created_at or self._clock(), "source": meta.source,
                        "input_hash": meta.input_hash, "fingerprint": meta.fingerprint, "text": record.text,
                        "category": result.category, "severity": result.severity, "confidence": result.confidence,
                        "engine": meta.engine, "model": meta.model, "prompt_version": meta.prompt_version,
                        "cached": int(meta.cached), "degraded": int(meta.degraded),
                        "degraded_reason": meta.degraded_reason, "needs_review": int(meta.needs_review),
                        "latency_ms": meta.latency_ms, "cost_usd": meta.cost_usd, "outcome": record.outcome,
                        "error": record.error, "result": result.model_dump_json(),
                    })
                    if meta.fingerprint not in indexed and not (keep and meta.fingerprint in self._indexed):
                        self._index_incident(tx, meta.fingerprint, record.text)
                        indexed.add(meta.fingerprint)
                    if record.cache is not None:
                        self._put_cached(tx, *record.cache)
                # The rows go in together, after the index: each identity's first text was indexed above.
                if rows:
                    tx.many(self.q(upsert, keys=tuple(rows[0])), rows)
            if keep:
                self._indexed.update(indexed)
        except BaseException:
            self._indexed.clear()  # what this transaction indexed may not be there
            raise

    def get_triage(self, triage_id: str) -> TriageResult | None:
        with self._read() as tx:
            raw = tx.scalar(self.q(lambda: select(triages.c.result).where(triages.c.id == B("triage"))),
                            triage=triage_id)
        return TriageResult.model_validate_json(raw) if raw is not None else None

    def triage_text(self, triage_id: str) -> str | None:
        """The redacted input of a triage, for asking again."""
        with self._read() as tx:
            found = tx.scalar(self.q(lambda: select(triages.c.text).where(triages.c.id == B("triage"))),
                              triage=triage_id)
        return str(found) if found is not None else None

    def count_triages(self) -> int:
        with self._read() as tx:
            return int(tx.scalar(self.q(lambda: select(func.count()).select_from(triages))))

    def triage_rows(self, since: float = 0.0) -> list[dict[str, Any]]:
        with self._read() as tx:
            return tx.dicts(self.q(
                lambda: select(triages).where(triages.c.created_at >= B("since")).order_by(triages.c.created_at)
            ), since=since)

    def spent_since(self, since: float) -> float:
        with self._read() as tx:
            total = tx.scalar(self.q(
                lambda: select(func.coalesce(func.sum(triages.c.cost_usd), 0.0))
                .where(triages.c.created_at >= B("since"))
            ), since=since)
        return float(total or 0.0)

    # --- shadow runs (bot/shadow) ----------------------------------------------------------------

    def record_shadow(self, row: Mapping[str, Any]) -> None:
        """Keep one candidate answer (or its error) for a triage; the same candidate again replaces it."""

        def upsert() -> Any:
            stmt = self.dialect.insert(shadow_results)
            return stmt.on_conflict_do_update(
                index_elements=[shadow_results.c.triage_id, shadow_results.c.model, shadow_results.c.prompt_version],
                set_={name: stmt.excluded[name] for name in SHADOW_COLUMNS[3:]},
            )

        with self._tx() as tx:
            values = {name: row.get(name) for name in SHADOW_COLUMNS}
            # a missing time or cost is the column's default, 0
            values.update(latency_ms=values["latency_ms"] or 0.0, cost_usd=values["cost_usd"] or 0.0)
            tx.run(self.q(upsert, keys=SHADOW_COLUMNS), **values)

    def shadow_rows(self, since: float = 0.0) -> list[dict[str, Any]]:
        """Shadow results recorded since a time, oldest first."""
        s = shadow_results.c
        with self._read() as tx:
            return tx.dicts(self.q(
                lambda: select(shadow_results).where(s.created_at >= B("since"))
                .order_by(s.created_at, s.triage_id, s.model, s.prompt_version)
            ), since=since)

    def shadow_spent_since(self, since: float) -> float:
        """What the shadow runs cost since a time (their own share of the daily budget)."""
        s = shadow_results.c
        with self._read() as tx:
            total = tx.scalar(self.q(
                lambda: select(func.coalesce(func.sum(s.cost_usd), 0.0)).where(s.created_at >= B("since"))
            ), since=since)
        return float(total or 0.0)

    # --- idempotency cache ---------------------------------------------------------------------

    def get_cached(self, key: str) -> TriageResult | None:
        with self._read() as tx:
            raw = tx.scalar(self.q(
                lambda: select(cache.c.result).where(cache.c.key == B("k"), cache.c.expires_at > B("now"))
            ), k=key, now=self._clock())
        return TriageResult.model_validate_json(raw) if raw is not None else None

    def put_cached(self, key: str, result: TriageResult, ttl: float) -> None:
        if ttl <= 0:
            return
        with self._tx() as tx:
            self._put_cached(tx, key, result, ttl)

    def _put_cached(self, tx: Tx, key: str, result: TriageResult, ttl: float) -> None:
        if ttl <= 0:
            return

        def upsert() -> Any:
            stmt = self.dialect.insert(cache)
            return stmt.on_conflict_do_update(
                index_elements=[cache.c.key],
                set_={"result": stmt.excluded.result, "expires_at": stmt.excluded.expires_at},
            )

        tx.run(self.q(upsert, keys=("key", "result", "expires_at")),
               key=key, result=result.model_dump_json(), expires_at=self._clock() + ttl)

    def live_cache(self, limit: int) -> list[tuple[str, float, TriageResult]]:
        """Unexpired cache entries, oldest expiry first, at most `limit` (warms the service's memo)."""
        with self._read() as tx:
            rows = tx.rows(self.q(
                lambda: select(cache.c.key, cache.c.expires_at, cache.c.result)
                .where(cache.c.expires_at > B("now")).order_by(cache.c.expires_at).limit(B("n", type_=Integer))
            ), now=self._clock(), n=limit)
        return [(key, expires_at, TriageResult.model_validate_json(raw)) for key, expires_at, raw in rows]

    def purge_older_than(self, before: float) -> dict[str, int]:
        """Retention: delete rows older than `before` that nothing needs any more; counts per table."""
        counts: dict[str, int] = {}
        self._indexed.clear()  # an identity whose triages are all gone is indexed again by its next one
        with self._tx() as tx:
            for table, statement in PURGE:
                prepared = self.q(lambda: text(statement.format(p=":before")), variant=statement)  # noqa: B023
                counts[table] = tx.run(prepared, before=before).rowcount
            if counts.get("incident_text"):
                self._searches.clear()
                self._indexed.clear()
                # The index drops the purged texts' entries, and the words are counted again from the texts
                # left (the counts hold words of the purged texts too).
                self.dialect.compact_fulltext(tx)
                tx.run(self.q(lambda: delete(incident_terms)))
                for (body,) in tx.rows(self.q(lambda: select(incident_text.c.text))):
                    self._count_terms(tx, body)
        if counts.get("incident_text") or counts.get("triages"):
            self.dialect.forget_old_pages()
        return counts

    def purge_expired(self) -> int:
        with self._tx() as tx:
            return int(tx.run(self.q(lambda: delete(cache).where(cache.c.expires_at <= B("now"))),
                              now=self._clock()).rowcount)

    # --- feedback ------------------------------------------------------------------------------

    def record_feedback(
        self, triage_id: str, user: str, action: str, old_value: str | None, new_value: str | None,
        origin: str = "slack",
    ) -> bool:
        """Store one click; False when the same user already made the same choice (idempotent).

        `origin` says where it came from: "slack" (a click), "http" or "mcp" (a verdict by name).
        """
        with self._tx() as tx:
            same = tx.one(self.q(lambda: select(feedback.c.id).where(
                feedback.c.triage_id == B("triage"), feedback.c.user == B("who"), feedback.c.action == B("what"),
                func.coalesce(feedback.c.new_value, "") == B("value"),
            ).limit(1)), triage=triage_id, who=user, what=action, value=new_value or "")
            if same is not None:
                return False
            raw = tx.scalar(self.q(lambda: select(triages.c.result).where(triages.c.id == B("triage"))),
                            triage=triage_id)
            meta = TriageResult.model_validate_json(raw).meta if raw is not None else None
            # The unique index settles two replicas storing the same click at the same moment.
            inserted = tx.one(self.q(
                lambda: self.dialect.insert(feedback).on_conflict_do_nothing().returning(feedback.c.id),
                keys=("triage_id", "user", "action", "old_value", "new_value", "created_at", "model",
                      "prompt_version", "engine", "origin"),
            ), triage_id=triage_id, user=user, action=action, old_value=old_value, new_value=new_value, origin=origin,
                created_at=self._clock(), model=meta.model if meta else None,
                prompt_version=meta.prompt_version if meta else None, engine=meta.engine if meta else None)
            if inserted is None:
                return False
            # In the same transaction: the card's verdict becomes the precedent of its incident identity.
            self._refresh_verdict(tx, triage_id)
            return True

    def feedback_for(self, triage_id: str) -> list[dict[str, Any]]:
        with self._read() as tx:
            return tx.dicts(self.q(
                lambda: select(feedback).where(feedback.c.triage_id == B("triage")).order_by(feedback.c.id)
            ), triage=triage_id)

    def feedback_rows(self, since: float = 0.0) -> list[dict[str, Any]]:
        with self._read() as tx:
            return tx.dicts(self.q(
                lambda: select(feedback).where(feedback.c.created_at >= B("since")).order_by(feedback.c.id)
            ), since=since)

    # --- incident memory -----------------------------------------------------------------------
    # A verdict is folded from a card's feedback rows whenever one is stored, so precedents need no extra
    # call from the Slack or HTTP paths. One indexed text per incident identity keeps the search small.

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

    def repair_verdicts(self) -> None:
        """Fold feedback that has no verdict yet: stored before verdicts existed, or cut off by a crash."""
        with self._tx() as tx:
            stale = tx.rows(self.q(
                lambda: select(feedback.c.triage_id).distinct()
                .outerjoin(verdicts, verdicts.c.triage_id == feedback.c.triage_id)
                .where(or_(verdicts.c.triage_id.is_(None), feedback.c.created_at > verdicts.c.judged_at))
            ))
            for (triage_id,) in stale:
                self._refresh_verdict(tx, triage_id)

    def _refresh_verdict(self, tx: Tx, triage_id: str) -> None:
        self._any_verdict = None
        card = tx.one(self.q(
            lambda: select(triages.c.fingerprint, triages.c.severity, triages.c.category)
            .where(triages.c.id == B("triage"))
        ), triage=triage_id)
        if card is None:
            return
        rows = tx.dicts(self.q(
            lambda: select(feedback.c.action, feedback.c.user, feedback.c.new_value, feedback.c.created_at,
                           feedback.c.origin)
            .where(feedback.c.triage_id == B("triage")).order_by(feedback.c.id)
        ), triage=triage_id)
        folded = fold_verdict(card[1], card[2], rows)
        if folded is None:
            tx.run(self.q(lambda: delete(verdicts).where(verdicts.c.triage_id == B("triage"))), triage=triage_id)
            return

        def upsert() -> Any:
            stmt = self.dialect.insert(verdicts)
            return stmt.on_conflict_do_update(
                index_elements=[verdicts.c.triage_id],
                set_={k: stmt.excluded[k] for k in ("fingerprint", "verdict", "severity", "category", "judged_by",
                                                     "judged_at", "judged_origin")},
            )

        tx.run(self.q(upsert, keys=("triage_id", "fingerprint", "verdict", "severity", "category", "judged_by",
                                    "judged_at", "judged_origin")),
               triage_id=triage_id, fingerprint=card[0], verdict=folded.verdict, severity=folded.severity,
               category=folded.category, judged_by=folded.by, judged_at=folded.at, judged_origin=folded.origin)

    def set_verdict_link(self, triage_id: str, link: str) -> None:
        """Remember the permalink of a judged card (asked of Slack once, shown on every later card)."""
        with self._tx() as tx:
            tx.run(self.q(lambda: update(verdicts).where(verdicts.c.triage_id == B("triage"))
                          .values(link=B("permalink"))), triage=triage_id, permalink=link)

    def verdict_of(self, triage_id: str) -> dict[str, Any] | None:
        """The standing verdict on one card: triage_id, verdict, severity, category, by, at, fingerprint."""
        with self._read() as tx:
            row = tx.one(self.q(lambda: select(*VERDICT).where(verdicts.c.triage_id == B("triage"))),
                         triage=triage_id)
        return _verdict(row) if row else None

    def verdict_link(self, triage_id: str) -> str | None:
        with self._read() as tx:
            link = tx.scalar(self.q(lambda: select(verdicts.c.link).where(verdicts.c.triage_id == B("triage"))),
                             triage=triage_id)
        return str(link) if link else None

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
        return {**_verdict(row), "text": row[8]} if row else None

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
                judged.setdefault(row[6], _verdict(row))
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
        return [{**_verdict(row), **dict(zip(keys, row[8:], strict=True))} for row in rows]

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

    def _kept(self, tx: Tx) -> bool:
        """May what recalls keep be used? Never on a shared store; on SQLite, once anything kept is dropped
        whenever another connection has committed to the file since."""
        version = self.dialect.outside_writes(tx)
        if version is None:
            return False
        if version != self._kept_version:
            self._searches.clear()
            self._summaries.clear()
            self._indexed.clear()
            self._any_verdict = None
            self._kept_version = version
        return True

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

    # --- Slack ---------------------------------------------------------------------------------

    def _claim(self, tx: Tx, event_id: str, now: float) -> bool:
        prepared = self.q(
            lambda: self.dialect.insert(slack_events).on_conflict_do_nothing().returning(slack_events.c.event_id),
            keys=("event_id", "received_at"),
        )
        return tx.one(prepared, event_id=event_id, received_at=now) is not None

    def claim_event(self, event_id: str) -> bool:
        """True the first time an event id is seen (by any replica): re-deliveries are dropped by the caller."""
        with self._tx() as tx:
            return self._claim(tx, event_id, self._clock())

    def claimed(self, keys: tuple[str, ...]) -> bool:
        """Has any of these event keys been claimed already? (a cheap look before any work on a re-delivery)"""
        prepared = self.q(lambda: select(literal(1)).where(slack_events.c.event_id == B("k")).limit(1))
        with self._read() as tx:
            return any(tx.one(prepared, k=key) is not None for key in keys)

    def save_post(
        self, triage_id: str, channel: str, ts: str, thread_ts: str | None = None, requested_by: str | None = None
    ) -> None:
        """Where a card was posted, and who asked for it (a redraw keeps showing them)."""

        def upsert() -> Any:
            stmt = self.dialect.insert(posts)
            return stmt.on_conflict_do_update(
                index_elements=[posts.c.triage_id],
                set_={c.name: stmt.excluded[c.name] for c in posts.c if c.name != "triage_id"},
            )

        with self._tx() as tx:
            tx.run(self.q(upsert, keys=tuple(c.name for c in posts.c)), triage_id=triage_id, channel=channel, ts=ts,
                   thread_ts=thread_ts, requested_by=requested_by, created_at=self._clock())

    def triage_at(self, channel: str, ts: str) -> str | None:
        """The triage id a posted card shows now (re-triage moves it to the newer result)."""
        with self._read() as tx:
            found = tx.scalar(self.q(
                lambda: select(posts.c.triage_id).where(posts.c.channel == B("where"), posts.c.ts == B("at"))
                .order_by(posts.c.created_at.desc()).limit(1)
            ), where=channel, at=ts)
        return str(found) if found is not None else None

    def get_post(self, triage_id: str) -> dict[str, Any] | None:
        with self._read() as tx:
            rows = tx.dicts(self.q(lambda: select(posts).where(posts.c.triage_id == B("triage"))), triage=triage_id)
        return rows[0] if rows else None

    def posted_ids(self, since: float = 0.0) -> set[str]:
        """Triage ids that became a Slack card (posted by the bot) since a time."""
        with self._read() as tx:
            found = tx.rows(self.q(lambda: select(posts.c.triage_id).where(posts.c.created_at >= B("since"))),
                            since=since)
        return {str(triage_id) for (triage_id,) in found}

    def save_message_card(self, channel: str, message_ts: str, triage_id: str, now: float) -> None:
        """Remember that the card of `triage_id` answers the Slack message (channel, message_ts)."""

        def upsert() -> Any:
            stmt = self.dialect.insert(message_cards)
            return stmt.on_conflict_do_update(
                index_elements=[message_cards.c.channel, message_cards.c.message_ts],
                set_={"triage_id": stmt.excluded.triage_id, "created_at": stmt.excluded.created_at},
            )

        with self._tx() as tx:
            tx.run(self.q(upsert, keys=("channel", "message_ts", "triage_id", "created_at")),
                   channel=channel, message_ts=message_ts, triage_id=triage_id, created_at=now)

    def message_card(self, channel: str, message_ts: str) -> dict[str, Any] | None:
        """The posted card that already answers a Slack message: {triage_id, channel, ts}, or None.

        Looks at cards asked for on the message itself and at the incident card an alert-channel message
        opened or was counted into.
        """
        with self._read() as tx:
            row = tx.one(self.q(
                lambda: select(posts.c.triage_id, posts.c.channel, posts.c.ts)
                .join(message_cards, message_cards.c.triage_id == posts.c.triage_id)
                .where(message_cards.c.channel == B("where"), message_cards.c.message_ts == B("at"))
                .order_by(message_cards.c.created_at.desc()).limit(1)
            ), where=channel, at=message_ts) or tx.one(self.q(
                lambda: select(incidents.c.triage_id, incidents.c.channel, incidents.c.card_ts)
                .join(alerts, incidents.c.id == alerts.c.incident_id)
                .where(alerts.c.channel == B("where"), alerts.c.ts == B("at"), incidents.c.card_ts.is_not(None))
                .order_by(alerts.c.id.desc()).limit(1)
            ), where=channel, at=message_ts)
        if row is None:
            return None
        return {"triage_id": str(row[0]), "channel": str(row[1]), "ts": str(row[2])}

    def user_cards(self, user: str, limit: int = 10) -> list[dict[str, Any]]:
        """Cards a person asked for or judged, newest first: id, time, labels, summary, where it was posted."""
        with self._read() as tx:
            rows = tx.rows(self.q(
                lambda: select(triages.c.id, triages.c.created_at, triages.c.severity, triages.c.category,
                               triages.c.result, posts.c.channel, posts.c.ts)
                .outerjoin(posts, posts.c.triage_id == triages.c.id)
                .where(or_(
                    triages.c.id.in_(select(posts.c.triage_id).where(posts.c.requested_by == B("who"))),
                    triages.c.id.in_(select(feedback.c.triage_id).where(feedback.c.user == B("who"))),
                ))
                .order_by(triages.c.created_at.desc()).limit(B("n", type_=Integer))
            ), who=user, n=limit)
        return [
            {"triage_id": triage_id, "created_at": created_at, "severity": severity, "category": category,
             "summary": card_summary(result), "channel": channel, "ts": ts}
            for triage_id, created_at, severity, category, result, channel, ts in rows
        ]

    def open_incidents(self, since: float, limit: int = 10) -> list[Incident]:
        """Unresolved incidents with a posted card and an alert since `since`, most recent first."""
        with self._read() as tx:
            rows = tx.rows(self.q(
                lambda: select(*INCIDENT).where(incidents.c.resolved == 0, incidents.c.card_ts.is_not(None),
                                                incidents.c.last_seen >= B("since"))
                .order_by(incidents.c.last_seen.desc()).limit(B("n", type_=Integer))
            ), since=since, n=limit)
        return [_incident(row) for row in rows]

    # --- learned message templates (bot/identity) ----------------------------------------------

    def load_templates(self, limit: int) -> list[tuple[str, str, int, float]]:
        """The `limit` most recently seen templates: (id, pattern, count, last seen)."""
        t = identity_templates.c
        with self._read() as tx:
            rows = tx.rows(self.q(
                lambda: select(t.id, t.pattern, t.count, t.last_seen).order_by(t.last_seen.desc())
                .limit(B("n", type_=Integer))
            ), n=limit)
        return [(str(i), str(p), int(c), float(s)) for i, p, c, s in rows]

    def find_templates(self, group: str, limit: int) -> list[tuple[str, str, int, float]]:
        """The `limit` most recently seen templates of one group (a replica missing them looks here)."""
        t = identity_templates.c
        with self._read() as tx:
            rows = tx.rows(self.q(
                lambda: select(t.id, t.pattern, t.count, t.last_seen).where(t.grp == B("group"))
                .order_by(t.last_seen.desc()).limit(B("n", type_=Integer))
            ), group=group, n=limit)
        return [(str(i), str(p), int(c), float(s)) for i, p, c, s in rows]

    def save_templates(self, rows: Sequence[tuple[str, str, int, float, str]], keep: int | None) -> None:
        """Insert or update templates; past `keep` rows the least recently seen are dropped, except those
        of open incidents and judged ones: a flood of new messages cannot take a live identity away. `keep`
        None only stores (a template shared the moment it is learned; trimming comes with the periodic save)."""
        if not rows and keep is None:
            return
        t = identity_templates.c

        def upsert() -> Any:
            stmt = self.dialect.insert(identity_templates)
            return stmt.on_conflict_do_update(index_elements=[t.id], set_={
                "pattern": stmt.excluded.pattern,
                "grp": stmt.excluded.grp,
                "count": dialects.greatest(t.count, stmt.excluded["count"]),
                "last_seen": dialects.greatest(t.last_seen, stmt.excluded.last_seen),
            })

        def oldest() -> Any:
            live = select(incidents.c.fingerprint).where(incidents.c.resolved == 0)
            judged = select(verdicts.c.fingerprint)
            spare = select(t.id).where(t.id.not_in(live), t.id.not_in(judged)).order_by(t.last_seen)
            return delete(identity_templates).where(t.id.in_(spare.limit(B("n", type_=Integer))))

        with self._tx() as tx:
            if keep is None:
                # shared as it is learned: cheap to learn again if a crash loses it, so no wait for the disk
                self.dialect.relax_durability(tx)
            tx.many(self.q(upsert, keys=("id", "pattern", "count", "last_seen", "grp")),
                    [{"id": i, "pattern": p, "count": c, "last_seen": s, "grp": g} for i, p, c, s, g in rows])
            if keep is None:
                return
            total = int(tx.scalar(self.q(lambda: select(func.count()).select_from(identity_templates))))
            if total > keep:
                tx.run(self.q(oldest), n=total - keep)

    # --- alerts --------------------------------------------------------------------------------
    # Everything pending lives here, not in memory, so a restart (even after SIGKILL) resumes where it was.

    def accept_alert(
        self, source: str, channel: str, ts: str | None, text: str, now: float, claims: tuple[str, ...] = ()
    ) -> int | None:
        """Record an alert the moment it reaches us; everything after this can be redone.

        `claims` (Slack event id, channel+ts) are taken in the same transaction: None when one was taken
        before (a re-delivery), and a crash can never leave a claim without its alert.
        """
        try:
            with self._tx() as tx:
                return self._insert_alert(tx, source, channel, ts, text, now, claims, None, None, None)
        except Redelivery:
            return None

    def _insert_alert(
        self,
        tx: Tx,
        source: str,
        channel: str,
        ts: str | None,
        text: str,
        now: float,
        claims: tuple[str, ...],
        owner: str | None,
        fingerprint: str | None,
        sender: str | None,
    ) -> int:
        for key in claims:
            # A replica inserting the same key waits here for our commit, then finds it taken.
            if not self._claim(tx, key, now):
                raise Redelivery(key)
        return int(tx.scalar(self.q(
            lambda: alerts.insert().returning(alerts.c.id),
            keys=("received_at", "source", "channel", "ts", "text", "owner", "fingerprint", "sender"),
        ), received_at=now, source=source, channel=channel, ts=ts, text=text, owner=owner, fingerprint=fingerprint,
            sender=sender))

    def pending_alerts(self) -> list[dict[str, Any]]:
        a = alerts.c
        with self._read() as tx:
            return tx.dicts(self.q(
                lambda: select(a.id, a.source, a.channel, a.ts, a.text, a.fingerprint)
                .where(a.status == "accepted").order_by(a.id)
            ))

    def alert_counts(self) -> dict[str, int]:
        with self._read() as tx:
            rows = tx.rows(self.q(lambda: select(alerts.c.status, func.count()).group_by(alerts.c.status)))
        return {str(status): int(n) for status, n in rows}

    def finish_alert(self, alert_id: int, status: str = "done") -> None:
        with self._tx() as tx:
            tx.run(self.q(lambda: update(alerts).where(alerts.c.id == B("alert")).values(status=B("state"))),
                   alert=alert_id, state=status)

    # --- incidents -----------------------------------------------------------------------------

    def coalesce(
        self,
        alert_id: int,
        fingerprint: str,
        channel: str,
        thread_ts: str | None,
        resolved: bool,
        now: float,
        window: float,
        places: tuple[str, ...] = (),
    ) -> tuple[Incident | None, bool]:
        """Attach an alert to its open incident, or open one. Returns (incident, this alert must triage it).

        Idempotent per alert: re-running after a crash neither counts it twice nor opens a second incident.
        """
        with self._tx() as tx:
            return self._coalesce(tx, alert_id, fingerprint, channel, thread_ts, resolved, now, window, places)

    def take_alert(
        self,
        source: str,
        channel: str,
        ts: str | None,
        text: str,
        now: float,
        claims: tuple[str, ...],
        fingerprint: str,
        resolved: bool,
        window: float,
        places: tuple[str, ...] = (),
        owner: str | None = None,
        sender: str | None = None,
    ) -> tuple[int, Incident | None, bool] | None:
        """accept_alert and coalesce in one transaction (one trip to the store per alert in a storm).

        `fingerprint` is the incident key the alert coalesces by; it is kept with the alert so that recovery
        after a restart coalesces it the same way. Returns (alert id, incident, this alert must triage it), or
        None for a re-delivery. `owner` is the replica that will finish the alert; if it dies first, another
        takes the alert over.
        """
        try:
            with self._tx() as tx:
                alert_id = self._insert_alert(tx, source, channel, ts, text, now, claims, owner, fingerprint, sender)
                return (alert_id, *self._coalesce(tx, alert_id, fingerprint, channel, ts, resolved, now, window,
                                                  places))
        except Redelivery:
            return None

    def _coalesce(
        self,
        tx: Tx,
        alert_id: int,
        fingerprint: str,
        channel: str,
        thread_ts: str | None,
        resolved: bool,
        now: float,
        window: float,
        places: tuple[str, ...] = (),
    ) -> tuple[Incident | None, bool]:
        # One incident per identity: replicas coalescing the same problem take turns, until commit.
        self.dialect.serialise(tx, f"{channel}\x1f{fingerprint}")
        status, attached = tx.one(self.q(
            lambda: select(alerts.c.status, alerts.c.incident_id).where(alerts.c.id == B("alert"))
        ), alert=alert_id) or (None, None)
        if attached:
            row = tx.one(self.q(
                lambda: select(*INCIDENT, incidents.c.first_alert_id).where(incidents.c.id == B("incident"))
            ), incident=attached)
            if row is None:
                return None, False
            return _incident(row), row[-1] == alert_id and status == "accepted"
        row = tx.one(self.q(
            lambda: select(*INCIDENT).where(
                incidents.c.fingerprint == B("fp"), incidents.c.channel == B("where"), incidents.c.resolved == 0,
                incidents.c.last_seen >= B("since"),
            ).order_by(incidents.c.first_seen.desc()).limit(1)
        ), fp=fingerprint, where=channel, since=now - window)
        if row is not None:
            incident = _incident(row)
            if resolved:
                opener, this = alerts.alias(), alerts.alias()
                senders = tx.one(self.q(
                    lambda: select(opener.c.sender, this.c.sender)
                    .select_from(incidents)
                    .join(opener, opener.c.id == incidents.c.first_alert_id)
                    .join(this, this.c.id == B("alert"))
                    .where(incidents.c.id == B("incident"))
                ), alert=alert_id, incident=incident.id)
                if not may_resolve(*(senders or (None, None))):
                    # A resolved notice from anyone but the sender that opened the incident changes nothing.
                    tx.run(self.q(lambda: update(alerts).where(alerts.c.id == B("alert")).values(status="done")),
                           alert=alert_id)
                    return None, False
            tx.run(self.q(lambda: update(incidents).where(incidents.c.id == B("incident")).values(
                count=incidents.c.count + 1, last_seen=dialects.greatest(incidents.c.last_seen, B("now")), dirty=1,
                resolved=B("is_resolved"), places=B("where_seen"),
            )), incident=incident.id, now=now, is_resolved=int(resolved),
                where_seen=json.dumps(merge_places(list(incident.places), places)))
            tx.run(self.q(lambda: update(alerts).where(alerts.c.id == B("alert"))
                          .values(status="done", incident_id=B("incident"))), alert=alert_id, incident=incident.id)
            return incident, False
        if resolved:
            tx.run(self.q(lambda: update(alerts).where(alerts.c.id == B("alert")).values(status="done")),
                   alert=alert_id)
            return None, False
        incident_id = uuid.uuid4().hex
        created = tx.one(self.q(
            lambda: incidents.insert().returning(*INCIDENT),
            keys=("id", "fingerprint", "channel", "thread_ts", "first_seen", "last_seen", "first_alert_id", "places"),
        ), id=incident_id, fingerprint=fingerprint, channel=channel, thread_ts=thread_ts, first_seen=now,
            last_seen=now, first_alert_id=alert_id, places=json.dumps(merge_places([], places)))
        assert created is not None
        tx.run(self.q(lambda: update(alerts).where(alerts.c.id == B("alert")).values(incident_id=B("incident"))),
               alert=alert_id, incident=incident_id)
        return _incident(created), True

    def set_incident_card(self, incident_id: str, triage_id: str, alert_id: int) -> None:
        """The incident's card is triaged: queue its post and close the alert that opened it."""
        with self._tx() as tx:
            tx.run(self.q(
                lambda: update(incidents).where(incidents.c.id == B("incident"), incidents.c.triage_id.is_(None))
                .values(triage_id=B("triage"), post_state="pending")
            ), incident=incident_id, triage=triage_id)
            tx.run(self.q(lambda: update(alerts).where(alerts.c.id == B("alert")).values(status="done")),
                   alert=alert_id)

    def _incidents(self, prepared: dialects.Prepared, **params: Any) -> list[Incident]:
        with self._read() as tx:
            return [_incident(row) for row in tx.rows(prepared, **params)]

    def get_incident(self, incident_id: str) -> Incident | None:
        found = self._incidents(self.q(lambda: select(*INCIDENT).where(incidents.c.id == B("incident"))),
                                incident=incident_id)
        return found[0] if found else None

    def incident_for_triage(self, triage_id: str) -> Incident | None:
        found = self._incidents(self.q(lambda: select(*INCIDENT).where(incidents.c.triage_id == B("triage"))),
                                triage=triage_id)
        return found[0] if found else None

    def incidents(self) -> list[Incident]:
        return self._incidents(self.q(lambda: select(*INCIDENT).order_by(incidents.c.first_seen)))

    def due_posts(self, now: float, limit: int = 100) -> list[Incident]:
        """Cards waiting to be posted (including ones a crash left mid-send), oldest first."""
        return self._incidents(self.q(
            lambda: select(*INCIDENT).where(
                or_(incidents.c.post_state == "pending", incidents.c.post_state == "sending"),
                incidents.c.post_not_before <= B("now"),
            ).order_by(incidents.c.first_seen).limit(B("n", type_=Integer))
        ), now=now, n=limit)

    def post_states(self) -> dict[str, int]:
        with self._read() as tx:
            rows = tx.rows(self.q(
                lambda: select(incidents.c.post_state, func.count()).group_by(incidents.c.post_state)
            ))
        return {str(state): int(n) for state, n in rows}

    def mark_sending(self, incident_id: str) -> None:
        with self._tx() as tx:
            tx.run(self.q(lambda: update(incidents).where(incidents.c.id == B("incident"))
                          .values(post_state="sending")), incident=incident_id)

    def mark_posted(self, incident_id: str, card_ts: str, now: float) -> None:
        i = incidents.c
        with self._tx() as tx:
            tx.run(self.q(lambda: update(incidents).where(i.id == B("incident")).values(
                post_state="posted", card_ts=B("card"), shown_at=B("now"),
                dirty=case((or_(i.count > 1, i.resolved == 1), 1), else_=0),
            )), incident=incident_id, card=card_ts, now=now)

    def post_attempts(self, incident_id: str) -> int:
        with self._read() as tx:
            found = tx.scalar(self.q(
                lambda: select(incidents.c.post_attempts).where(incidents.c.id == B("incident"))
            ), incident=incident_id)
        return int(found or 0)

    def postpone_post(self, incident_id: str, not_before: float) -> None:
        i = incidents.c
        with self._tx() as tx:
            tx.run(self.q(lambda: update(incidents).where(i.id == B("incident")).values(
                post_state="pending", post_attempts=i.post_attempts + 1, post_not_before=B("later"),
            )), incident=incident_id, later=not_before)

    def postpone_sending(self, incident_id: str, not_before: float) -> None:
        """A post that may or may not have reached Slack (the connection dropped): it stays 'sending', so
        the next attempt, not before `not_before`, looks for it in the channel before posting again."""
        i = incidents.c
        with self._tx() as tx:
            tx.run(self.q(lambda: update(incidents).where(i.id == B("incident"), i.post_state == "sending").values(
                post_attempts=i.post_attempts + 1, lease_until=B("later"), post_not_before=B("later"),
            )), incident=incident_id, later=not_before)

    def queue_stats(self) -> list[tuple[str, str, int, float | None]]:
        """(queue, state, rows, oldest timestamp) of the work not finished: alerts, card posts, re-triages."""
        with self._read() as tx:
            rows = tx.rows(self.q(lambda: text(
                "select 'alerts', status, count(*), min(received_at) from alerts where status = 'accepted'"
                " group by status"
                " union all select 'cards', post_state, count(*), min(first_seen) from incidents"
                " where post_state <> 'posted' group by post_state"
                " union all select 'redraws', 'dirty', count(*), min(last_seen) from incidents"
                " where post_state = 'posted' and dirty = 1"
                " union all select 'retries', state, count(*), min(next_at) from retries where state = 'pending'"
                " group by state"
            )))
        return [(str(q), str(state), int(n), oldest) for q, state, n, oldest in rows if n]

    def due_updates(self, now: float, interval: float, limit: int = 100) -> list[Incident]:
        """Posted cards whose counter or resolution changed, and were last redrawn long enough ago."""
        return self._incidents(self.q(
            lambda: select(*INCIDENT).where(incidents.c.post_state == "posted", incidents.c.dirty == 1,
                                            incidents.c.shown_at <= B("before"))
            .order_by(incidents.c.shown_at).limit(B("n", type_=Integer))
        ), before=now - interval, n=limit)

    def mark_shown(self, incident_id: str, count: int, resolved: bool, now: float) -> None:
        """The card now shows `count` and `resolved`; it stays dirty if more repeats came meanwhile."""
        i = incidents.c
        with self._tx() as tx:
            tx.run(self.q(lambda: update(incidents).where(i.id == B("incident")).values(
                shown_at=B("now"), dirty=case((and_(i.count == B("shown"), i.resolved == B("shown_resolved")), 0),
                                              else_=1),
            )), incident=incident_id, now=now, shown=count, shown_resolved=int(resolved))

    def replace_incident_triage(self, old_triage_id: str, new_triage_id: str) -> None:
        with self._tx() as tx:
            tx.run(self.q(lambda: update(incidents).where(incidents.c.triage_id == B("old"))
                          .values(triage_id=B("new"))), old=old_triage_id, new=new_triage_id)

    # --- retry later ---------------------------------------------------------------------------

    def queue_retry(self, triage_id: str, channel: str, ts: str, next_at: float) -> None:
        with self._tx() as tx:
            tx.run(self.q(lambda: self.dialect.insert(retries).on_conflict_do_nothing(),
                          keys=("triage_id", "channel", "ts", "next_at")),
                   triage_id=triage_id, channel=channel, ts=ts, next_at=next_at)

    def due_retries(self, now: float, limit: int = 20) -> list[dict[str, Any]]:
        r = retries.c
        with self._read() as tx:
            return tx.dicts(self.q(
                lambda: select(r.triage_id, r.channel, r.ts, r.attempts)
                .where(r.state == "pending", r.next_at <= B("now"))
                .order_by(r.next_at).limit(B("n", type_=Integer))
            ), now=now, n=limit)

    def retry_later(self, triage_id: str, next_at: float) -> None:
        with self._tx() as tx:
            tx.run(self.q(lambda: update(retries).where(retries.c.triage_id == B("triage"))
                          .values(attempts=retries.c.attempts + 1, next_at=B("later"))),
                   triage=triage_id, later=next_at)

    def finish_retry(self, triage_id: str, state: str) -> None:
        with self._tx() as tx:
            tx.run(self.q(lambda: update(retries).where(retries.c.triage_id == B("triage"))
                          .values(state=B("final"))), triage=triage_id, final=state)

    def retry_states(self) -> dict[str, int]:
        with self._read() as tx:
            rows = tx.rows(self.q(lambda: select(retries.c.state, func.count()).group_by(retries.c.state)))
        return {str(state): int(n) for state, n in rows}

    # --- work several replicas may try to take (leases) ------------------------------------------
    # Candidates are locked with FOR UPDATE SKIP LOCKED on PostgreSQL (a replica never waits for, nor takes,
    # what another is claiming; SQLite has one writer and leaves the clause out), and each condition is checked
    # again on the row being changed: a row another replica claimed and committed meanwhile is seen in its new
    # state there and dropped.

    def heartbeat(self, replica: str, now: float) -> None:
        def upsert() -> Any:
            stmt = self.dialect.insert(replicas)
            return stmt.on_conflict_do_update(
                index_elements=[replicas.c.id],
                set_={"seen_at": dialects.greatest(replicas.c.seen_at, stmt.excluded.seen_at)},
            )

        with self._tx() as tx:
            tx.run(self.q(upsert, keys=("id", "seen_at")), id=replica, seen_at=now)

    def retire(self, replica: str) -> None:
        """A replica shutting down: what it still holds can be taken over at once."""
        with self._tx() as tx:
            tx.run(self.q(lambda: delete(replicas).where(replicas.c.id == B("replica"))), replica=replica)

    def take_over_alerts(self, replica: str, stale_before: float, limit: int = 500) -> list[dict[str, Any]]:
        """Accepted alerts nobody alive is working on (their replica died), now owned by `replica`."""
        a = alerts.c

        def build() -> Any:
            free = and_(a.status == "accepted",
                        or_(a.owner.is_(None), and_(a.owner != B("replica"), _dead(a.owner, B("stale")))))
            candidates = (
                select(a.id).where(free).order_by(a.id).limit(B("n", type_=Integer)).with_for_update(skip_locked=True)
            )
            return (
                update(alerts).where(a.id.in_(candidates), free).values(owner=B("replica"))
                .returning(a.id, a.source, a.channel, a.ts, a.text, a.fingerprint)
            )

        with self._tx() as tx:
            rows = tx.dicts(self.q(build), replica=replica, stale=stale_before, n=limit)
        return sorted(rows, key=lambda r: int(r["id"]))

    # --- the webhook spool: payloads acknowledged before they are processed -------------------------

    def spool_put(self, body: bytes, now: float, owner: str) -> int:
        with self._tx() as tx:
            return int(tx.scalar(self.q(
                lambda: webhook_spool.insert().returning(webhook_spool.c.id), keys=("received_at", "owner", "body")
            ), received_at=now, owner=owner, body=body))

    def spool_take(self, replica: str, stale_before: float) -> list[tuple[int, bytes]]:
        """Spooled payloads whose replica is gone, now owned by `replica`, oldest first."""
        w = webhook_spool.c

        def build() -> Any:
            free = or_(w.owner.is_(None), and_(w.owner != B("replica"), _dead(w.owner, B("stale"))))
            candidates = select(w.id).where(free).with_for_update(skip_locked=True)
            return update(webhook_spool).where(w.id.in_(candidates), free).values(owner=B("replica")).returning(
                w.id, w.body
            )

        with self._tx() as tx:
            rows = tx.rows(self.q(build), replica=replica, stale=stale_before)
        return sorted((int(spool_id), bytes(body)) for spool_id, body in rows)

    def spool_done(self, spool_id: int) -> None:
        with self._tx() as tx:
            tx.run(self.q(lambda: delete(webhook_spool).where(webhook_spool.c.id == B("spool"))), spool=spool_id)

    def claim_writes(
        self,
        replica: str,
        now: float,
        *,
        pace: float,
        interval: float,
        lease: float,
        stale_before: float,
        limit: int = 200,
    ) -> tuple[list[tuple[str, Incident]], float | None]:
        """Reserve the next Slack write of every channel whose pacing slot is free.

        Returns [(kind, incident)] with kind "post" (the incident's post_state is the one it had, so a
        "sending" card is looked for before being posted again) or "update" (a counter redraw), and the
        seconds until a busy channel with work frees up (None when none was waiting).
        """
        i = incidents.c

        def due_posts() -> Any:
            due = or_(
                and_(i.post_state == "pending", i.post_not_before <= B("now")),
                and_(i.post_state == "sending", or_(
                    i.lease_until <= B("now"),
                    and_(func.coalesce(i.lease_owner, "") != B("replica"), _dead(i.lease_owner, B("stale"))),
                )),
            )
            return self._heads(due, i.first_seen)

        def due_updates() -> Any:
            return self._heads(and_(i.post_state == "posted", i.dirty == 1, i.shown_at <= B("before")), i.shown_at)

        def reserve() -> Any:
            stmt = self.dialect.insert(channel_pace)
            return stmt.on_conflict_do_update(
                index_elements=[channel_pace.c.channel],
                set_={"next_at": stmt.excluded.next_at, "owner": stmt.excluded.owner},
                where=channel_pace.c.next_at <= B("now"),
            ).returning(channel_pace.c.channel)

        with self._tx() as tx:
            # Only the head of each channel's queue is read: a long backlog in one channel can never push
            # another channel's first card out of the batch.
            posts_due = [_incident(r) for r in tx.rows(self.q(due_posts), now=now, replica=replica,
                                                       stale=stale_before, n=limit)]
            updates = [_incident(r) for r in tx.rows(self.q(due_updates), before=now - interval, n=limit)]
            claimed: list[tuple[str, Incident]] = []
            busy: list[float] = []
            for kind, incident in one_per_channel(posts_due, updates):
                # Taken only when free; a replica reserving the same channel waits for our commit, then sees
                # the slot taken.
                slot = tx.one(self.q(reserve, keys=("channel", "next_at", "owner")), channel=incident.channel,
                              next_at=now + pace + WRITE_GRACE, owner=replica, now=now)
                if slot is None:
                    held = tx.scalar(self.q(
                        lambda: select(channel_pace.c.next_at).where(channel_pace.c.channel == B("where"))
                    ), where=incident.channel)
                    busy.append(float(held) if held is not None else now)
                    continue
                if kind == "post":
                    tx.run(self.q(lambda: update(incidents).where(i.id == B("incident")).values(
                        post_state="sending", lease_owner=B("replica"), lease_until=B("until"),
                    )), incident=incident.id, replica=replica, until=now + lease)
                else:
                    tx.run(self.q(lambda: update(incidents).where(i.id == B("incident")).values(shown_at=B("now"))),
                           incident=incident.id, now=now)
                claimed.append((kind, incident))
        return claimed, soonest_wait(now, busy)

    def _heads(self, due: ColumnElement[bool], oldest: Any) -> Any:
        """The first due incident of each channel (by `oldest`), locked for this transaction."""
        heads = self.dialect.first_of_each(incidents.c.id, incidents.c.channel, due, oldest)
        return (
            select(*INCIDENT).where(incidents.c.id.in_(heads), due).order_by(oldest).limit(B("n", type_=Integer))
            .with_for_update(skip_locked=True)
        )

    def free_channel(self, channel: str, replica: str, next_at: float) -> None:
        """The write is done: the channel takes its next write at `next_at` (unless someone took it over)."""
        with self._tx() as tx:
            tx.run(self.q(
                lambda: update(channel_pace)
                .where(channel_pace.c.channel == B("where"), channel_pace.c.owner == B("replica"))
                .values(next_at=B("later"))
            ), where=channel, replica=replica, later=next_at)

    def claim_retries(self, now: float, lease: float, limit: int = 20) -> list[dict[str, Any]]:
        """Due re-triage jobs, each pushed `lease` seconds ahead so no other process runs it meanwhile."""
        r = retries.c

        def build() -> Any:
            due = and_(r.state == "pending", r.next_at <= B("now"))
            candidates = (
                select(r.triage_id).where(due).order_by(r.next_at).limit(B("n", type_=Integer))
                .with_for_update(skip_locked=True)
            )
            return (
                update(retries).where(r.triage_id.in_(candidates), due).values(next_at=B("later"))
                .returning(r.triage_id, r.channel, r.ts, r.attempts)
            )

        with self._tx() as tx:
            return tx.dicts(self.q(build), now=now, later=now + lease, n=limit)

    def claim_flight(self, key: str, owner: str, now: float, lease: float, stale_before: float | None = None) -> bool:
        """True when `owner` may ask the model for `key`: nobody else is, or their lease ran out, or their
        replica's heartbeat is older than `stale_before` (it died asking).

        The database picks one winner among replicas claiming at once: a lapsed holder's row is deleted, then
        the claim is an INSERT of the unique key that does nothing on a conflict. A concurrent claimant's
        INSERT waits for the winner's commit and then finds its row. (Deciding inside ON CONFLICT DO UPDATE
        WHERE instead is unsafe: that condition's subqueries read the snapshot the statement started with,
        from before the winner committed.)
        """
        f = flights.c

        def lapsed() -> Any:
            gone = f.expires_at <= B("now")
            if stale_before is not None:
                gone = or_(gone, _dead(f.owner, B("stale")))
            return delete(flights).where(f.key == B("key"), gone)

        def take() -> Any:
            return self.dialect.insert(flights).on_conflict_do_nothing(index_elements=[f.key]).returning(f.key)

        extra = {} if stale_before is None else {"stale": stale_before}
        with self._tx() as tx:
            tx.run(self.q(lapsed, variant=stale_before is None), key=key, now=now, **extra)
            taken = tx.one(self.q(take, keys=("key", "owner", "expires_at")), key=key, owner=owner,
                           expires_at=now + lease)
        return taken is not None

    def end_flight(self, key: str, owner: str) -> None:
        with self._tx() as tx:
            tx.run(self.q(lambda: delete(flights).where(flights.c.key == B("k"), flights.c.owner == B("who"))),
                   k=key, who=owner)

    # --- context (bot/context): runbooks, recent changes, the tool-call audit --------------------

    def put_runbook(self, path: str, title: str, names: str, body: str, mtime: float) -> None:
        """Index one runbook (replacing what was indexed under its path)."""

        def upsert() -> Any:
            stmt = self.dialect.insert(runbooks)
            return stmt.on_conflict_do_update(
                index_elements=[runbooks.c.path],
                set_={c.name: stmt.excluded[c.name] for c in runbooks.c if c.name != "path"},
            )

        with self._tx() as tx:
            tx.run(self.q(upsert, keys=tuple(c.name for c in runbooks.c)),
                   path=path, title=title, names=names, body=body, mtime=mtime)
            self.dialect.index_runbook(tx, path, title, names, body)

    def delete_runbook(self, path: str) -> None:
        with self._tx() as tx:
            self.dialect.unindex_runbook(tx, path)
            tx.run(self.q(lambda: delete(runbooks).where(runbooks.c.path == B("path"))), path=path)

    def runbook_mtimes(self) -> dict[str, float]:
        """What is indexed: path -> the file's modification time when it was indexed."""
        with self._read() as tx:
            rows = tx.rows(self.q(lambda: select(runbooks.c.path, runbooks.c.mtime)))
        return {str(path): float(mtime) for path, mtime in rows}

    def search_runbooks(self, terms: Sequence[str], limit: int = 10) -> list[str]:
        """Paths of the runbooks holding any of the terms, best first (bm25 / ts_rank)."""
        words = [term for term in terms if term.strip().strip('"').strip("'")]
        if not words:
            return []
        with self._read() as tx:
            return self.dialect.search_runbooks(tx, words, limit)

    def add_change(self, change: Mapping[str, Any], now: float) -> str:
        """Record a deploy or config change; returns its id."""
        change_id = uuid.uuid4().hex
        keys = ("id", "service", "summary", "version", "environment", "author", "url", "at", "received_at")
        values = {key: change.get(key) for key in keys} | {"id": change_id, "received_at": now}
        with self._tx() as tx:
            tx.run(self.q(lambda: changes.insert(), keys=keys), **values)
        return change_id

    def recent_changes(self, since: float, service: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """Changes at or after `since` (to one service when given, case-insensitively), newest first."""
        columns = [c for c in changes.c if c.name != "received_at"]
        with self._read() as tx:
            if service:
                return tx.dicts(self.q(
                    lambda: select(*columns)
                    .where(changes.c.at >= B("since"), func.lower(changes.c.service) == func.lower(B("service")))
                    .order_by(changes.c.at.desc(), changes.c.id).limit(B("n", type_=Integer))
                ), since=since, service=service, n=limit)
            return tx.dicts(self.q(
                lambda: select(*columns).where(changes.c.at >= B("since"))
                .order_by(changes.c.at.desc(), changes.c.id).limit(B("n", type_=Integer))
            ), since=since, n=limit)

    def record_tool_call(self, triage_id: str, call: Mapping[str, Any], at: float) -> None:
        keys = ("triage_id", "server", "tool", "arguments", "outcome", "latency_ms", "result_chars", "error", "at")
        values = {key: call.get(key) for key in keys} | {"triage_id": triage_id, "at": at}
        with self._tx() as tx:
            tx.run(self.q(lambda: tool_calls.insert(), keys=keys), **values)

    def tool_calls_for(self, triage_id: str) -> list[dict[str, Any]]:
        columns = [c for c in tool_calls.c if c.name != "id"]
        with self._read() as tx:
            return tx.dicts(self.q(
                lambda: select(*columns).where(tool_calls.c.triage_id == B("t")).order_by(tool_calls.c.id)
            ), t=triage_id)
