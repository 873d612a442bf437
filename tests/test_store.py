"""The store contract, run against both backends: SQLite (embedded) and PostgreSQL (shared by replicas)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest
from alembic.runtime.migration import MigrationContext

from bot.identity import Identifier
from bot.store import SQLStore, Store, migrate
from bot.store.base import TriageRecord
from tests.conftest import Clock, Opener, race
from tests.test_slack_blocks import make_result


def test_triages_are_recorded_and_read_back(store: Store, clock: Clock) -> None:
    first = make_result(meta={"triage_id": "a", "created_at": clock.now - 100, "cost_usd": 0.25})
    second = make_result(meta={"triage_id": "b", "created_at": clock.now, "cost_usd": 0.5})
    store.record_triage(first, "disk full on db-1")
    store.record_triage(second, "disk full on db-2", outcome="degraded", error="boom")
    assert store.get_triage("a") == first
    assert store.get_triage("missing") is None
    assert store.triage_text("b") == "disk full on db-2"
    assert store.triage_text("missing") is None
    assert store.count_triages() == 2
    rows = store.triage_rows(clock.now - 10)
    assert [(r["id"], r["outcome"], r["error"]) for r in rows] == [("b", "degraded", "boom")]
    assert store.spent_since(clock.now - 1000) == pytest.approx(0.75)
    assert store.spent_since(clock.now + 1) == 0.0


def test_cache_expires_and_purges(store: Store, clock: Clock) -> None:
    card = make_result(meta={"triage_id": "cache"})
    store.put_cached("k1", card, ttl=60)
    store.put_cached("k2", card, ttl=10)
    store.put_cached("never", card, ttl=0)
    assert store.get_cached("k1") == card
    assert store.get_cached("never") is None
    assert [key for key, _, _ in store.live_cache(10)] == ["k2", "k1"]
    clock.now += 30
    assert store.get_cached("k2") is None
    assert store.purge_expired() == 1
    assert [key for key, _, _ in store.live_cache(10)] == ["k1"]


def test_record_triage_can_fill_the_cache_in_the_same_trip(store: Store) -> None:
    result = make_result(meta={"triage_id": "t1"})
    store.record_triage(result, "x", cache=("key", result, 60.0))
    assert store.get_cached("key") == result


def test_a_group_of_triages_is_recorded_in_one_transaction_in_order(store: Store) -> None:
    group = [make_result(meta={"triage_id": f"g{n}", "fingerprint": "fp-a" if n < 2 else "fp-b"}) for n in range(3)]
    store.record_triages([
        TriageRecord(group[0], "disk full on db-1"),
        TriageRecord(group[1], "disk full on db-2", "degraded", "boom", ("key", group[1], 60.0)),
        TriageRecord(group[2], "checkout latency high"),
    ])
    assert [store.get_triage(f"g{n}") for n in range(3)] == group
    assert store.get_cached("key") == group[1]
    # The first text of each identity is the one indexed, as when recorded one by one.
    recalled = store.recall("fp-c", "disk full on db-9")
    assert [s["triage_id"] for s in recalled["similar"]] == ["g1"]
    # All or none: a group that cannot be written leaves nothing behind.
    broken = make_result(meta={"triage_id": "g9"})
    with pytest.raises(Exception):  # noqa: B017 - whatever the backend raises for a bad value
        store.record_triages([TriageRecord(broken, "fine"), TriageRecord(broken, object())])  # type: ignore[arg-type]
    assert store.get_triage("g9") is None


def test_feedback_is_idempotent_per_user_and_choice(store: Store) -> None:
    store.record_triage(make_result(meta={"triage_id": "t1", "model": "m1", "prompt_version": "v9"}), "x")
    assert store.record_feedback("t1", "U1", "severity", "P1", "P0")
    assert not store.record_feedback("t1", "U1", "severity", "P1", "P0")
    assert store.record_feedback("t1", "U2", "severity", "P1", "P0")
    assert store.record_feedback("t1", "U1", "confirm", None, None)
    assert not store.record_feedback("t1", "U1", "confirm", None, None)
    rows = store.feedback_for("t1")
    assert [(r["user"], r["action"], r["model"], r["prompt_version"]) for r in rows] == [
        ("U1", "severity", "m1", "v9"), ("U2", "severity", "m1", "v9"), ("U1", "confirm", "m1", "v9"),
    ]
    assert len(store.feedback_rows()) == 3


def test_feedback_and_verdicts_keep_where_they_came_from(store: Store, clock: Clock) -> None:
    store.record_triage(make_result(meta={"triage_id": "t1", "fingerprint": "fp1"}), "disk full on db-1")
    assert store.record_feedback("t1", "U2", "severity", "P1", "P0")
    assert store.verdict_of("t1")["origin"] == "slack"  # type: ignore[index]
    clock.now += 1
    assert store.record_feedback("t1", "U0ANN", "category", "data", "infra", "http")
    # The same name and choice from another place is still the same verdict, stored once.
    assert not store.record_feedback("t1", "U0ANN", "category", "data", "infra", "mcp")
    rows = store.feedback_for("t1")
    assert [(r["user"], r["origin"]) for r in rows] == [("U2", "slack"), ("U0ANN", "http")]
    assert [r["origin"] for r in store.feedback_rows()] == ["slack", "http"]
    # The standing verdict is the latest click's, origin included, wherever it is read.
    verdict = store.verdict_of("t1")
    assert verdict is not None and (verdict["by"], verdict["origin"]) == ("U0ANN", "http")
    precedent = store.precedent("fp1")
    assert precedent is not None and (precedent["by"], precedent["origin"]) == ("U0ANN", "http")
    recalled = store.recall("fp1", "disk full on db-2")
    assert recalled["precedent"]["origin"] == "http"
    assert [(s["by"], s["origin"]) for s in recalled["similar"]] == [("U0ANN", "http")]
    assert [(c["by"], c["origin"]) for c in store.judged_cases()] == [("U0ANN", "http")]
    clock.now += 1
    assert store.record_feedback("t1", "ops-bot", "confirm", None, "P0/infra", "mcp")
    assert store.verdict_of("t1")["origin"] == "mcp"  # type: ignore[index]


def test_slack_events_and_posts(store: Store, clock: Clock) -> None:
    assert store.claim_event("Ev1")
    assert not store.claim_event("Ev1")
    store.save_post("t1", "C1", "1.1", None, "U7")
    clock.now += 1
    store.save_post("t2", "C1", "1.1", "0.9")
    assert store.triage_at("C1", "1.1") == "t2"
    assert store.triage_at("C1", "9.9") is None
    post = store.get_post("t1")
    assert post is not None and (post["channel"], post["ts"], post["requested_by"]) == ("C1", "1.1", "U7")
    assert store.get_post("nope") is None
    assert store.posted_ids(clock.now) == {"t2"}


def test_an_alert_and_its_claims_are_taken_once(store: Store) -> None:
    first = store.accept_alert("slack", "C1", "1.1", "disk full", 100.0, ("Ev1", "message:C1:1.1"))
    again = store.accept_alert("slack", "C1", "1.1", "disk full", 101.0, ("Ev2", "message:C1:1.1"))
    assert first is not None and again is None
    # the rejected delivery left nothing behind, not even its new event id
    assert store.claim_event("Ev2")
    assert store.pending_alerts() == [
        {"id": first, "source": "slack", "channel": "C1", "ts": "1.1", "text": "disk full", "fingerprint": None}
    ]
    store.finish_alert(first, "ignored")
    assert store.alert_counts() == {"ignored": 1}


def test_coalescing_opens_one_incident_and_counts_repeats(store: Store) -> None:
    taken = store.take_alert("slack", "C1", "1.1", "disk full", 100.0, ("m:1",), "fp", False, 60.0)
    assert taken is not None
    alert_id, incident, owner = taken
    assert owner and incident is not None and incident.count == 1 and incident.thread_ts == "1.1"
    # re-running the same alert (a crash before it finished) neither counts twice nor opens another
    again = store.coalesce(alert_id, "fp", "C1", "1.1", False, 100.0, 60.0)
    assert again[1] and again[0] is not None and again[0].id == incident.id
    repeat = store.take_alert("slack", "C1", "1.2", "disk full", 120.0, ("m:2",), "fp", False, 60.0)
    assert repeat is not None and not repeat[2] and repeat[1] is not None and repeat[1].id == incident.id
    other_channel = store.take_alert("slack", "C2", "1.3", "disk full", 121.0, ("m:3",), "fp", False, 60.0)
    assert other_channel is not None and other_channel[2]
    late = store.take_alert("slack", "C1", "1.4", "disk full", 500.0, ("m:4",), "fp", False, 60.0)
    assert late is not None and late[2] and late[1] is not None and late[1].id != incident.id
    resolved = store.take_alert("slack", "C1", "1.5", "[RESOLVED] disk", 501.0, ("m:5",), "fp", True, 60.0)
    assert resolved is not None and not resolved[2]
    stored = store.get_incident(incident.id)
    assert stored is not None and stored.count == 2 and stored.dirty and stored.last_seen == 120.0
    orphan = store.take_alert("slack", "C1", "1.6", "[RESOLVED] x", 502.0, ("m:6",), "other", True, 60.0)
    assert orphan is not None and orphan[1] is None and not orphan[2]
    assert len(store.incidents()) == 3
    assert store.alert_counts() == {"accepted": 3, "done": 3}


def test_an_incident_card_goes_through_its_posting_states(store: Store) -> None:
    taken = store.take_alert("slack", "C1", "1.1", "disk full", 100.0, (), "fp", False, 60.0)
    assert taken is not None
    alert_id, incident, _ = taken
    assert incident is not None
    assert store.due_posts(200.0) == []
    store.set_incident_card(incident.id, "t1", alert_id)
    store.set_incident_card(incident.id, "t-late", alert_id)  # a second triage never replaces the first
    assert [i.triage_id for i in store.due_posts(200.0)] == ["t1"]
    assert store.incident_for_triage("t1") is not None
    store.mark_sending(incident.id)
    assert [i.post_state for i in store.due_posts(200.0)] == ["sending"]
    store.postpone_post(incident.id, 300.0)
    assert store.due_posts(200.0) == [] and store.post_attempts(incident.id) == 1
    assert store.post_states() == {"pending": 1}
    store.mark_posted(incident.id, "2.2", 310.0)
    assert store.due_posts(400.0) == []
    repeat = store.take_alert("slack", "C1", "1.2", "disk full", 311.0, (), "fp", False, 600.0)
    assert repeat is not None
    assert store.due_updates(312.0, 10.0) == []
    due = store.due_updates(321.0, 10.0)
    assert [(i.count, i.card_ts) for i in due] == [(2, "2.2")]
    store.mark_shown(incident.id, 2, False, 321.0)
    assert store.due_updates(400.0, 10.0) == []
    store.replace_incident_triage("t1", "t2")
    assert store.incident_for_triage("t2") is not None and store.incident_for_triage("t1") is None
    assert store.alert_counts() == {"done": 2}


def test_a_message_card_is_found_for_shortcut_and_alert_channel_messages(store: Store) -> None:
    assert store.message_card("C1", "5.5") is None
    store.record_triage(make_result(meta={"triage_id": "t1"}), "x")
    store.save_post("t1", "C1", "6.6", "5.0", "U1")
    store.save_message_card("C1", "5.5", "t1", 100.0)
    assert store.message_card("C1", "5.5") == {"triage_id": "t1", "channel": "C1", "ts": "6.6"}
    # an alert-channel message points to the card of the incident it opened
    taken = store.take_alert("slack", "C2", "7.7", "disk full", 100.0, (), "fp", False, 60.0)
    assert taken is not None and taken[1] is not None
    assert store.message_card("C2", "7.7") is None  # not posted yet
    store.set_incident_card(taken[1].id, "t2", taken[0])
    store.mark_posted(taken[1].id, "8.8", 101.0)
    assert store.message_card("C2", "7.7") == {"triage_id": "t2", "channel": "C2", "ts": "8.8"}


def test_user_cards_are_the_ones_they_asked_for_or_judged_newest_first(store: Store, clock: Clock) -> None:
    for n, triage_id in enumerate(["asked", "judged", "other"]):
        store.record_triage(make_result(meta={"triage_id": triage_id, "created_at": clock.now + n}), "x")
    store.save_post("asked", "C1", "1.1", None, "U1")
    store.save_post("judged", "C1", "1.2", None, "U2")
    store.record_feedback("judged", "U1", "confirm", None, None)
    store.record_feedback("judged", "U2", "severity", "P2", "P1")
    cards = store.user_cards("U1")
    assert [c["triage_id"] for c in cards] == ["judged", "asked"]
    card = make_result()
    assert cards[1] == {"triage_id": "asked", "created_at": clock.now, "severity": card.severity,
                        "category": card.category, "summary": card.summary, "channel": "C1", "ts": "1.1"}
    assert store.user_cards("U1", limit=1)[0]["triage_id"] == "judged"
    assert store.user_cards("nobody") == []


def test_open_incidents_are_unresolved_posted_and_recent(store: Store) -> None:
    for n, (fingerprint, ts) in enumerate([("a", "1.1"), ("b", "1.2"), ("c", "1.3")]):
        taken = store.take_alert("slack", "C1", ts, "x", 100.0 + n, (), fingerprint, False, 60.0, sender="bot:B1")
        assert taken is not None and taken[1] is not None
        if fingerprint != "c":  # c is never posted
            store.set_incident_card(taken[1].id, f"t-{fingerprint}", taken[0])
            store.mark_posted(taken[1].id, f"2.{n}", 110.0)
    # Only the sender that opened an incident resolves it: not a person, not another integration.
    for sender in (None, "bot:B2"):
        store.take_alert("slack", "C1", None, "[RESOLVED] x", 119.0, (), "b", True, 60.0, sender=sender)
    assert [i.fingerprint for i in store.open_incidents(since=50.0)] == ["b", "a"]
    store.take_alert("slack", "C1", "1.4", "[RESOLVED] x", 120.0, (), "b", True, 60.0, sender="bot:B1")
    assert [i.fingerprint for i in store.open_incidents(since=50.0)] == ["a"]
    assert store.open_incidents(since=105.0) == []


def test_retry_queue(store: Store) -> None:
    store.queue_retry("t1", "C1", "1.1", 100.0)
    store.queue_retry("t1", "C1", "1.1", 50.0)  # queued once
    store.queue_retry("t2", "C1", "1.2", 200.0)
    assert [r["triage_id"] for r in store.due_retries(150.0)] == ["t1"]
    store.retry_later("t1", 300.0)
    assert store.due_retries(150.0) == []
    assert [(r["triage_id"], r["attempts"]) for r in store.due_retries(400.0)] == [("t2", 0), ("t1", 1)]
    store.finish_retry("t1", "updated")
    assert store.retry_states() == {"pending": 1, "updated": 1}


# --- several replicas on one database --------------------------------------------------------------


def test_replicas_take_a_redelivered_event_once(opener: Opener) -> None:
    replicas = [opener() for _ in range(2)]
    for round_ in range(10):
        results = race(4, lambda i, r=round_: replicas[i % 2].take_alert(  # type: ignore[misc]
            "slack", "C1", f"{r}.0", "disk full", 100.0 + r, (f"Ev{r}", f"message:C1:{r}.0"), f"fp{r}", False, 60.0))
        assert sum(result is not None for result in results) == 1


def test_replicas_coalesce_one_problem_into_one_incident(opener: Opener) -> None:
    replicas = [opener() for _ in range(2)]
    results = race(8, lambda i: replicas[i % 2].take_alert(
        "slack", "C1", f"1.{i}", "disk full", 100.0 + i / 10, (f"m:{i}",), "fp", False, 60.0))
    owners = [r for r in results if isinstance(r, tuple) and r[2]]
    assert len(owners) == 1
    [incident] = replicas[0].incidents()
    assert incident.count == 8


def test_replicas_record_a_click_once(opener: Opener) -> None:
    replicas = [opener() for _ in range(2)]
    replicas[0].record_triage(make_result(meta={"triage_id": "t1"}), "x")
    results = race(4, lambda i: replicas[i % 2].record_feedback("t1", "U1", "severity", "P1", "P0"))
    assert results.count(True) == 1
    assert len(replicas[1].feedback_for("t1")) == 1


# --- migrations --------------------------------------------------------------------------------


def test_the_newest_revision_is_the_one_the_store_expects() -> None:
    assert migrate.script_head() == migrate.HEAD


def test_a_new_database_is_stamped_with_the_newest_revision(opener: Opener) -> None:
    store = opener()
    assert isinstance(store, SQLStore)
    with store.engine.connect() as conn:
        assert migrate.current(conn) == migrate.head()
        assert MigrationContext.configure(conn).get_current_revision() == migrate.head()  # as Alembic reads it
    assert migrate.describe(store.dialect) == f"{migrate.head()} (head)"
    opener().close()  # opening again finds nothing to do


def test_sqlite_refuses_a_database_from_an_older_or_newer_release(tmp_path: Path) -> None:
    for version, words in ((3, "older"), (999, "newer")):
        path = tmp_path / f"v{version}.db"
        with sqlite3.connect(path) as conn:
            conn.execute(f"pragma user_version = {version}")
        with pytest.raises(migrate.SchemaError, match=words):
            SQLStore.open(str(path))


def test_postgres_replicas_starting_together_migrate_once(pg_url: str) -> None:
    stores = race(4, lambda _: SQLStore.open(pg_url, size=2))
    try:
        with psycopg.connect(pg_url) as conn:
            versions = conn.execute("select version_num from alembic_version").fetchall()
        assert versions == [(migrate.head(),)]
    finally:
        for store in stores:
            assert isinstance(store, SQLStore)
            store.close()


def test_learned_templates_survive_a_restart_and_are_shared(opener: Opener) -> None:
    first_store = opener()
    first = Identifier()
    a = first.identify("Accepted password for alice from 10.0.0.1 port 22 ssh2")
    first.identify("Accepted password for bob from 10.0.0.1 port 22 ssh2")
    first_store.save_templates(first.take_dirty(), keep=100)
    second = Identifier()  # a restart, or another replica on the same database
    assert second.load(opener().load_templates(100)) == 1
    assert second.identify("Accepted password for zed from 10.1.1.1 port 2 ssh2").fingerprint == a.fingerprint


def test_stored_templates_are_bounded(store: Store) -> None:
    store.save_templates([(f"id{n}", f"pattern {n}", 1, float(n), "g") for n in range(50)], keep=20)
    store.save_templates([("id49", "pattern 49 changed", 5, 49.0, "g")], keep=20)
    rows = store.load_templates(100)
    assert len(rows) == 20 and min(row[3] for row in rows) == 30.0
    assert ("id49", "pattern 49 changed", 5, 49.0) in rows


def test_incidents_remember_where_they_fired(store: Store, clock: Clock) -> None:
    for n, place in enumerate(["node-1", "node-2", "node-1", "node-3"]):
        taken = store.take_alert("slack", "C1", f"1.{n}", "disk full", clock(), (), "fp1", False, 60.0, (place,))
        assert taken is not None
    [incident] = store.incidents()
    assert incident.count == 4 and incident.places == ("node-1", "node-2", "node-3")
    assert store.pending_alerts()[0]["fingerprint"] == "fp1"
