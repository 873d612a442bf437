"""PostgreSQL: a connection pool shared by replicas, advisory locks, tsvector full-text indexes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Select, Table, create_engine, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url

from bot.store.dialects.base import Dialect
from bot.store.dialects.statements import Tx
from bot.store.schema import incident_text

# The runbooks' full-text index: a GIN index over the same expression the search uses.
RUNBOOK_TSV = "to_tsvector('english', title || ' ' || names || ' ' || body)"
RUNBOOK_GIN = f"create index if not exists runbooks_search on runbooks using gin (({RUNBOOK_TSV}))"
# Any fixed number works: it only has to be the same in every replica of this application.
MIGRATION_LOCK = 0x7472_6961_6765  # "triage"


class Postgres(Dialect):
    name = "postgresql"
    shared = True

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.workers = engine.pool.size()  # type: ignore[attr-defined]
        self._serialise = self.prepare(text("select pg_advisory_xact_lock(hashtextextended(:k, 0))"))

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Tx]:
        raw = self.engine.raw_connection()  # from the pool, back to it at the end
        try:
            try:
                yield Tx(raw.driver_connection)
            except BaseException:
                raw.rollback()
                raise
            raw.commit()
        finally:
            raw.close()

    def ping(self, timeout: float) -> None:
        """Raise unless a connection can be had and answers (the pool waits TRIAGE_DATABASE_TIMEOUT at most)."""
        with self.transaction(write=False) as tx:
            tx.raw.execute(f"set local statement_timeout = {max(1, int(timeout * 1000))}")
            tx.raw.execute("select 1")

    def insert(self, table: Table) -> Any:
        return postgresql.insert(table)

    def first_of_each(self, key: ColumnElement[Any], group: ColumnElement[Any], where: ColumnElement[bool],
                      order: ColumnElement[Any]) -> Select[Any]:
        return select(key).where(where).ext(postgresql.distinct_on(group)).order_by(group, order)

    def serialise(self, tx: Tx, key: str) -> None:
        tx.run(self._serialise, k=key)

    def relax_durability(self, tx: Tx) -> None:
        tx.raw.execute("set local synchronous_commit = off")

    def migration_lock(self, conn: Connection) -> None:
        conn.execute(text("select pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})

    def create_fulltext(self, conn: Connection) -> None:
        conn.exec_driver_sql(
            "create table if not exists incident_text (fingerprint text primary key, text text not null,"
            " tsv tsvector generated always as (to_tsvector('simple', text)) stored)"
        )
        conn.exec_driver_sql("create index if not exists incident_text_tsv on incident_text using gin (tsv)")
        conn.exec_driver_sql(RUNBOOK_GIN)

    runbook_search_sql = (
        f"select path from runbooks, to_tsquery('english', :q) q where {RUNBOOK_TSV} @@ q"
        f" order by ts_rank({RUNBOOK_TSV}, q) desc, path limit :n"
    )

    def index_text(self, tx: Tx, fingerprint: str, body: str) -> bool:
        if self._index is None:
            stmt = postgresql.insert(incident_text).on_conflict_do_nothing().returning(incident_text.c.fingerprint)
            self._index = self.prepare(stmt)
        return tx.one(self._index, fingerprint=fingerprint, text=body) is not None

    search_sql = (
        "select fingerprint, text from incident_text, to_tsquery('simple', :q) q where tsv @@ q"
        " order by ts_rank(tsv, q) desc limit :n"
    )

    def search_query(self, terms: Sequence[str]) -> str:
        return tsquery(terms)


def tsquery(terms: Sequence[str]) -> str:
    """A to_tsquery expression matching any term; each is quoted as a lexeme, so none is an operator."""
    return " | ".join("'" + term.replace("'", "''").replace("\\", "") + "'" for term in terms)


def postgres_engine(target: str, size: int, timeout: float) -> Engine:
    """A pool of `size` connections to the database at URL `target`; `timeout` to get one (or to connect)."""
    url = make_url(target).set(drivername="postgresql+psycopg")
    return create_engine(
        url,
        pool_size=size,
        max_overflow=0,
        pool_timeout=timeout,
        connect_args={"connect_timeout": max(1, int(timeout))},
    )
