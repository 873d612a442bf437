"""Everything that differs between SQLite and PostgreSQL, in one place; the rest of the store is one code.

- connecting: SQLite gets WAL, a busy timeout and immediate write transactions on one connection (its writes
  are serialised by the file); PostgreSQL gets a connection pool shared by the store's worker threads.
- upserts: each backend's INSERT … ON CONFLICT construct (the same API in both SQLAlchemy dialects).
- `greatest(a, b)`: `max(a, b)` in SQLite.
- serialising work across processes: SQLite's BEGIN IMMEDIATE already holds the one write lock; PostgreSQL
  takes transaction-scoped advisory locks (coalescing an identity, migrating at start).
- running statements: each is compiled once per backend (`prepare`) and then run straight on the DB-API
  connection (`Tx`), so a call costs what the driver costs, not a statement build and compile.
- full-text search of incidents: an FTS5 virtual table ranked by bm25, or a tsvector column with a GIN
  index ranked by ts_rank.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Select, Table, create_engine, event, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import GenericFunction

from bot.store.schema import incident_text, runbook_text

FTS5_TABLE = "create virtual table if not exists incident_text using fts5(text, fingerprint unindexed)"
# The runbooks' full-text index: an FTS5 table beside `runbooks` on SQLite, a GIN index over the same
# expression the search uses on PostgreSQL.
RUNBOOK_FTS5 = (
    "create virtual table if not exists runbook_text using fts5(path unindexed, title, names, body,"
    " tokenize = 'porter unicode61')"
)
RUNBOOK_TSV = "to_tsvector('english', title || ' ' || names || ' ' || body)"
RUNBOOK_GIN = f"create index if not exists runbooks_search on runbooks using gin (({RUNBOOK_TSV}))"
# Any fixed number works: it only has to be the same in every replica of this application.
MIGRATION_LOCK = 0x7472_6961_6765  # "triage"
BUSY_TIMEOUT = 10.0


class greatest(GenericFunction[Any]):
    """The larger of its arguments (PostgreSQL `greatest`, SQLite's two-argument `max`)."""

    name = "greatest"
    inherit_cache = True


@compiles(greatest, "sqlite")
def _greatest_sqlite(element: greatest, compiler: SQLCompiler, **kw: Any) -> str:
    return f"max({compiler.process(element.clauses, **kw)})"


def is_postgres_url(url: str | None) -> bool:
    return bool(url) and str(url).startswith(("postgresql://", "postgres://", "postgresql+psycopg://"))


class Prepared:
    """A statement compiled once for one backend: its SQL and how to lay out its parameters."""

    __slots__ = ("defaults", "names", "sql")

    def __init__(self, sql: str, names: Sequence[str] | None, defaults: dict[str, Any]) -> None:
        self.sql = sql
        self.names = tuple(names) if names is not None else None  # positional (SQLite), else named
        self.defaults = defaults  # values the statement itself holds (constants)

    def params(self, given: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        merged = {**self.defaults, **given} if self.defaults else given
        if self.names is None:
            return dict(merged)
        return tuple([merged[name] for name in self.names])


class Tx:
    """One transaction (or, on SQLite, one read outside a transaction) on a DB-API connection."""

    __slots__ = ("raw",)

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def run(self, stmt: Prepared, **params: Any) -> Any:
        """Execute; returns the DB-API cursor (rows, rowcount, description)."""
        cursor = self.raw.cursor()
        cursor.execute(stmt.sql, stmt.params(params))
        return cursor

    def many(self, stmt: Prepared, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            self.raw.cursor().executemany(stmt.sql, [stmt.params(row) for row in rows])

    def rows(self, stmt: Prepared, **params: Any) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self.run(stmt, **params).fetchall()]

    def one(self, stmt: Prepared, **params: Any) -> tuple[Any, ...] | None:
        row = self.run(stmt, **params).fetchone()
        return tuple(row) if row is not None else None

    def scalar(self, stmt: Prepared, **params: Any) -> Any:
        row = self.run(stmt, **params).fetchone()
        return row[0] if row is not None else None

    def dicts(self, stmt: Prepared, **params: Any) -> list[dict[str, Any]]:
        cursor = self.run(stmt, **params)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


class Dialect:
    """What the store asks of its backend beyond portable SQL."""

    name = ""
    # True when other processes write to the same database (see Store.shared).
    shared = False
    workers = 1

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._search: Prepared | None = None
        self._index: Prepared | None = None
        self._runbook_search: Prepared | None = None
        self._runbook_index: tuple[Prepared, Prepared] | None = None

    def lock(self) -> AbstractContextManager[Any]:
        """Held around every use of a connection in this process."""
        return nullcontext()

    def prepare(self, stmt: ClauseElement, keys: Sequence[str] | None = None) -> Prepared:
        """Compile once; `keys` names the columns an INSERT or UPDATE is given (all, when None)."""
        compiled = stmt.compile(dialect=self.engine.dialect, column_keys=list(keys) if keys is not None else None)
        defaults = {
            name: value for name, value in compiled.params.items()
            if value is not None and type(value).__name__ != "symbol"  # not a required parameter
        }
        names = getattr(compiled, "positiontup", None) if self.engine.dialect.paramstyle == "qmark" else None
        return Prepared(str(compiled), names, defaults)

    def transaction(self, write: bool = True) -> AbstractContextManager[Tx]:
        """A write transaction, committed at the end of the block (rolled back when it raises), or a read."""
        raise NotImplementedError

    def ping(self, timeout: float) -> None:
        """Raise unless the database answers within `timeout` seconds."""
        raise NotImplementedError

    def outside_writes(self, tx: Tx) -> int | None:
        """A number that changes whenever another connection commits to the database; None when that cannot
        be told cheaply (then nothing read may be kept between transactions)."""
        return None

    def close(self) -> None:
        self.engine.dispose()

    def insert(self, table: Table) -> Any:
        """INSERT with .on_conflict_do_update / .on_conflict_do_nothing."""
        raise NotImplementedError

    def first_of_each(self, key: ColumnElement[Any], group: ColumnElement[Any], where: ColumnElement[bool],
                      order: ColumnElement[Any]) -> Select[Any]:
        """`key` of the first row (by `order`) of each `group` among the rows `where` holds."""
        ranked = select(key, func.row_number().over(partition_by=group, order_by=order).label("rn")).where(where)
        subquery = ranked.subquery()
        return select(subquery.c[0]).where(subquery.c.rn == 1)

    def serialise(self, tx: Tx, key: str) -> None:
        """Within the transaction, one process at a time past this point for `key`."""

    def migration_lock(self, conn: Connection) -> None:
        """Within the migration's transaction: replicas starting together migrate one after another."""

    def relax_durability(self, tx: Tx) -> None:
        """This transaction's commit need not wait for the disk (what it writes is cheap to lose)."""

    def compact_fulltext(self, tx: Tx) -> None:
        """After texts were deleted from the full-text index: drop what the index still holds of them."""

    def forget_old_pages(self) -> None:
        """After a purge: leave no copy of the deleted rows' pages behind (SQLite's write-ahead log)."""

    def create_fulltext(self, conn: Connection) -> None:
        raise NotImplementedError

    def index_text(self, tx: Tx, fingerprint: str, body: str) -> bool:
        """Index an identity's text; False when it already was."""
        raise NotImplementedError

    def index_runbook(self, tx: Tx, path: str, title: str, names: str, body: str) -> None:
        """Keep the runbooks' full-text index in step with the `runbooks` row just written."""

    def unindex_runbook(self, tx: Tx, path: str) -> None:
        """Drop a runbook from the full-text index (before its row is deleted or rewritten)."""

    # paths of the runbooks holding any of the terms (:q, see search_query), best first
    runbook_search_sql = ""

    def search_runbooks(self, tx: Tx, terms: Sequence[str], limit: int) -> list[str]:
        if self._runbook_search is None:
            self._runbook_search = self.prepare(text(self.runbook_search_sql))
        return [str(row[0]) for row in tx.rows(self._runbook_search, q=self.search_query(terms), n=limit)]

    # (fingerprint, text) of indexed incidents holding any of the terms (:q, see search_query), best first
    search_sql = ""

    def search_query(self, terms: Sequence[str]) -> str:
        raise NotImplementedError

    def search(self, tx: Tx, terms: Sequence[str], limit: int) -> list[tuple[str, str]]:
        if self._search is None:
            self._search = self.prepare(text(self.search_sql))
        return [(str(fp), str(body)) for fp, body in tx.rows(self._search, q=self.search_query(terms), n=limit)]


class SQLite(Dialect):
    name = "sqlite"

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._lock = threading.RLock()
        self._raw: Any = None  # the one DB-API connection, opened on first use

    def lock(self) -> AbstractContextManager[Any]:
        return self._lock

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Tx]:
        with self._lock:
            if self._raw is None:
                self._raw = self.engine.raw_connection()
            raw = self._raw.driver_connection
            if not write:
                # outside a transaction: each statement sees the last commit, and no lock is taken
                yield Tx(raw)
                return
            raw.execute("begin immediate")  # the file's write lock, at once: check-then-write is never interleaved
            try:
                yield Tx(raw)
            except BaseException:
                raw.execute("rollback")
                raise
            raw.execute("commit")

    def compact_fulltext(self, tx: Tx) -> None:
        tx.raw.execute("insert into incident_text (incident_text) values ('optimize')")

    def forget_old_pages(self) -> None:
        with self.transaction(write=False) as tx:
            tx.raw.execute("pragma wal_checkpoint(truncate)")

    def outside_writes(self, tx: Tx) -> int | None:
        # SQLite's own counter: it moves when any other connection (another process) commits to the file.
        return int(tx.raw.execute("pragma data_version").fetchone()[0])

    def ping(self, timeout: float) -> None:
        """Raise unless the file can be written now: a write lock is taken and released at once."""
        with self.transaction(write=False) as tx:
            busy = tx.raw.execute("pragma busy_timeout").fetchone()[0]
            tx.raw.execute(f"pragma busy_timeout = {int(timeout * 1000)}")
            try:
                tx.raw.execute("begin immediate")
                tx.raw.execute("rollback")
            finally:
                tx.raw.execute(f"pragma busy_timeout = {int(busy)}")

    def close(self) -> None:
        with self._lock:
            if self._raw is not None:
                self._raw.close()
                self._raw = None
        super().close()

    def insert(self, table: Table) -> Any:
        return sqlite.insert(table)

    def create_fulltext(self, conn: Connection) -> None:
        conn.exec_driver_sql(FTS5_TABLE)
        conn.exec_driver_sql(RUNBOOK_FTS5)

    def _runbook_statements(self) -> tuple[Prepared, Prepared]:
        if self._runbook_index is None:
            self._runbook_index = (
                self.prepare(runbook_text.insert()),
                self.prepare(text("delete from runbook_text where path = :path")),
            )
        return self._runbook_index

    def index_runbook(self, tx: Tx, path: str, title: str, names: str, body: str) -> None:
        insert, remove = self._runbook_statements()
        tx.run(remove, path=path)
        tx.run(insert, path=path, title=title, names=names, body=body)

    def unindex_runbook(self, tx: Tx, path: str) -> None:
        tx.run(self._runbook_statements()[1], path=path)

    # title and front-matter names weigh four times the body
    runbook_search_sql = (
        "select path from runbook_text where runbook_text match :q order by bm25(runbook_text, 0, 4, 4, 1) limit :n"
    )

    def index_text(self, tx: Tx, fingerprint: str, body: str) -> bool:
        if self._index is None:
            self._index = self.prepare(incident_text.insert())
        tx.run(self._index, fingerprint=fingerprint, text=body)
        return True

    # best bm25 first; each term quoted, so no word is an operator
    search_sql = (
        "select fingerprint, text from incident_text where incident_text match :q order by bm25(incident_text) limit :n"
    )

    def search_query(self, terms: Sequence[str]) -> str:
        return fts5_query(terms)


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



def fts5_query(terms: Sequence[str]) -> str:
    """An FTS5 MATCH expression that finds any of the terms; each is quoted, so no word is an operator."""
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)


