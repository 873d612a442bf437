"""The runbook folder kept in the store's full-text index: scanned at start and again when files change."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from bot.context.match import RunbookMatch, Subject, by_front_matter, by_text, query_terms
from bot.context.runbooks import Runbook, RunbookError, parse_runbook
from bot.store import Store

log = structlog.get_logger("bot.context.library")

MAX_FILES = 2000
SEARCH_CANDIDATES = 10


@dataclass
class Scan:
    """What a pass over the folder found: usable runbooks and the files that could not be used, with why."""

    runbooks: dict[str, Runbook] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    stamps: dict[str, tuple[float, int]] = field(default_factory=dict)


def stamps_of(folder: Path) -> tuple[dict[str, tuple[float, int]], str | None]:
    """(mtime, size) of every Markdown file under the folder, by path relative to it; or why it cannot be read."""
    if not folder.is_dir():
        return {}, f"{folder} is not a folder"
    found: dict[str, tuple[float, int]] = {}
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith(".") or not name.lower().endswith(".md"):
                continue
            full = Path(root) / name
            try:
                info = full.stat()
            except OSError:
                continue
            found[full.relative_to(folder).as_posix()] = (info.st_mtime, info.st_size)
            if len(found) >= MAX_FILES:
                return found, None
    return found, None


def scan_folder(folder: Path, previous: Scan | None = None) -> Scan:
    """Parse the files that are new or changed since `previous`; unchanged ones are kept as they were."""
    stamps, problem = stamps_of(folder)
    scan = Scan(stamps=stamps)
    if problem:
        scan.problems["."] = problem
        return scan
    for path, stamp in stamps.items():
        if previous is not None and previous.stamps.get(path) == stamp:
            if path in previous.runbooks:
                scan.runbooks[path] = previous.runbooks[path]
            elif path in previous.problems:
                scan.problems[path] = previous.problems[path]
            continue
        try:
            raw = (folder / path).read_bytes()
            scan.runbooks[path] = parse_runbook(path, raw, stamp[0])
        except RunbookError as exc:
            scan.problems[path] = str(exc)
        except OSError as exc:
            scan.problems[path] = f"cannot be read: {exc.strerror or exc}"
    return scan


def index_names(book: Runbook) -> str:
    return " ".join([*book.alerts, *book.services])


class RunbookLibrary:
    """TRIAGE_RUNBOOKS in the store's index. `refresh` is cheap when nothing changed (a stat per file)."""

    def __init__(
        self,
        folder: str | Path | None,
        store: Store,
        *,
        base_url: str | None = None,
        interval: float = 2.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.folder = Path(folder) if folder else None
        self.store = store
        self.base_url = base_url
        self.interval = interval
        self._monotonic = monotonic
        self._checked = float("-inf")
        self._scan: Scan | None = None
        self._lock = asyncio.Lock()

    @property
    def enabled(self) -> bool:
        return self.folder is not None

    @property
    def runbooks(self) -> dict[str, Runbook]:
        return dict(self._scan.runbooks) if self._scan else {}

    @property
    def problems(self) -> dict[str, str]:
        return dict(self._scan.problems) if self._scan else {}

    async def refresh(self, *, force: bool = False) -> None:
        """Re-index what changed on disk, at most every `interval` seconds unless forced."""
        if self.folder is None:
            return
        now = self._monotonic()
        if not force and self._scan is not None and now - self._checked < self.interval:
            return
        async with self._lock:
            if not force and self._scan is not None and self._monotonic() - self._checked < self.interval:
                return
            self._checked = self._monotonic()
            folder, previous = self.folder, self._scan
            scan = await asyncio.to_thread(scan_folder, folder, previous)
            await self.store.run(self._index, scan)
            self._scan = scan

    def _index(self, scan: Scan) -> None:
        """Bring the store's index in line with the scan (runs on the store's thread)."""
        indexed = self.store.runbook_mtimes()
        for path, book in scan.runbooks.items():
            if indexed.get(path) != book.mtime:
                self.store.put_runbook(path, book.title, index_names(book), f"{book.body}", book.mtime)
        for path in indexed:
            if path not in scan.runbooks:
                self.store.delete_runbook(path)
        changed = [p for p in scan.runbooks if indexed.get(p) != scan.runbooks[p].mtime]
        if changed or len(indexed) != len(scan.runbooks):
            log.info("runbooks_indexed", runbooks=len(scan.runbooks), changed=len(changed),
                     unusable=len(scan.problems))

    async def match(self, subject: Subject) -> RunbookMatch | None:
        """The runbook for this alert: named by its front matter first, then found by what the text says."""
        if self.folder is None:
            return None
        await self.refresh()
        books = self.runbooks
        if not books:
            return None
        found = by_front_matter(subject, books.values())
        if found is not None:
            return found
        terms = query_terms(subject.text)
        if not terms:
            return None
        paths = await self.store.run(self.store.search_runbooks, terms, SEARCH_CANDIDATES)
        candidates = [books[p] for p in paths if p in books]
        return by_text(subject, candidates, list(books.values()))

    async def search(self, query: str, limit: int = 3) -> list[Runbook]:
        """Runbooks the full-text index ranks for a free query (the model's runbook_search tool)."""
        if self.folder is None:
            return []
        await self.refresh()
        books = self.runbooks
        terms = query_terms(query)
        if not terms:
            return []
        paths = await self.store.run(self.store.search_runbooks, terms, limit)
        return [books[p] for p in paths if p in books]
