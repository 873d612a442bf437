"""The context stage: for one alert, its own links, the team's runbook and the recent changes to its service."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from pydantic import ValidationError

from bot.card import STEP_MAX, STEP_MIN, TriageCard
from bot.context.changes import change_words
from bot.context.library import RunbookLibrary
from bot.context.match import RunbookMatch, Subject, related_changes
from bot.context.model import AlertLink, ChangeRef, RunbookRef
from bot.context.subject import Facts, facts_from_text
from bot.store import Store

log = structlog.get_logger("bot.context")

MAX_CHANGES = 5
EXCERPT_CHARS = 2000

# Changes read ahead with other look-ups of the same triage: (since, rows of store.recent_changes(since)).
ChangeRows = tuple[float, Sequence[Mapping[str, Any]]]


@dataclass(frozen=True)
class Context:
    """What the context stage found; empty when it found nothing (or failed)."""

    links: tuple[AlertLink, ...] = ()
    runbook: RunbookRef | None = None
    changes: tuple[ChangeRef, ...] = ()
    excerpt: str = ""
    # the runbook's Steps, which the heuristic engine's card takes
    steps: tuple[str, ...] = ()
    problems: tuple[str, ...] = field(default=())

    @property
    def cache_tag(self) -> str:
        """Part of the idempotency key: a model answer given without this runbook or change is not reused."""
        book = self.runbook
        parts = [f"{book.path}:{'|'.join(self.steps)}" if book else "", *(c.id for c in self.changes)]
        return "\x1f".join(parts) if any(parts) else ""


def runbook_ref(found: RunbookMatch, base_url: str | None) -> RunbookRef:
    book = found.runbook
    return RunbookRef(title=book.title, path=book.path, url=book.url(base_url), matched_by=found.kind)


def excerpt_of(found: RunbookMatch) -> str:
    """The runbook as the model sees it: title, steps first, then the start of the body."""
    book = found.runbook
    steps = "\n".join(f"{n}. {step}" for n, step in enumerate(book.steps, start=1))
    text = f"Runbook: {book.title} ({book.path})\nSteps:\n{steps}\n\n{book.body.strip()}"
    return text[:EXCERPT_CHARS]


def with_runbook_steps(card: TriageCard, steps: Sequence[str]) -> TriageCard:
    """The card with the runbook's steps first (up to three), the engine's own filling any gap."""
    chosen: list[str] = []
    for step in [*steps[:3], *card.steps]:
        clean = " ".join(step.split())[:STEP_MAX]
        if len(clean) >= STEP_MIN and clean.casefold() not in {s.casefold() for s in chosen}:
            chosen.append(clean)
        if len(chosen) == 3:
            break
    if len(chosen) < 3:
        return card
    try:
        return TriageCard.model_validate({**card.model_dump(), "steps": chosen})
    except ValidationError:
        return card


class ContextStage:
    """Looks up context for one triage; every failure only loses that piece of context."""

    def __init__(
        self,
        store: Store,
        library: RunbookLibrary,
        *,
        change_window: float = 7200.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.library = library
        self.change_window = change_window
        self._clock = clock

    def changes_since(self) -> float | None:
        """Where the change look-up starts now; None when changes are not looked up."""
        return self._clock() - self.change_window if self.change_window > 0 else None

    async def gather(self, text: str, facts: Facts | None = None, *, changes: ChangeRows | None = None) -> Context:
        """The context of one alert; `changes` are the recent changes when they were read already."""
        return (await self.gather_many([facts or facts_from_text(text)], changes=changes))[0]

    async def gather_many(self, group: Sequence[Facts], *, changes: ChangeRows | None = None) -> list[Context]:
        """Context for a group of alerts, in order. The recent changes are read once for the whole group, unless
        `changes` were read already (with other look-ups of the same triages)."""
        rows: Sequence[Mapping[str, Any]] = ()
        since = 0.0
        problems: tuple[str, ...] = ()
        if changes is not None:
            since, rows = changes
        elif group and (start := self.changes_since()) is not None:
            since = start
            try:
                rows = await self.store.run(self.store.recent_changes, since)
            except Exception:
                log.exception("change_lookup_failed")
                problems = ("changes",)
        return [await self._one(facts, rows, since, problems) for facts in group]

    async def _one(
        self, facts: Facts, rows: Sequence[Mapping[str, Any]], since: float, problems: tuple[str, ...]
    ) -> Context:
        subject = facts.subject
        runbook: RunbookRef | None = None
        excerpt = ""
        steps: tuple[str, ...] = ()
        try:
            found = await self.library.match(subject)
        except Exception:  # context is advice: a broken index must not cost the card
            log.exception("runbook_lookup_failed")
            problems = ("runbook", *problems)
            found = None
        if found is not None:
            runbook = runbook_ref(found, self.library.base_url)
            excerpt = excerpt_of(found)
            steps = found.runbook.steps
        related: list[ChangeRef] = []
        if rows:
            try:
                related = changes_among(subject, rows, since)
            except Exception:
                log.exception("change_lookup_failed")
                problems = (*problems, "changes")
        if related:
            excerpt += ("\n\n" if excerpt else "") + "Recent changes to the service:\n" + "\n".join(
                change_words(change, self._clock()) for change in related
            )
        return Context(facts.links, runbook, tuple(related), excerpt, steps, problems)


def changes_among(subject: Subject, rows: Sequence[Mapping[str, Any]], since: float) -> list[ChangeRef]:
    """The recent changes (store rows, newest first) that concern this alert's service, at most MAX_CHANGES."""
    picked = related_changes(subject, rows, since=since)[:MAX_CHANGES]
    out = []
    for row in picked:
        try:
            out.append(ChangeRef.model_validate(dict(row)))
        except ValidationError:
            continue
    return out
