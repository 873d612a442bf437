"""PostgreSQL storage for the context stage: runbooks in a tsvector index, recorded changes, the tool-call audit."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

import psycopg

from bot.store.postgres_memory import tsquery
from bot.store.sqlite_context import CHANGE_COLUMNS, TOOL_COLUMNS

Conn = psycopg.Connection[tuple[Any, ...]]


class PostgresContextStore:
    """Mixed into PostgresStore, which provides `_tx`."""

    def _tx(self) -> AbstractContextManager[Conn]:
        raise NotImplementedError

    def put_runbook(self, path: str, title: str, names: str, body: str, mtime: float) -> None:
        with self._tx() as conn:
            conn.execute(
                "insert into runbooks (path, title, names, body, mtime, search) values (%s, %s, %s, %s, %s,"
                " setweight(to_tsvector('english', %s || ' ' || %s), 'A') || to_tsvector('english', %s))"
                " on conflict (path) do update set title = excluded.title, names = excluded.names,"
                " body = excluded.body, mtime = excluded.mtime, search = excluded.search",
                (path, title, names, body, mtime, title, names, body),
            )

    def delete_runbook(self, path: str) -> None:
        with self._tx() as conn:
            conn.execute("delete from runbooks where path = %s", (path,))

    def runbook_mtimes(self) -> dict[str, float]:
        with self._tx() as conn:
            return {str(p): float(m) for p, m in conn.execute("select path, mtime from runbooks").fetchall()}

    def search_runbooks(self, terms: Sequence[str], limit: int = 10) -> list[str]:
        """Paths of the runbooks holding any of the terms, best (ts_rank) first."""
        if not terms:
            return []
        with self._tx() as conn:
            rows = conn.execute(
                "select path from runbooks, to_tsquery('english', %s) q where search @@ q"
                " order by ts_rank(search, q) desc, path limit %s",
                (tsquery(terms), limit),
            ).fetchall()
        return [str(row[0]) for row in rows]

    def add_change(self, change: Mapping[str, Any], now: float) -> str:
        change_id = uuid.uuid4().hex
        row = {**{k: change.get(k) for k in CHANGE_COLUMNS}, "id": change_id}
        with self._tx() as conn:
            conn.execute(
                f"insert into changes ({', '.join(CHANGE_COLUMNS)}, received_at) values "
                f"({', '.join('%s' for _ in CHANGE_COLUMNS)}, %s)",
                (*(row[k] for k in CHANGE_COLUMNS), now),
            )
        return change_id

    def recent_changes(self, since: float, service: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        sql = f"select {', '.join(CHANGE_COLUMNS)} from changes where at >= %s"
        args: list[Any] = [since]
        if service:
            sql += " and lower(service) = lower(%s)"
            args.append(service)
        sql += " order by at desc, id limit %s"
        args.append(limit)
        with self._tx() as conn:
            rows = conn.execute(sql.encode(), args).fetchall()
        return [dict(zip(CHANGE_COLUMNS, row, strict=True)) for row in rows]

    def record_tool_call(self, triage_id: str, call: Mapping[str, Any], at: float) -> None:
        row = {**{k: call.get(k) for k in TOOL_COLUMNS}, "triage_id": triage_id, "at": at}
        with self._tx() as conn:
            conn.execute(
                f"insert into tool_calls ({', '.join(TOOL_COLUMNS)}) values "
                f"({', '.join('%s' for _ in TOOL_COLUMNS)})".encode(),
                tuple(row[k] for k in TOOL_COLUMNS),
            )

    def tool_calls_for(self, triage_id: str) -> list[dict[str, Any]]:
        with self._tx() as conn:
            rows = conn.execute(
                f"select {', '.join(TOOL_COLUMNS)} from tool_calls where triage_id = %s order by id".encode(),
                (triage_id,),
            ).fetchall()
        return [dict(zip(TOOL_COLUMNS, row, strict=True)) for row in rows]
