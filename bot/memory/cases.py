"""Judged cards as evaluation cases: one JSONL line per judged triage, in the format of evals/*.jsonl."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

from bot.evals.cases import Case, parse_cases
from bot.store import Store

FEEDBACK_FILE = "feedback"


def case_line(row: Mapping[str, Any]) -> dict[str, Any]:
    """One judged card as an eval case: the redacted text, the people's labels as `expected`, who and when.

    `at` is the verdict time in seconds since the epoch (as in `meta.precedent`).
    """
    at = float(row["at"])
    verdict = "confirmed" if row["verdict"] == "confirm" else "corrected"
    when = datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    return {
        "id": str(row["triage_id"]),
        "source": f"feedback/{row.get('source') or 'unknown'}",
        "text": str(row["text"] or ""),
        "expected": {"category": [row["category"]], "severity": [row["severity"]]},
        "note": f"{verdict} by {row['by']} on {when}; the card said {row['card_severity']}/{row['card_category']}",
        "by": row["by"],
        "at": at,
        "verdict": row["verdict"],
        "fingerprint": row["fingerprint"],
    }


def since_time(days: float | None, now: float | None = None) -> float:
    """The epoch time `days` ago (0 for no limit)."""
    if days is None:
        return 0.0
    return (time.time() if now is None else now) - days * 86400


def judged_lines(store: Store, days: float | None = None) -> list[dict[str, Any]]:
    """The judged cases in the store (one per judged triage, its latest verdict), oldest verdict first."""
    return [case_line(row) for row in store.judged_cases(since_time(days))]


def write_cases(lines: Iterable[Mapping[str, Any]], out: TextIO) -> int:
    count = 0
    for line in lines:
        out.write(json.dumps(line, ensure_ascii=False) + "\n")
        count += 1
    return count


def export_cases(lines: Iterable[Mapping[str, Any]], path: str) -> int:
    """Judged cases as a new SQLite database (a `cases` table, one row per case) for the usual SQLite tools."""
    import sqlite_utils

    rows = [
        {**{k: v for k, v in line.items() if k != "expected"}, "severity": line["expected"]["severity"][0],
         "category": line["expected"]["category"][0]}
        for line in lines
    ]
    db = sqlite_utils.Database(path)
    try:
        table = db.table("cases").create({
            "id": str, "source": str, "text": str, "severity": str, "category": str, "note": str, "by": str,
            "at": float, "verdict": str, "fingerprint": str,
        }, pk="id", not_null={"text", "severity", "category"}, if_not_exists=True)
        table.insert_all(rows, replace=True)
        table.create_index(["fingerprint"], if_not_exists=True)
    finally:
        db.close()
    return len(rows)


def feedback_cases(store: Store, days: float | None = None) -> list[Case]:
    """The judged cases as eval Cases, read through the same parser as the case files."""
    lines = [json.dumps(line) for line in judged_lines(store, days)]
    return parse_cases(lines, FEEDBACK_FILE)
