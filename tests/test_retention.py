"""Retention: the purge deletes old rows nothing needs, keeps judged triages and unfinished work; jobs stop cleanly."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from bot.card import TriageMeta, TriageResult
from bot.jobs import Jobs, purge_old
from bot.store import SQLStore, Store
from bot.triage.heuristics import heuristic_card
from tests.conftest import Clock

DAY = 86400.0


def triage(store: Store, triage_id: str, at: float) -> None:
    card = heuristic_card("disk full on node-1")
    meta = TriageMeta(triage_id=triage_id, engine="heuristic", prompt_version="heuristic", fingerprint="f" + triage_id,
                      created_at=at)
    store.record_triage(TriageResult(**card.model_dump(), meta=meta), "disk full on node-1")


async def test_old_rows_go_unless_something_still_needs_them(store: Store, clock: Clock) -> None:
    now = time.time()
    old, recent = now - 100 * DAY, now - 1 * DAY
    clock.now = old
    for triage_id, at in (("old", old), ("judged", old), ("recent", recent), ("shown", old)):
        triage(store, triage_id, at)
    store.record_feedback("judged", "U1", "confirm", None, "P2/infra")
    done = store.take_alert("slack", "C1", "1.0", "disk full", old, (), "k-done", False, 3600.0)
    waiting = store.take_alert("slack", "C1", "2.0", "cpu high", old, (), "k-wait", False, 3600.0)
    assert done is not None and waiting is not None
    incident_done, incident_waiting = done[1], waiting[1]
    assert incident_done is not None and incident_waiting is not None
    store.set_incident_card(incident_done.id, "shown", done[0])
    store.mark_posted(incident_done.id, "111.1", old)
    counts = await purge_old(store, now, 90)
    remaining = {row["id"] for row in store.triage_rows()}
    assert remaining == {"judged", "recent"}
    assert counts["triages"] == 2 and counts["incidents"] == 1
    # The alert not yet turned into a card stays, and so does its incident.
    assert store.alert_counts() == {"accepted": 1}
    assert [i.id for i in store.incidents()] == [incident_waiting.id]
    assert await purge_old(store, now, 0) == {}


async def test_stopping_the_jobs_waits_for_a_run_under_way() -> None:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    jobs = Jobs(AsyncIOScheduler(timezone="UTC"))
    started, finished = asyncio.Event(), asyncio.Event()

    async def slow() -> None:
        started.set()
        await asyncio.sleep(0.3)
        finished.set()

    jobs.scheduler.add_job(jobs.tracked(slow), "date", id="slow")
    jobs.start()
    await asyncio.wait_for(started.wait(), timeout=5)
    assert await jobs.stop(timeout=5)
    assert finished.is_set()


async def test_the_purge_removes_every_copy_of_a_text_the_full_text_index_included(tmp_path: Path) -> None:
    now = time.time()
    old = now - 100 * DAY
    path = tmp_path / "p.db"
    store = SQLStore.open(str(path), clock=lambda: old)
    text = "login failure for mallory.unique@example.org from 203.0.113.9 zyxwvutsrqp"
    try:
        card = heuristic_card(text)
        meta = TriageMeta(triage_id="gone", engine="heuristic", prompt_version="heuristic", fingerprint="fgone",
                          created_at=old)
        store.record_triage(TriageResult(**card.model_dump(), meta=meta), text)
        assert store.recall("fother", "login failure mallory zyxwvutsrqp")["similar"]
        counts = await purge_old(store, now, 90)
        assert counts["triages"] == 1 and counts["incident_text"] == 1
        assert store.recall("fother", "login failure mallory zyxwvutsrqp")["similar"] == []
    finally:
        store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("select count(*) from incident_terms where term = 'zyxwvutsrqp'").fetchone()[0] == 0
    for name in (path, Path(f"{path}-wal")):
        if name.exists():
            assert b"mallory.unique@example.org" not in name.read_bytes()
            assert b"zyxwvutsrqp" not in name.read_bytes()
