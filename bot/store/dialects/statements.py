"""Statements compiled once for a backend, and a transaction that runs them straight on the DB-API connection."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


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
