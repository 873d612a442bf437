"""Work done once: the front stage per distinct text, an indexed incident's words per text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.store import open_store
from bot.triage.errors import InputError
from bot.triage.front import prepare
from bot.triage.front_cache import FrontCache
from tests.test_slack_blocks import make_result


def test_a_repeat_reuses_the_front_stage_but_is_identified_again() -> None:
    cache = FrontCache(size=2)
    asked: list[str] = []

    def identify(text: str) -> str:
        asked.append(text)
        return f"fp{len(asked)}"

    text = "password=hunter2 FATAL: the database system is shutting down"
    first = cache.prepare(text, 1000, identify)
    again = cache.prepare(text, 1000, identify)
    assert first == prepare(text, 1000, lambda _: "fp1")
    assert again.fingerprint == "fp2" and again.text == first.text and "hunter2" not in again.text
    assert len(asked) == 2
    cache.prepare("disk full", 1000, identify)
    cache.prepare("redis down", 1000, identify)
    assert len(cache._entries) == 2  # bounded


def test_unusable_input_is_refused_every_time_and_never_kept() -> None:
    cache = FrontCache()
    for _ in range(2):
        with pytest.raises(InputError):
            cache.prepare("   \n", 1000, lambda _: "fp")
    assert not cache._entries


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=300))
def test_cached_front_equals_the_front(text: str) -> None:
    cache = FrontCache()
    try:
        expected = prepare(text, 200, lambda _: "fp")
    except InputError:
        with pytest.raises(InputError):
            cache.prepare(text, 200, lambda _: "fp")
        return
    assert cache.prepare(text, 200, lambda _: "fp") == expected
    assert cache.prepare(text, 200, lambda _: "fp") == expected


def test_a_long_input_is_prepared_without_being_kept() -> None:
    cache = FrontCache(max_chars=100)
    text = "disk full " * 100_000  # 1 MB of repeats
    assert cache.prepare(text, 4000, lambda _: "fp").truncated
    assert not cache._entries


def test_searches_see_an_incident_indexed_since(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "memory.db"))
    store.record_triage(make_result(meta={"triage_id": "a", "fingerprint": "fp-a"}), "kafka broker offline")
    assert [s["triage_id"] for s in store.recall("fp-x", "kafka broker offline again")["similar"]] == ["a"]
    store.record_triage(make_result(meta={"triage_id": "b", "fingerprint": "fp-b"}), "kafka broker offline now")
    similar = store.recall("fp-x", "kafka broker offline again")["similar"]
    assert {s["triage_id"] for s in similar} == {"a", "b"}
    store.close()


def test_worker_processes_give_the_front_stage_of_this_process_in_order() -> None:
    import asyncio

    from bot.triage.front import prepare_unidentified
    from bot.triage.front_pool import FrontPool, start_pool

    texts = ["password=hunter2 FATAL: the database system is shutting down", "   ", "disk full on node-1",
             "disk full on node-1", "Redis down on cache-1 — café"]
    workers = start_pool(2)
    assert workers is not None and workers.count == 2
    cache = FrontCache()
    front = FrontPool(workers, cache, 1000)
    try:
        first = asyncio.run(front.prepare(texts))
        again = asyncio.run(front.prepare(texts))  # now from this process's cache
    finally:
        workers.shutdown()
    for got in (first, again):
        assert isinstance(got[1], InputError)
        for text, prepared in zip(texts, got, strict=True):
            if text.strip():
                expected = prepare_unidentified(text, 1000)
                assert prepared == expected and prepared.identity == expected.identity
                assert prepared.facts == expected.facts
    assert "hunter2" not in str(first[0]) and len(cache._entries) == 3


def test_a_dead_worker_leaves_the_front_stage_to_this_process() -> None:
    import asyncio

    from bot.triage.front_pool import FrontPool, start_pool

    workers = start_pool(2)
    assert workers is not None
    front = FrontPool(workers, FrontCache(), 1000)
    try:
        for process in list(workers.executor._processes.values()):
            process.kill()
            process.join()
        got = asyncio.run(front.prepare(["disk full on node-1"]))
    finally:
        workers.shutdown()
    assert front.broken and got[0] == prepare("disk full on node-1", 1000, lambda _: "")


def test_recall_of_a_group_is_each_recall(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "memory.db"))
    texts = {"fp-a": "kafka broker offline", "fp-b": "kafka broker offline now", "fp-c": "redis down on cache-1"}
    for n, (fp, text) in enumerate([*texts.items(), *texts.items()]):
        store.record_triage(make_result(meta={"triage_id": f"t{n}", "fingerprint": fp, "created_at": float(n)}), text)
    items = [("fp-x", "kafka broker offline again"), ("fp-a", "kafka broker offline"), ("fp-c", "nothing alike")]
    assert store.recall_many(items) == [store.recall(fp, text) for fp, text in items]
    assert store.recall_many(items)[0]["similar"] and store.recall_many(items)[0]["precedent"] is None
    # a verdict given since is seen by the next recall of either kind
    assert store.record_feedback("t3", "U1", "severity", "P1", "P0")
    recalled = store.recall_many(items)
    assert recalled == [store.recall(fp, text) for fp, text in items]
    assert recalled[1]["precedent"]["triage_id"] == "t3" and recalled[1]["precedent"]["severity"] == "P0"
    store.close()


def test_kept_searches_and_summaries_follow_writes_from_another_connection(tmp_path: Path) -> None:
    path = str(tmp_path / "memory.db")
    mine, other = open_store(path), open_store(path)
    mine.record_triage(make_result(meta={"triage_id": "a", "fingerprint": "fp-a"}), "kafka broker offline")
    assert [s["triage_id"] for s in mine.recall("fp-x", "kafka broker offline again")["similar"]] == ["a"]
    other.record_triage(make_result(meta={"triage_id": "b", "fingerprint": "fp-b"}), "kafka broker offline now")
    assert {s["triage_id"] for s in mine.recall("fp-x", "kafka broker offline again")["similar"]} == {"a", "b"}
    # A card written again (asked again) shows its new summary.
    other.record_triage(make_result(summary="Kafka: broker offline, asked again",
                                    meta={"triage_id": "a", "fingerprint": "fp-a"}), "kafka broker offline")
    summaries = {s["triage_id"]: s["summary"] for s in mine.recall("fp-x", "kafka broker offline again")["similar"]}
    assert summaries["a"] == "Kafka: broker offline, asked again"
    mine.close()
    other.close()


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200), st.one_of(st.none(), st.integers(), st.text(max_size=20)))
def test_a_jsonl_line_is_ascii_and_says_what_the_result_says(source: str, item_id: object) -> None:
    from bot.cli import result_line

    result = make_result(meta={"source": source})
    line = result_line(item_id, result)
    assert line.isascii() and "\n" not in line
    assert json.loads(line) == {"id": item_id, **result.model_dump(mode="json")}


def test_a_jsonl_line_of_a_megabyte_of_blanks_and_accents() -> None:
    from bot.cli import result_line

    result = make_result(meta={"source": " \t" * 250_000 + "é" * 100_000})
    assert json.loads(result_line(1, result))["meta"]["source"] == result.meta.source