def tsquery(terms: Sequence[str]) -> str:
    """A to_tsquery expression matching any term; each is quoted as a lexeme, so none is an operator."""
    return " | ".join("'" + term.replace("'", "''").replace("\\", "") + "'" for term in terms)


def connect(target: str, *, size: int = 8, timeout: float = 15.0) -> Dialect:
    """A PostgreSQL URL (TRIAGE_DATABASE_URL; `size` connections, `timeout` to get one) or the path of a SQLite
    file (`timeout`: how long a write waits for the file's lock)."""
    if is_postgres_url(target):
        url = make_url(target).set(drivername="postgresql+psycopg")
        engine = create_engine(
            url,
            pool_size=size,
            max_overflow=0,
            pool_timeout=timeout,
            connect_args={"connect_timeout": max(1, int(timeout))},
        )
        return Postgres(engine)
    return SQLite(_sqlite_engine(target, timeout))


def _sqlite_engine(path: str, busy_timeout: float = BUSY_TIMEOUT) -> Engine:
    # One connection, used under the store's lock by its single worker thread (or the caller's thread).
    engine = create_engine(
        f"sqlite:///{path}",
        poolclass=StaticPool,
        connect_args={"check_same_thread": False, "timeout": busy_timeout},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # transactions are begun below, not by the driver
        if path != ":memory:":
            dbapi_conn.execute("pragma journal_mode = wal")
        dbapi_conn.execute(f"pragma busy_timeout = {int(busy_timeout * 1000)}")
        dbapi_conn.execute("pragma synchronous = normal")
        # deleted rows are overwritten, not just unlinked: a purged text leaves nothing behind in the file
        dbapi_conn.execute("pragma secure_delete = on")

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # SQLAlchemy's own transactions (migrations) take the file's write lock at once.
        conn.exec_driver_sql("begin immediate")

    return engine
