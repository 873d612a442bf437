"""`triage-bot runbooks`: index the runbook folder and say what is usable and what is not, and why."""

from __future__ import annotations

import json
import sys
from typing import TextIO

from bot.context.library import RunbookLibrary
from bot.settings import Settings
from bot.store import open_store


def render(library: RunbookLibrary) -> str:
    books, problems = library.runbooks, library.problems
    lines = [f"{len(books)} runbook{'s' if len(books) != 1 else ''} indexed from {library.folder}"]
    for path, book in sorted(books.items()):
        lines.append(f"  {path}  {book.title}  ({len(book.steps)} steps)")
        if book.alerts:
            lines.append(f"      alerts: {', '.join(book.alerts)}")
        if book.services:
            lines.append(f"      services: {', '.join(book.services)}")
    if problems:
        lines.append(f"{len(problems)} file{'s' if len(problems) != 1 else ''} not used:")
        lines += [f"  {path}: {reason}" for path, reason in sorted(problems.items())]
    return "\n".join(lines)


async def runbooks_command(settings: Settings, as_json: bool, out: TextIO) -> int:
    """Exit 0 when every file is usable, 1 when some are not, 2 when there is no folder to index."""
    if not settings.runbooks:
        print("error: TRIAGE_RUNBOOKS is not set (a folder of Markdown runbooks)", file=sys.stderr)
        return 2
    store = open_store(settings.db_path, settings.database_url)
    try:
        library = RunbookLibrary(settings.runbooks, store, base_url=settings.runbook_url)
        await library.refresh(force=True)
    finally:
        store.close()
    if as_json:
        books = [
            {"path": b.path, "title": b.title, "url": b.url(settings.runbook_url), "alerts": list(b.alerts),
             "services": list(b.services), "steps": list(b.steps)}
            for b in sorted(library.runbooks.values(), key=lambda b: b.path)
        ]
        problems = [{"path": p, "reason": r} for p, r in sorted(library.problems.items())]
        out.write(json.dumps({"folder": settings.runbooks, "runbooks": books, "unusable": problems}) + "\n")
    else:
        out.write(render(library) + "\n")
    if "." in library.problems:
        return 2
    return 1 if library.problems else 0
