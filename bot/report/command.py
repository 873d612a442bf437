"""`triage-bot report`: read the report from the store, print it, and write the dashboard page."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from bot.report.figures import read_report
from bot.report.text import render_text
from bot.settings import Settings
from bot.store import open_store


def run_report(
    settings: Settings,
    *,
    days: float | None,
    as_json: bool,
    out: TextIO,
    now: float | None = None,
    html: str | None = None,
    eval_run: Mapping[str, Any] | None = None,
) -> int:
    """`triage-bot report [--json] [--since DAYS] [--html FILE] [--eval RUN]`."""
    since = ((now if now is not None else time.time()) - days * 86400) if days is not None else 0.0
    store = open_store(settings.db_path, settings.database_url)
    try:
        report = read_report(store, since)
    finally:
        store.close()
    report["since"] = since if days is not None else None
    if html is not None:
        from bot.dashboard import dashboard_page

        target = Path(html)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(dashboard_page(report, eval_run=eval_run), encoding="utf-8")
    out.write((json.dumps(report, indent=2) if as_json else render_text(report)) + "\n")
    if html is not None and not as_json:
        out.write(f"wrote {html}\n")
    return 0
