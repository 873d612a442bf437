"""Context (bot/context): indexed runbooks, recent deploys and config changes, the audit of tool calls."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Integer, delete, func, select
from sqlalchemy import bindparam as B

from bot.store.schema import changes, runbooks, tool_calls
from bot.store.sql.core import StoreCore


class Context(StoreCore):
    """What the model may look at beside the alert, and what it did look at."""

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
