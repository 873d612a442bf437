"""SQLite storage for the context stage: runbooks in an FTS5 index, recorded changes, the tool-call audit."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

CHANGE_COLUMNS = ("id", "service", "summary", "version", "environment", "author", "url", "at")
TOOL_COLUMNS = ("triage_id", "server", "tool", "arguments", "outcome", "latency_ms", "result_chars", "error", "at")


def fts_query(terms: Sequence[str]) -> str:
    """An FTS5 query matching any of the terms, each quoted so none is an operator."""
    return " OR ".join('"' + term.replace('"', "") + '"' for term in terms if term.replace('"', ""))


class ContextStore:
    """Mixed into SQLiteStore, which provides `conn` and `_lock`."""

    _lock: threading.RLock

    @property
    def conn(self) -> sqlite3.Connection:
        raise NotImplementedError

    # --- runbooks ------------------------------------------------------------------------------

    def put_runbook(self, path: str, title: str, names: str, body: str, mtime: float) -> None:
        """Index one runbook (replacing what was indexed under its path)."""
        with self._lock:
            self.conn.execute("begin immediate")
            try:
                self.conn.execute("delete from runbook_text where path = ?", (path,))
                self.conn.execute(
                    "insert or replace into runbooks (path, title, names, body, mtime) values (?, ?, ?, ?, ?)",
                    (path, title, names, body, mtime),
                )
                self.conn.execute(
                    "insert into runbook_text (path, title, names, body) values (?, ?, ?, ?)",
                    (path, title, names, body),
                )
            except BaseException:
                self.conn.execute("rollback")
                raise
            self.conn.execute("commit")

    def delete_runbook(self, path: str) -> None:
        with self._lock:
            self.conn.execute("delete from runbook_text where path = ?", (path,))
            self.conn.execute("delete from runbooks where path = ?", (path,))

    def runbook_mtimes(self) -> dict[str, float]:
        """What is indexed: path -> the file's modification time when it was indexed."""
        with self._lock:
            return {str(p): float(m) for p, m in self.conn.execute("select path, mtime from runbooks")}

    def search_runbooks(self, terms: Sequence[str], limit: int = 10) -> list[str]:
        """Paths of the runbooks holding any of the terms, best (bm25) first."""
        query = fts_query(terms)
        if not query:
            return []
        with self._lock:
            rows = self.conn.execute(
                "select path from runbook_text where runbook_text match ? order by bm25(runbook_text, 0, 4, 4, 1)"
                " limit ?",
                (query, limit),
            ).fetchall()
        return [str(row[0]) for row in rows]

    # --- recent changes --------------------------------------------------------------------------

    def add_change(self, change: Mapping[str, Any], now: float) -> str:
        """Record a deploy or config change; returns its id."""
        change_id = uuid.uuid4().hex
        row = {**{k: change.get(k) for k in CHANGE_COLUMNS}, "id": change_id}
        with self._lock:
            self.conn.execute(
                f"insert into changes ({', '.join(CHANGE_COLUMNS)}, received_at) values "
                f"({', '.join('?' for _ in CHANGE_COLUMNS)}, ?)",
                (*(row[k] for k in CHANGE_COLUMNS), now),
            )
        return change_id

    def recent_changes(self, since: float, service: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """Changes at or after `since` (to one service when given, case-insensitively), newest first."""
        sql = f"select {', '.join(CHANGE_COLUMNS)} from changes where at >= ?"
        args: list[Any] = [since]
        if service:
            sql += " and lower(service) = lower(?)"
            args.append(service)
        sql += " order by at desc, id limit ?"
        args.append(limit)
        with self._lock:
            rows = self.conn.execute(sql, args).fetchall()
        return [dict(zip(CHANGE_COLUMNS, row, strict=True)) for row in rows]

    # --- tool-call audit -------------------------------------------------------------------------

    def record_tool_call(self, triage_id: str, call: Mapping[str, Any], at: float) -> None:
        row = {**{k: call.get(k) for k in TOOL_COLUMNS}, "triage_id": triage_id, "at": at}
        with self._lock:
            self.conn.execute(
                f"insert into tool_calls ({', '.join(TOOL_COLUMNS)}) values ({', '.join('?' for _ in TOOL_COLUMNS)})",
                tuple(row[k] for k in TOOL_COLUMNS),
            )

    def tool_calls_for(self, triage_id: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self.conn.execute(
                f"select {', '.join(TOOL_COLUMNS)} from tool_calls where triage_id = ? order by id", (triage_id,)
            ).fetchall()
        return [dict(zip(TOOL_COLUMNS, row, strict=True)) for row in rows]
