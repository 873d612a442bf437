"""SQLite storage for shadow results: a candidate's answer to a live triage, kept beside the live card."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Mapping
from typing import Any

# The columns of a shadow result, in the order both backends write them.
SHADOW_COLUMNS = (
    "triage_id", "model", "prompt_version", "severity", "category", "confidence", "latency_ms", "cost_usd",
    "created_at", "error", "result",
)


def shadow_values(row: Mapping[str, Any]) -> tuple[Any, ...]:
    """A shadow row as the tuple of SHADOW_COLUMNS; a missing optional field is NULL."""
    return tuple(row.get(column) for column in SHADOW_COLUMNS)


class ShadowStore:
    """Mixed into Store: `conn` and `_lock` come from there. Plain dicts keyed by SHADOW_COLUMNS."""

    _lock: threading.RLock

    @property
    def conn(self) -> sqlite3.Connection:
        raise NotImplementedError

    def record_shadow(self, row: Mapping[str, Any]) -> None:
        """Keep one candidate answer (or its error) for a triage; the same candidate again replaces it."""
        placeholders = ", ".join("?" for _ in SHADOW_COLUMNS)
        with self._lock:
            self.conn.execute(
                f"insert or replace into shadow_results ({', '.join(SHADOW_COLUMNS)}) values ({placeholders})",
                shadow_values(row),
            )

    def shadow_rows(self, since: float = 0.0) -> list[dict[str, Any]]:
        """Shadow results recorded since a time, oldest first."""
        with self._lock:
            cursor = self.conn.execute(
                f"select {', '.join(SHADOW_COLUMNS)} from shadow_results where created_at >= ?"
                " order by created_at, triage_id, model, prompt_version",
                (since,),
            )
            return [dict(zip(SHADOW_COLUMNS, values, strict=True)) for values in cursor.fetchall()]

    def shadow_spent_since(self, since: float) -> float:
        """What the shadow runs cost since a time (their own share of the daily budget)."""
        with self._lock:
            row = self.conn.execute(
                "select coalesce(sum(cost_usd), 0) from shadow_results where created_at >= ?", (since,)
            ).fetchone()
        return float(row[0]) if row else 0.0
