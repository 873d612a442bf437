"""Shadow results in the store, on both backends: recorded per triage and candidate, read back, purged."""

from __future__ import annotations

import pytest

from bot.store import Store
from tests.conftest import Clock
from tests.test_slack_blocks import make_result


def row(triage_id: str, at: float, **changes: object) -> dict[str, object]:
    values: dict[str, object] = {
        "triage_id": triage_id, "model": "cand", "prompt_version": "triage@abc", "severity": "P2",
        "category": "app", "confidence": 0.8, "latency_ms": 120.5, "cost_usd": 0.25, "created_at": at,
        "result": '{"severity": "P2"}',
    }
    values.update(changes)
    return values


def test_shadow_results_are_recorded_read_back_and_summed(store: Store, clock: Clock) -> None:
    store.record_shadow(row("t1", clock.now - 100))
    store.record_shadow(row("t2", clock.now, severity=None, category=None, confidence=None, result=None,
                            error="server_error: down", cost_usd=0.0))
    # the same candidate answering the same triage again replaces its answer
    store.record_shadow(row("t1", clock.now - 100, severity="P1"))
    store.record_shadow(row("t1", clock.now - 100, prompt_version="other@def", cost_usd=0.5))
    rows = store.shadow_rows()
    assert [(r["triage_id"], r["prompt_version"], r["severity"]) for r in rows] == [
        ("t1", "other@def", "P2"), ("t1", "triage@abc", "P1"), ("t2", "triage@abc", None),
    ]
    assert [r["error"] for r in store.shadow_rows(clock.now - 10)] == ["server_error: down"]
    assert store.shadow_spent_since(clock.now - 1000) == pytest.approx(0.75)
    assert store.shadow_spent_since(clock.now + 1) == 0.0
    first = next(r for r in rows if r["prompt_version"] == "triage@abc" and r["triage_id"] == "t1")
    assert first["latency_ms"] == pytest.approx(120.5) and first["confidence"] == pytest.approx(0.8)


def test_retention_purges_shadow_results_with_their_triage(store: Store, clock: Clock) -> None:
    store.record_triage(make_result(meta={"triage_id": "old", "created_at": clock.now - 1000}), "x")
    store.record_shadow(row("old", clock.now - 1000))
    store.record_shadow(row("new", clock.now))
    counts = store.purge_older_than(clock.now - 10)
    assert counts["triages"] == 1 and counts["shadow_results"] == 1
    assert [r["triage_id"] for r in store.shadow_rows()] == ["new"]
