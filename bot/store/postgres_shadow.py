"""PostgreSQL storage for shadow results: the same methods as bot/store/sqlite_shadow.py."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any

import psycopg

from bot.store.sqlite_shadow import SHADOW_COLUMNS, shadow_values

Conn = psycopg.Connection[tuple[Any, ...]]


class PostgresShadowStore:
    """Mixed into PostgresStore, which provides `_tx` and `_rows`."""

    def _tx(self) -> AbstractContextManager[Conn]:
        raise NotImplementedError

    def _rows(self, sql: Any, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        raise NotImplementedError

    def record_shadow(self, row: Mapping[str, Any]) -> None:
        placeholders = ", ".join("%s" for _ in SHADOW_COLUMNS)
        updates = ", ".join(f"{column} = excluded.{column}" for column in SHADOW_COLUMNS[3:])
        with self._tx() as conn:
            conn.execute(
                f"insert into shadow_results ({', '.join(SHADOW_COLUMNS)}) values ({placeholders})"
                f" on conflict (triage_id, model, prompt_version) do update set {updates}",
                shadow_values(row),
            )

    def shadow_rows(self, since: float = 0.0) -> list[dict[str, Any]]:
        return self._rows(
            f"select {', '.join(SHADOW_COLUMNS)} from shadow_results where created_at >= %s"
            " order by created_at, triage_id, model, prompt_version",
            (since,),
        )

    def shadow_spent_since(self, since: float) -> float:
        rows = self._rows("select coalesce(sum(cost_usd), 0) as total from shadow_results where created_at >= %s",
                          (since,))
        return float(rows[0]["total"]) if rows else 0.0
