"""Work done once: the front stage per distinct text, an indexed incident's words per text."""

from __future__ import annotations

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
