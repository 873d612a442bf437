"""The store, one implementation for SQLite and PostgreSQL (SQLAlchemy Core over bot/store/schema.py).

Methods are synchronous; async code runs them on the store's worker threads with `await store.run(fn, ...)`,
so database work never blocks the event loop. Each method is one transaction. On SQLite there is one worker
thread and one connection, and a write transaction takes the file's write lock at once (BEGIN IMMEDIATE), so a
check followed by a write is never interleaved. On PostgreSQL, shared by several replicas, whatever must be
decided once across them is decided by the database: unique keys with ON CONFLICT, row locks with
SKIP LOCKED, advisory locks. What differs between the two lives in bot/store/dialects.py.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
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

from bot.alerts.incidents import Incident, merge_places
from bot.card import TriageResult
from bot.memory.recall import INDEXED_TERMS, SIMILAR_LIMIT, pick_similar, rare_terms, related, search_terms, words
from bot.memory.verdicts import fold_verdict
from bot.store import dialects
from bot.store.leases import WRITE_GRACE, one_per_channel, soonest_wait
from bot.store.migrate import upgrade
from bot.store.retention import PURGE
from bot.store.schema import (
    alerts,
    cache,
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
    slack_events,
    triages,
    verdicts,
)

P = ParamSpec("P")
T = TypeVar("T")
POOL_SIZE = 8

# Bounds on what is indexed and handed back: enough words to find an incident, little to carry around.
INDEXED_CHARS = 4000
EXCERPT_CHARS = 600
FTS_CANDIDATES = 30

INCIDENT = (
    incidents.c.id, incidents.c.fingerprint, incidents.c.channel, incidents.c.thread_ts, incidents.c.count,
    incidents.c.first_seen, incidents.c.last_seen, incidents.c.triage_id, incidents.c.card_ts, incidents.c.resolved,
    incidents.c.dirty, incidents.c.shown_at, incidents.c.post_state, incidents.c.places,
)
VERDICT = (
    verdicts.c.triage_id, verdicts.c.verdict, verdicts.c.severity, verdicts.c.category, verdicts.c.judged_by,
    verdicts.c.judged_at, verdicts.c.fingerprint,
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
    triage_id, verdict, severity, category, by, at, fingerprint = tuple(row)[:7]
    return {
        "triage_id": triage_id, "verdict": verdict, "severity": severity, "category": category,
        "by": by, "at": at, "fingerprint": fingerprint,
    }


def card_summary(raw: Any) -> str:
    """The summary of a stored card (its result JSON), or "" when it cannot be read."""
    try:
        return str(json.loads(raw).get("summary") or "")
    except (TypeError, ValueError, AttributeError):
        return ""


def _dead(owner: ColumnElement[Any], stale_before: float) -> ColumnElement[bool]:
    """The lease holder `owner` is not alive: no heartbeat of its replica at or after `stale_before`."""
    return ~exists().where(replicas.c.id == owner, replicas.c.seen_at >= stale_before)


class SQLStore:
    """The Store protocol (bot/store/base.py) on either backend."""

    def __init__(self, dialect: dialects.Dialect, clock: Callable[[], float] = time.time) -> None:
        self.dialect = dialect
        self.engine = dialect.engine
        self.shared = dialect.shared
        self._clock = clock
        self._lock = dialect.lock()
        self._executor = ThreadPoolExecutor(max_workers=dialect.workers, thread_name_prefix="store")
        with self._lock:
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
            dialect.engine.dispose()
            raise

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        """One write transaction: committed when the block ends, rolled back when it raises."""
        with self._lock, self.engine.begin() as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """One read-only transaction (on SQLite it does not take the write lock)."""
        with self._lock, self.engine.connect() as conn:
            yield conn.execution_options(read_only=True)

    def _rows(self, query: Any, args: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        with self._read() as conn:
            return [dict(row._mapping) for row in conn.execute(query, args or {})]

    def _incidents(self, query: Any) -> list[Incident]:
        with self._read() as conn:
            return [_incident(row) for row in conn.execute(query)]

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
        meta = result.meta
        row = {
            "id": meta.triage_id, "created_at": meta.created_at or self._clock(), "source": meta.source,
            "input_hash": meta.input_hash, "fingerprint": meta.fingerprint, "text": text,
            "category": result.category, "severity": result.severity, "confidence": result.confidence,
            "engine": meta.engine, "model": meta.model, "prompt_version": meta.prompt_version,
            "cached": int(meta.cached), "degraded": int(meta.degraded), "degraded_reason": meta.degraded_reason,
            "needs_review": int(meta.needs_review), "latency_ms": meta.latency_ms, "cost_usd": meta.cost_usd,
            "outcome": outcome, "error": error, "result": result.model_dump_json(),
        }
        stmt = self.dialect.insert(triages).values(row)
        stmt = stmt.on_conflict_do_update(
            index_elements=[triages.c.id], set_={k: stmt.excluded[k] for k in row if k != "id"}
        )
        with self._tx() as conn:
            self._index_incident(conn, meta.fingerprint, text)
            conn.execute(stmt)
            if cache is not None:
                self._put_cached(conn, *cache)

    def get_triage(self, triage_id: str) -> TriageResult | None:
        with self._read() as conn:
            raw = conn.execute(select(triages.c.result).where(triages.c.id == triage_id)).scalar()
        return TriageResult.model_validate_json(raw) if raw is not None else None

    def triage_text(self, triage_id: str) -> str | None:
        """The redacted input of a triage, for asking again."""
        with self._read() as conn:
            found = conn.execute(select(triages.c.text).where(triages.c.id == triage_id)).scalar()
        return str(found) if found is not None else None

    def count_triages(self) -> int:
        with self._read() as conn:
            return int(conn.execute(select(func.count()).select_from(triages)).scalar_one())

    def triage_rows(self, since: float = 0.0) -> list[dict[str, Any]]:
        return self._rows(select(triages).where(triages.c.created_at >= since).order_by(triages.c.created_at))

    def spent_since(self, since: float) -> float:
        with self._read() as conn:
            total = conn.execute(
                select(func.coalesce(func.sum(triages.c.cost_usd), 0.0)).where(triages.c.created_at >= since)
            ).scalar_one()
        return float(total)

    # --- idempotency cache ---------------------------------------------------------------------

    def get_cached(self, key: str) -> TriageResult | None:
        with self._read() as conn:
            raw = conn.execute(
                select(cache.c.result).where(cache.c.key == key, cache.c.expires_at > self._clock())
            ).scalar()
        return TriageResult.model_validate_json(raw) if raw is not None else None

    def put_cached(self, key: str, result: TriageResult, ttl: float) -> None:
        if ttl <= 0:
            return
        with self._tx() as conn:
            self._put_cached(conn, key, result, ttl)

    def _put_cached(self, conn: Connection, key: str, result: TriageResult, ttl: float) -> None:
        if ttl <= 0:
            return
        stmt = self.dialect.insert(cache).values(
            key=key, result=result.model_dump_json(), expires_at=self._clock() + ttl
        )
        conn.execute(stmt.on_conflict_do_update(
            index_elements=[cache.c.key], set_={"result": stmt.excluded.result, "expires_at": stmt.excluded.expires_at}
        ))

    def live_cache(self, limit: int) -> list[tuple[str, float, TriageResult]]:
        """Unexpired cache entries, oldest expiry first, at most `limit` (warms the service's memo)."""
        with self._read() as conn:
            rows = conn.execute(
                select(cache.c.key, cache.c.expires_at, cache.c.result)
                .where(cache.c.expires_at > self._clock()).order_by(cache.c.expires_at).limit(limit)
            ).all()
        return [(key, expires_at, TriageResult.model_validate_json(raw)) for key, expires_at, raw in rows]

    def purge_older_than(self, before: float) -> dict[str, int]:
        """Retention: delete rows older than `before` that nothing needs any more; counts per table."""
        counts: dict[str, int] = {}
        with self._tx() as conn:
            for table, statement in PURGE:
                counts[table] = conn.execute(text(statement.format(p=":before")), {"before": before}).rowcount
        return counts

    def purge_expired(self) -> int:
        with self._tx() as conn:
            return conn.execute(delete(cache).where(cache.c.expires_at <= self._clock())).rowcount

    # --- feedback ------------------------------------------------------------------------------

    def record_feedback(
        self, triage_id: str, user: str, action: str, old_value: str | None, new_value: str | None
    ) -> bool:
        """Store one click; False when the same user already made the same choice (idempotent)."""
        with self._tx() as conn:
            same = conn.execute(
                select(feedback.c.id).where(
                    feedback.c.triage_id == triage_id, feedback.c.user == user, feedback.c.action == action,
                    func.coalesce(feedback.c.new_value, "") == (new_value or ""),
                ).limit(1)
            ).first()
            if same is not None:
                return False
            raw = conn.execute(select(triages.c.result).where(triages.c.id == triage_id)).scalar()
            meta = TriageResult.model_validate_json(raw).meta if raw is not None else None
            # The unique index settles two replicas storing the same click at the same moment.
            inserted = conn.execute(
                self.dialect.insert(feedback).values(
                    triage_id=triage_id, user=user, action=action, old_value=old_value, new_value=new_value,
                    created_at=self._clock(), model=meta.model if meta else None,
                    prompt_version=meta.prompt_version if meta else None, engine=meta.engine if meta else None,
                ).on_conflict_do_nothing().returning(feedback.c.id)
            ).first()
            if inserted is None:
                return False
            # In the same transaction: the card's verdict becomes the precedent of its incident identity.
            self._refresh_verdict(conn, triage_id)
            return True

    def feedback_for(self, triage_id: str) -> list[dict[str, Any]]:
        return self._rows(select(feedback).where(feedback.c.triage_id == triage_id).order_by(feedback.c.id))

    def feedback_rows(self, since: float = 0.0) -> list[dict[str, Any]]:
        return self._rows(select(feedback).where(feedback.c.created_at >= since).order_by(feedback.c.id))

    # --- incident memory -----------------------------------------------------------------------
    # A verdict is folded from a card's feedback rows whenever one is stored, so precedents need no extra
    # call from the Slack or HTTP paths. One indexed text per incident identity keeps the search small.

    def _index_incident(self, conn: Connection, fingerprint: str, body: str) -> None:
        """Index the first text of each identity."""
        seen = conn.execute(select(literal(1)).where(triages.c.fingerprint == fingerprint).limit(1)).first()
        if seen is None and self.dialect.index_text(conn, fingerprint, body[:INDEXED_CHARS]):
            self._count_terms(conn, body)

    def _count_terms(self, conn: Connection, body: str) -> None:
        # Sorted: replicas indexing at the same moment take the rows' locks in the same order.
        terms = sorted(words(body[:INDEXED_CHARS], INDEXED_TERMS))
        if not terms:
            return
        stmt = self.dialect.insert(incident_terms)
        stmt = stmt.on_conflict_do_update(
            index_elements=[incident_terms.c.term], set_={"docs": incident_terms.c.docs + 1}
        )
        conn.execute(stmt, [{"term": term, "docs": 1} for term in terms])

    def backfill_terms(self) -> None:
        """Count the words of incidents indexed before word counts existed (once, when the store opens)."""
        with self._tx() as conn:
            if conn.execute(select(incident_terms.c.term).limit(1)).first() is not None:
                return
            for (body,) in conn.execute(select(incident_text.c.text)).all():
                self._count_terms(conn, body)

    def repair_verdicts(self) -> None:
        """Fold feedback that has no verdict yet: stored before verdicts existed, or cut off by a crash."""
        with self._tx() as conn:
            stale = conn.execute(
                select(feedback.c.triage_id).distinct()
                .outerjoin(verdicts, verdicts.c.triage_id == feedback.c.triage_id)
                .where(or_(verdicts.c.triage_id.is_(None), feedback.c.created_at > verdicts.c.judged_at))
            ).scalars().all()
            for triage_id in stale:
                self._refresh_verdict(conn, triage_id)

    def _refresh_verdict(self, conn: Connection, triage_id: str) -> None:
        card = conn.execute(
            select(triages.c.fingerprint, triages.c.severity, triages.c.category).where(triages.c.id == triage_id)
        ).first()
        if card is None:
            return
        rows = conn.execute(
            select(feedback.c.action, feedback.c.user, feedback.c.new_value, feedback.c.created_at)
            .where(feedback.c.triage_id == triage_id).order_by(feedback.c.id)
        ).all()
        folded = fold_verdict(card[1], card[2], [dict(row._mapping) for row in rows])
        if folded is None:
            conn.execute(delete(verdicts).where(verdicts.c.triage_id == triage_id))
            return
        stmt = self.dialect.insert(verdicts).values(
            triage_id=triage_id, fingerprint=card[0], verdict=folded.verdict, severity=folded.severity,
            category=folded.category, judged_by=folded.by, judged_at=folded.at,
        )
        conn.execute(stmt.on_conflict_do_update(
            index_elements=[verdicts.c.triage_id],
            set_={k: stmt.excluded[k] for k in ("fingerprint", "verdict", "severity", "category", "judged_by",
                                                 "judged_at")},
        ))

    def set_verdict_link(self, triage_id: str, link: str) -> None:
        """Remember the permalink of a judged card (asked of Slack once, shown on every later card)."""
        with self._tx() as conn:
            conn.execute(update(verdicts).where(verdicts.c.triage_id == triage_id).values(link=link))

    def verdict_of(self, triage_id: str) -> dict[str, Any] | None:
        """The standing verdict on one card: triage_id, verdict, severity, category, by, at, fingerprint."""
        with self._read() as conn:
            row = conn.execute(select(*VERDICT).where(verdicts.c.triage_id == triage_id)).first()
        return _verdict(row) if row else None

    def verdict_link(self, triage_id: str) -> str | None:
        with self._read() as conn:
            link = conn.execute(select(verdicts.c.link).where(verdicts.c.triage_id == triage_id)).scalar()
        return str(link) if link else None

    def precedent(self, fingerprint: str) -> dict[str, Any] | None:
        """The latest verdict on any card of this identity, with an excerpt of the judged text."""
        with self._read() as conn:
            return self._precedent(conn, fingerprint)

    def _precedent(self, conn: Connection, fingerprint: str) -> dict[str, Any] | None:
        row = conn.execute(
            select(*VERDICT, func.substr(triages.c.text, 1, EXCERPT_CHARS))
            .join(triages, triages.c.id == verdicts.c.triage_id)
            .where(verdicts.c.fingerprint == fingerprint)
            .order_by(verdicts.c.judged_at.desc(), verdicts.c.triage_id.desc()).limit(1)
        ).first()
        return {**_verdict(row), "text": row[7]} if row else None

    def recall(
        self, fingerprint: str, text: str, *, exclude: str | None = None, limit: int = SIMILAR_LIMIT
    ) -> dict[str, Any]:
        """What memory knows about an incident: its precedent and up to `limit` similar earlier incidents.

        Similar ones come from the same identity and from a full-text search over other identities
        (one entry per identity, its judged card if any); judged ones first. Plain data: {"precedent":
        dict | None, "similar": [{triage_id, at, severity, category, verdict, by, summary, text}]}.
        """
        with self._read() as conn:
            precedent = self._precedent(conn, fingerprint)
            hits = self._search(conn, fingerprint, text)
            # The latest verdict per identity among the candidates.
            judged: dict[str, dict[str, Any]] = {}
            for row in conn.execute(
                select(*VERDICT).where(verdicts.c.fingerprint.in_([fingerprint, *hits]))
                .order_by(verdicts.c.judged_at.desc(), verdicts.c.triage_id.desc())
            ):
                if row[0] != exclude:
                    judged.setdefault(row[6], _verdict(row))
            picked = pick_similar(
                fingerprint, hits, judged, lambda fp, skip: self._latest(conn, fp, exclude, skip), exclude=exclude,
                limit=limit,
            )
            similar = [self._describe(conn, candidate) for candidate in picked]
        return {"precedent": precedent, "similar": [s for s in similar if s is not None]}

    def judged_cases(self, since: float = 0.0) -> list[dict[str, Any]]:
        """One row per judged card (its latest verdict) judged since a time, oldest verdict first."""
        with self._read() as conn:
            rows = conn.execute(
                select(*VERDICT, triages.c.text, triages.c.source, triages.c.severity, triages.c.category,
                       triages.c.created_at, triages.c.engine, triages.c.model, triages.c.prompt_version)
                .join(triages, triages.c.id == verdicts.c.triage_id).where(verdicts.c.judged_at >= since)
                .order_by(verdicts.c.judged_at, verdicts.c.triage_id)
            ).all()
        keys = ("text", "source", "card_severity", "card_category", "created_at", "engine", "model", "prompt_version")
        return [{**_verdict(row), **dict(zip(keys, tuple(row)[7:], strict=True))} for row in rows]

    def _search(self, conn: Connection, fingerprint: str, text: str) -> list[str]:
        """Other identities whose text is close to `text`, best first."""
        terms = search_terms(text)
        if not terms:
            return []
        documents = {
            str(term): int(docs) for term, docs in conn.execute(
                select(incident_terms.c.term, incident_terms.c.docs).where(incident_terms.c.term.in_(terms))
            )
        }
        chosen = rare_terms(terms, documents)
        if not chosen:
            return []
        found: list[str] = []
        for fp, indexed in self.dialect.search(conn, chosen, FTS_CANDIDATES):
            if fp != fingerprint and fp not in found and related(terms, indexed):
                found.append(fp)
        return found

    def _latest(
        self, conn: Connection, fingerprint: str, exclude: str | None, skip: str | None
    ) -> dict[str, Any] | None:
        found = conn.execute(
            select(triages.c.id).where(
                triages.c.fingerprint == fingerprint, triages.c.id != (exclude or ""), triages.c.id != (skip or "")
            ).order_by(triages.c.created_at.desc()).limit(1)
        ).scalar()
        return {"triage_id": found, "fingerprint": fingerprint} if found is not None else None

    def _describe(self, conn: Connection, candidate: Mapping[str, Any]) -> dict[str, Any] | None:
        row = conn.execute(
            select(triages.c.created_at, triages.c.severity, triages.c.category, triages.c.result,
                   func.substr(triages.c.text, 1, EXCERPT_CHARS)).where(triages.c.id == candidate["triage_id"])
        ).first()
        if row is None:
            return None
        at, severity, category, result, excerpt = row
        judged = candidate.get("verdict") is not None
        return {
            "triage_id": candidate["triage_id"], "at": at,
            "severity": candidate["severity"] if judged else severity,
            "category": candidate["category"] if judged else category,
            "verdict": candidate.get("verdict"), "by": candidate.get("by"),
            "summary": card_summary(result), "text": excerpt or "",
        }

    # --- Slack ---------------------------------------------------------------------------------

    def claim_event(self, event_id: str) -> bool:
        """True the first time an event id is seen (by any replica): re-deliveries are dropped by the caller."""
        with self._tx() as conn:
            stmt = self.dialect.insert(slack_events).values(event_id=event_id, received_at=self._clock())
            return conn.execute(stmt.on_conflict_do_nothing().returning(slack_events.c.event_id)).first() is not None

    def save_post(
        self, triage_id: str, channel: str, ts: str, thread_ts: str | None = None, requested_by: str | None = None
    ) -> None:
        """Where a card was posted, and who asked for it (a redraw keeps showing them)."""
        row = {"triage_id": triage_id, "channel": channel, "ts": ts, "thread_ts": thread_ts,
               "requested_by": requested_by, "created_at": self._clock()}
        stmt = self.dialect.insert(posts).values(row)
        with self._tx() as conn:
            conn.execute(stmt.on_conflict_do_update(
                index_elements=[posts.c.triage_id], set_={k: stmt.excluded[k] for k in row if k != "triage_id"}
            ))

    def triage_at(self, channel: str, ts: str) -> str | None:
        """The triage id a posted card shows now (re-triage moves it to the newer result)."""
        with self._read() as conn:
            found = conn.execute(
                select(posts.c.triage_id).where(posts.c.channel == channel, posts.c.ts == ts)
                .order_by(posts.c.created_at.desc()).limit(1)
            ).scalar()
        return str(found) if found is not None else None

    def get_post(self, triage_id: str) -> dict[str, Any] | None:
        rows = self._rows(select(posts).where(posts.c.triage_id == triage_id))
        return rows[0] if rows else None

    def posted_ids(self, since: float = 0.0) -> set[str]:
        """Triage ids that became a Slack card (posted by the bot) since a time."""
        with self._read() as conn:
            found = conn.execute(select(posts.c.triage_id).where(posts.c.created_at >= since)).scalars()
            return {str(triage_id) for triage_id in found}

    def save_message_card(self, channel: str, message_ts: str, triage_id: str, now: float) -> None:
        """Remember that the card of `triage_id` answers the Slack message (channel, message_ts)."""
        stmt = self.dialect.insert(message_cards).values(
            channel=channel, message_ts=message_ts, triage_id=triage_id, created_at=now
        )
        with self._tx() as conn:
            conn.execute(stmt.on_conflict_do_update(
                index_elements=[message_cards.c.channel, message_cards.c.message_ts],
                set_={"triage_id": stmt.excluded.triage_id, "created_at": stmt.excluded.created_at},
            ))

    def message_card(self, channel: str, message_ts: str) -> dict[str, Any] | None:
        """The posted card that already answers a Slack message: {triage_id, channel, ts}, or None.

        Looks at cards asked for on the message itself and at the incident card an alert-channel message
        opened or was counted into.
        """
        with self._read() as conn:
            row = conn.execute(
                select(posts.c.triage_id, posts.c.channel, posts.c.ts)
                .join(message_cards, message_cards.c.triage_id == posts.c.triage_id)
                .where(message_cards.c.channel == channel, message_cards.c.message_ts == message_ts)
                .order_by(message_cards.c.created_at.desc()).limit(1)
            ).first() or conn.execute(
                select(incidents.c.triage_id, incidents.c.channel, incidents.c.card_ts)
                .join(alerts, incidents.c.id == alerts.c.incident_id)
                .where(alerts.c.channel == channel, alerts.c.ts == message_ts, incidents.c.card_ts.is_not(None))
                .order_by(alerts.c.id.desc()).limit(1)
            ).first()
        if row is None:
            return None
        return {"triage_id": str(row[0]), "channel": str(row[1]), "ts": str(row[2])}

    def user_cards(self, user: str, limit: int = 10) -> list[dict[str, Any]]:
        """Cards a person asked for or judged, newest first: id, time, labels, summary, where it was posted."""
        with self._read() as conn:
            rows = conn.execute(
                select(triages.c.id, triages.c.created_at, triages.c.severity, triages.c.category, triages.c.result,
                       posts.c.channel, posts.c.ts)
                .outerjoin(posts, posts.c.triage_id == triages.c.id)
                .where(or_(
                    triages.c.id.in_(select(posts.c.triage_id).where(posts.c.requested_by == user)),
                    triages.c.id.in_(select(feedback.c.triage_id).where(feedback.c.user == user)),
                ))
                .order_by(triages.c.created_at.desc()).limit(limit)
            ).all()
        return [
            {"triage_id": triage_id, "created_at": created_at, "severity": severity, "category": category,
             "summary": card_summary(result), "channel": channel, "ts": ts}
            for triage_id, created_at, severity, category, result, channel, ts in rows
        ]

    def open_incidents(self, since: float, limit: int = 10) -> list[Incident]:
        """Unresolved incidents with a posted card and an alert since `since`, most recent first."""
        return self._incidents(
            select(*INCIDENT).where(incidents.c.resolved == 0, incidents.c.card_ts.is_not(None),
                                    incidents.c.last_seen >= since)
            .order_by(incidents.c.last_seen.desc()).limit(limit)
        )

    # --- learned message templates (bot/identity) ----------------------------------------------

    def load_templates(self, limit: int) -> list[tuple[str, str, int, float]]:
        """The `limit` most recently seen templates: (id, pattern, count, last seen)."""
        t = identity_templates.c
        with self._read() as conn:
            rows = conn.execute(select(t.id, t.pattern, t.count, t.last_seen).order_by(t.last_seen.desc()).limit(limit))
            return [(str(i), str(p), int(c), float(s)) for i, p, c, s in rows]

    def save_templates(self, rows: Sequence[tuple[str, str, int, float]], keep: int) -> None:
        """Insert or update templates; past `keep` rows the least recently seen are dropped."""
        if not rows:
            return
        t = identity_templates.c
        stmt = self.dialect.insert(identity_templates)
        stmt = stmt.on_conflict_do_update(index_elements=[t.id], set_={
            "pattern": stmt.excluded.pattern,
            "count": dialects.greatest(t.count, stmt.excluded["count"]),
            "last_seen": dialects.greatest(t.last_seen, stmt.excluded.last_seen),
        })
        with self._tx() as conn:
            conn.execute(stmt, [{"id": i, "pattern": p, "count": c, "last_seen": s} for i, p, c, s in rows])
            total = int(conn.execute(select(func.count()).select_from(identity_templates)).scalar_one())
            if total > keep:
                oldest = select(t.id).order_by(t.last_seen).limit(total - keep)
                conn.execute(delete(identity_templates).where(t.id.in_(oldest)))

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
            with self._tx() as conn:
                return self._insert_alert(conn, source, channel, ts, text, now, claims, None, None)
        except Redelivery:
            return None

    def _insert_alert(
        self,
        conn: Connection,
        source: str,
        channel: str,
        ts: str | None,
        text: str,
        now: float,
        claims: tuple[str, ...],
        owner: str | None,
        fingerprint: str | None,
    ) -> int:
        for key in claims:
            # A replica inserting the same key waits here for our commit, then finds it taken.
            stmt = self.dialect.insert(slack_events).values(event_id=key, received_at=now)
            if conn.execute(stmt.on_conflict_do_nothing().returning(slack_events.c.event_id)).first() is None:
                raise Redelivery(key)
        return int(conn.execute(
            alerts.insert().values(received_at=now, source=source, channel=channel, ts=ts, text=text, owner=owner,
                                   fingerprint=fingerprint).returning(alerts.c.id)
        ).scalar_one())

    def pending_alerts(self) -> list[dict[str, Any]]:
        a = alerts.c
        return self._rows(
            select(a.id, a.source, a.channel, a.ts, a.text, a.fingerprint).where(a.status == "accepted").order_by(a.id)
        )

    def alert_counts(self) -> dict[str, int]:
        with self._read() as conn:
            rows = conn.execute(select(alerts.c.status, func.count()).group_by(alerts.c.status)).all()
        return {str(status): int(n) for status, n in rows}

    def finish_alert(self, alert_id: int, status: str = "done") -> None:
        with self._tx() as conn:
            conn.execute(update(alerts).where(alerts.c.id == alert_id).values(status=status))

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
        with self._tx() as conn:
            return self._coalesce(conn, alert_id, fingerprint, channel, thread_ts, resolved, now, window, places)

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
    ) -> tuple[int, Incident | None, bool] | None:
        """accept_alert and coalesce in one transaction (one trip to the store per alert in a storm).

        `fingerprint` is the incident key the alert coalesces by; it is kept with the alert so that recovery
        after a restart coalesces it the same way. Returns (alert id, incident, this alert must triage it), or
        None for a re-delivery. `owner` is the replica that will finish the alert; if it dies first, another
        takes the alert over.
        """
        try:
            with self._tx() as conn:
                alert_id = self._insert_alert(conn, source, channel, ts, text, now, claims, owner, fingerprint)
                return (alert_id, *self._coalesce(conn, alert_id, fingerprint, channel, ts, resolved, now, window,
                                                  places))
        except Redelivery:
            return None

    def _coalesce(
        self,
        conn: Connection,
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
        self.dialect.serialise(conn, f"{channel}\x1f{fingerprint}")
        status, attached = conn.execute(
            select(alerts.c.status, alerts.c.incident_id).where(alerts.c.id == alert_id)
        ).first() or (None, None)
        if attached:
            row = conn.execute(select(*INCIDENT, incidents.c.first_alert_id).where(incidents.c.id == attached)).first()
            if row is None:
                return None, False
            return _incident(row), row[-1] == alert_id and status == "accepted"
        row = conn.execute(
            select(*INCIDENT).where(
                incidents.c.fingerprint == fingerprint, incidents.c.channel == channel, incidents.c.resolved == 0,
                incidents.c.last_seen >= now - window,
            ).order_by(incidents.c.first_seen.desc()).limit(1)
        ).first()
        if row is not None:
            incident = _incident(row)
            conn.execute(update(incidents).where(incidents.c.id == incident.id).values(
                count=incidents.c.count + 1, last_seen=dialects.greatest(incidents.c.last_seen, now), dirty=1,
                resolved=int(resolved), places=json.dumps(merge_places(list(incident.places), places)),
            ))
            conn.execute(update(alerts).where(alerts.c.id == alert_id).values(status="done", incident_id=incident.id))
            return incident, False
        if resolved:
            conn.execute(update(alerts).where(alerts.c.id == alert_id).values(status="done"))
            return None, False
        incident_id = uuid.uuid4().hex
        created = conn.execute(incidents.insert().values(
            id=incident_id, fingerprint=fingerprint, channel=channel, thread_ts=thread_ts, first_seen=now,
            last_seen=now, first_alert_id=alert_id, places=json.dumps(merge_places([], places)),
        ).returning(*INCIDENT)).one()
        conn.execute(update(alerts).where(alerts.c.id == alert_id).values(incident_id=incident_id))
        return _incident(created), True

    def set_incident_card(self, incident_id: str, triage_id: str, alert_id: int) -> None:
        """The incident's card is triaged: queue its post and close the alert that opened it."""
        with self._tx() as conn:
            conn.execute(
                update(incidents).where(incidents.c.id == incident_id, incidents.c.triage_id.is_(None))
                .values(triage_id=triage_id, post_state="pending")
            )
            conn.execute(update(alerts).where(alerts.c.id == alert_id).values(status="done"))

    def get_incident(self, incident_id: str) -> Incident | None:
        found = self._incidents(select(*INCIDENT).where(incidents.c.id == incident_id))
        return found[0] if found else None

    def incident_for_triage(self, triage_id: str) -> Incident | None:
        found = self._incidents(select(*INCIDENT).where(incidents.c.triage_id == triage_id))
        return found[0] if found else None

    def incidents(self) -> list[Incident]:
        return self._incidents(select(*INCIDENT).order_by(incidents.c.first_seen))

    def due_posts(self, now: float, limit: int = 100) -> list[Incident]:
        """Cards waiting to be posted (including ones a crash left mid-send), oldest first."""
        return self._incidents(
            select(*INCIDENT).where(incidents.c.post_state.in_(("pending", "sending")),
                                    incidents.c.post_not_before <= now)
            .order_by(incidents.c.first_seen).limit(limit)
        )

    def post_states(self) -> dict[str, int]:
        with self._read() as conn:
            rows = conn.execute(select(incidents.c.post_state, func.count()).group_by(incidents.c.post_state)).all()
        return {str(state): int(n) for state, n in rows}

    def _update_incident(self, incident_id: str, *where: ColumnElement[bool], **values: Any) -> None:
        with self._tx() as conn:
            conn.execute(update(incidents).where(incidents.c.id == incident_id, *where).values(**values))

    def mark_sending(self, incident_id: str) -> None:
        self._update_incident(incident_id, post_state="sending")

    def mark_posted(self, incident_id: str, card_ts: str, now: float) -> None:
        i = incidents.c
        self._update_incident(
            incident_id, post_state="posted", card_ts=card_ts, shown_at=now,
            dirty=case((or_(i.count > 1, i.resolved == 1), 1), else_=0),
        )

    def post_attempts(self, incident_id: str) -> int:
        with self._read() as conn:
            found = conn.execute(select(incidents.c.post_attempts).where(incidents.c.id == incident_id)).scalar()
        return int(found or 0)

    def postpone_post(self, incident_id: str, not_before: float) -> None:
        self._update_incident(
            incident_id, post_state="pending", post_attempts=incidents.c.post_attempts + 1, post_not_before=not_before
        )

    def postpone_sending(self, incident_id: str, not_before: float) -> None:
        """A post that may or may not have reached Slack (the connection dropped): it stays 'sending', so
        the next attempt, not before `not_before`, looks for it in the channel before posting again."""
        self._update_incident(
            incident_id, incidents.c.post_state == "sending",
            post_attempts=incidents.c.post_attempts + 1, lease_until=not_before, post_not_before=not_before,
        )

    def queue_stats(self) -> list[tuple[str, str, int, float | None]]:
        """(queue, state, rows, oldest timestamp) of the work not finished: alerts, card posts, re-triages."""
        with self._read() as conn:
            rows = conn.execute(text(
                "select 'alerts', status, count(*), min(received_at) from alerts where status = 'accepted'"
                " group by status"
                " union all select 'cards', post_state, count(*), min(first_seen) from incidents"
                " where post_state <> 'posted' group by post_state"
                " union all select 'redraws', 'dirty', count(*), min(last_seen) from incidents"
                " where post_state = 'posted' and dirty = 1"
                " union all select 'retries', state, count(*), min(next_at) from retries where state = 'pending'"
                " group by state"
            )).all()
        return [(str(q), str(state), int(n), oldest) for q, state, n, oldest in rows if n]

    def due_updates(self, now: float, interval: float, limit: int = 100) -> list[Incident]:
        """Posted cards whose counter or resolution changed, and were last redrawn long enough ago."""
        return self._incidents(
            select(*INCIDENT).where(incidents.c.post_state == "posted", incidents.c.dirty == 1,
                                    incidents.c.shown_at <= now - interval)
            .order_by(incidents.c.shown_at).limit(limit)
        )

    def mark_shown(self, incident_id: str, count: int, resolved: bool, now: float) -> None:
        """The card now shows `count` and `resolved`; it stays dirty if more repeats came meanwhile."""
        i = incidents.c
        self._update_incident(
            incident_id, shown_at=now,
            dirty=case((and_(i.count == count, i.resolved == int(resolved)), 0), else_=1),
        )

    def replace_incident_triage(self, old_triage_id: str, new_triage_id: str) -> None:
        with self._tx() as conn:
            conn.execute(
                update(incidents).where(incidents.c.triage_id == old_triage_id).values(triage_id=new_triage_id)
            )

    # --- retry later ---------------------------------------------------------------------------

    def queue_retry(self, triage_id: str, channel: str, ts: str, next_at: float) -> None:
        stmt = self.dialect.insert(retries).values(triage_id=triage_id, channel=channel, ts=ts, next_at=next_at)
        with self._tx() as conn:
            conn.execute(stmt.on_conflict_do_nothing())

    def due_retries(self, now: float, limit: int = 20) -> list[dict[str, Any]]:
        r = retries.c
        return self._rows(
            select(r.triage_id, r.channel, r.ts, r.attempts).where(r.state == "pending", r.next_at <= now)
            .order_by(r.next_at).limit(limit)
        )

    def retry_later(self, triage_id: str, next_at: float) -> None:
        with self._tx() as conn:
            conn.execute(
                update(retries).where(retries.c.triage_id == triage_id)
                .values(attempts=retries.c.attempts + 1, next_at=next_at)
            )

    def finish_retry(self, triage_id: str, state: str) -> None:
        with self._tx() as conn:
            conn.execute(update(retries).where(retries.c.triage_id == triage_id).values(state=state))

    def retry_states(self) -> dict[str, int]:
        with self._read() as conn:
            rows = conn.execute(select(retries.c.state, func.count()).group_by(retries.c.state)).all()
        return {str(state): int(n) for state, n in rows}

    # --- work several replicas may try to take (leases) ------------------------------------------
    # Candidates are locked with FOR UPDATE SKIP LOCKED on PostgreSQL (a replica never waits for, nor takes,
    # what another is claiming; SQLite has one writer and leaves the clause out), and each condition is checked
    # again on the row being changed: a row another replica claimed and committed meanwhile is seen in its new
    # state there and dropped.

    def heartbeat(self, replica: str, now: float) -> None:
        stmt = self.dialect.insert(replicas).values(id=replica, seen_at=now)
        with self._tx() as conn:
            conn.execute(stmt.on_conflict_do_update(
                index_elements=[replicas.c.id], set_={"seen_at": dialects.greatest(replicas.c.seen_at,
                                                                                    stmt.excluded.seen_at)}
            ))

    def retire(self, replica: str) -> None:
        """A replica shutting down: what it still holds can be taken over at once."""
        with self._tx() as conn:
            conn.execute(delete(replicas).where(replicas.c.id == replica))

    def take_over_alerts(self, replica: str, stale_before: float, limit: int = 500) -> list[dict[str, Any]]:
        """Accepted alerts nobody alive is working on (their replica died), now owned by `replica`."""
        a = alerts.c
        free = and_(a.status == "accepted",
                    or_(a.owner.is_(None), and_(a.owner != replica, _dead(a.owner, stale_before))))
        candidates = select(a.id).where(free).order_by(a.id).limit(limit).with_for_update(skip_locked=True)
        with self._tx() as conn:
            rows = conn.execute(
                update(alerts).where(a.id.in_(candidates), free).values(owner=replica)
                .returning(a.id, a.source, a.channel, a.ts, a.text, a.fingerprint)
            ).all()
        return sorted((dict(row._mapping) for row in rows), key=lambda r: int(r["id"]))

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
        due_post = or_(
            and_(i.post_state == "pending", i.post_not_before <= now),
            and_(i.post_state == "sending", or_(
                i.lease_until <= now,
                and_(func.coalesce(i.lease_owner, "") != replica, _dead(i.lease_owner, stale_before)),
            )),
        )
        due_update = and_(i.post_state == "posted", i.dirty == 1, i.shown_at <= now - interval)
        with self._tx() as conn:
            # Only the head of each channel's queue is read: a long backlog in one channel can never push
            # another channel's first card out of the batch.
            posts_due = [_incident(r) for r in conn.execute(self._heads(due_post, i.first_seen, limit))]
            updates = [_incident(r) for r in conn.execute(self._heads(due_update, i.shown_at, limit))]
            claimed: list[tuple[str, Incident]] = []
            busy: list[float] = []
            for kind, incident in one_per_channel(posts_due, updates):
                # Taken only when free; a replica reserving the same channel waits for our commit, then sees
                # the slot taken.
                stmt = self.dialect.insert(channel_pace).values(
                    channel=incident.channel, next_at=now + pace + WRITE_GRACE, owner=replica
                )
                slot = conn.execute(stmt.on_conflict_do_update(
                    index_elements=[channel_pace.c.channel],
                    set_={"next_at": stmt.excluded.next_at, "owner": stmt.excluded.owner},
                    where=channel_pace.c.next_at <= now,
                ).returning(channel_pace.c.channel)).first()
                if slot is None:
                    held = conn.execute(
                        select(channel_pace.c.next_at).where(channel_pace.c.channel == incident.channel)
                    ).scalar()
                    busy.append(float(held) if held is not None else now)
                    continue
                if kind == "post":
                    values: dict[str, Any] = {"post_state": "sending", "lease_owner": replica,
                                              "lease_until": now + lease}
                else:
                    values = {"shown_at": now}
                conn.execute(update(incidents).where(i.id == incident.id).values(**values))
                claimed.append((kind, incident))
        return claimed, soonest_wait(now, busy)

    @staticmethod
    def _heads(due: ColumnElement[bool], oldest: Any, limit: int) -> Any:
        """The first due incident of each channel (by `oldest`), locked for this transaction."""
        ranked = select(
            incidents.c.id, func.row_number().over(partition_by=incidents.c.channel, order_by=oldest).label("rn")
        ).where(due).subquery()
        heads = select(ranked.c.id).where(ranked.c.rn == 1)
        return (
            select(*INCIDENT).where(incidents.c.id.in_(heads), due).order_by(oldest).limit(limit)
            .with_for_update(skip_locked=True)
        )

    def free_channel(self, channel: str, replica: str, next_at: float) -> None:
        """The write is done: the channel takes its next write at `next_at` (unless someone took it over)."""
        with self._tx() as conn:
            conn.execute(
                update(channel_pace).where(channel_pace.c.channel == channel, channel_pace.c.owner == replica)
                .values(next_at=next_at)
            )

    def claim_retries(self, now: float, lease: float, limit: int = 20) -> list[dict[str, Any]]:
        """Due re-triage jobs, each pushed `lease` seconds ahead so no other process runs it meanwhile."""
        r = retries.c
        due = and_(r.state == "pending", r.next_at <= now)
        candidates = select(r.triage_id).where(due).order_by(r.next_at).limit(limit).with_for_update(skip_locked=True)
        with self._tx() as conn:
            rows = conn.execute(
                update(retries).where(r.triage_id.in_(candidates), due).values(next_at=now + lease)
                .returning(r.triage_id, r.channel, r.ts, r.attempts)
            ).all()
        return [dict(row._mapping) for row in rows]

    def claim_flight(self, key: str, owner: str, now: float, lease: float, stale_before: float | None = None) -> bool:
        """True when `owner` may ask the model for `key`: nobody else is, or their lease ran out, or their
        replica's heartbeat is older than `stale_before` (it died asking)."""
        free = flights.c.expires_at <= now
        if stale_before is not None:
            free = or_(free, _dead(flights.c.owner, stale_before))
        stmt = self.dialect.insert(flights).values(key=key, owner=owner, expires_at=now + lease)
        stmt = stmt.on_conflict_do_update(
            index_elements=[flights.c.key],
            set_={"owner": stmt.excluded.owner, "expires_at": stmt.excluded.expires_at}, where=free,
        ).returning(flights.c.key)
        with self._tx() as conn:
            return conn.execute(stmt).first() is not None

    def end_flight(self, key: str, owner: str) -> None:
        with self._tx() as conn:
            conn.execute(delete(flights).where(flights.c.key == key, flights.c.owner == owner))
