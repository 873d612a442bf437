"""What the store asks of its backend beyond portable SQL, with what SQLite and PostgreSQL do alike."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Select, Table, func, select, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import GenericFunction

from bot.store.dialects.statements import Prepared, Tx


class greatest(GenericFunction[Any]):
    """The larger of its arguments (PostgreSQL `greatest`, SQLite's two-argument `max`)."""

    name = "greatest"
    inherit_cache = True


@compiles(greatest, "sqlite")
def _greatest_sqlite(element: greatest, compiler: SQLCompiler, **kw: Any) -> str:
    return f"max({compiler.process(element.clauses, **kw)})"


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
