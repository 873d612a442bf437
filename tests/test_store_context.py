"""The context stage's store methods, on SQLite and PostgreSQL: runbook search, changes, the tool audit."""

from __future__ import annotations

from bot.store import Store
from tests.conftest import Clock


def test_runbooks_are_searched_by_their_words(store: Store) -> None:
    store.put_runbook("disk.md", "Disk almost full", "postgres-main", "Find big directories; rotate logs", 1.0)
    store.put_runbook("redis.md", "Redis memory", "sessions-cache", "Check used_memory and evictions", 1.0)
    assert store.search_runbooks(["directories", "memory"]) and set(store.search_runbooks(["directories", "memory"])) \
        == {"disk.md", "redis.md"}
    assert store.search_runbooks(["disk"]) == ["disk.md"]
    assert store.search_runbooks(["nothing", "here"]) == []
    assert store.search_runbooks([]) == []
    # Quotes and operators in terms are words, not syntax.
    assert store.search_runbooks(['disk"', "OR", "NEAR(", "'x"]) == ["disk.md"]
    store.put_runbook("disk.md", "Disk full", "", "Grow the volume", 2.0)
    assert store.search_runbooks(["directories"]) == []
    assert store.runbook_mtimes() == {"disk.md": 2.0, "redis.md": 1.0}
    store.delete_runbook("redis.md")
    assert store.runbook_mtimes() == {"disk.md": 2.0} and store.search_runbooks(["redis"]) == []


def test_changes_newest_first_and_per_service(store: Store, clock: Clock) -> None:
    first = store.add_change({"service": "checkout-api", "summary": "deploy", "version": "v1", "at": 100.0}, 100.0)
    second = store.add_change({"service": "Checkout-API", "summary": "flag", "at": 200.0}, 200.0)
    store.add_change({"service": "cart", "summary": "deploy", "at": 150.0}, 150.0)
    assert [c["id"] for c in store.recent_changes(0.0, "checkout-api")] == [second, first]
    assert [c["service"] for c in store.recent_changes(120.0)] == ["Checkout-API", "cart"]
    assert store.recent_changes(0.0, limit=1)[0]["id"] == second
    row = store.recent_changes(0.0, "checkout-api")[1]
    assert row == {"id": first, "service": "checkout-api", "summary": "deploy", "version": "v1",
                   "environment": None, "author": None, "url": None, "at": 100.0}
    assert store.purge_older_than(150.0)["changes"] == 1


def test_tool_calls_are_audited_per_triage(store: Store) -> None:
    call = {"server": "prometheus", "tool": "query", "arguments": '{"expr": "up"}', "outcome": "ok",
            "latency_ms": 12.5, "result_chars": 40, "error": None}
    store.record_tool_call("t1", call, 10.0)
    store.record_tool_call("t1", {**call, "outcome": "timeout", "result_chars": 0, "error": "slow"}, 11.0)
    store.record_tool_call("t2", call, 12.0)
    rows = store.tool_calls_for("t1")
    assert [(r["outcome"], r["error"]) for r in rows] == [("ok", None), ("timeout", "slow")]
    assert rows[0] == {**call, "triage_id": "t1", "at": 10.0}
    assert store.tool_calls_for("nope") == []
