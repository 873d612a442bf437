"""Work several replicas may try to take at once, on both backends: each piece is taken by one of them."""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg

from bot.store import Store, open_store
from tests.conftest import Clock, Opener, race

LEASE = 30.0


def open_incident(store: Store, channel: str, fingerprint: str, now: float, triage_id: str) -> str:
    taken = store.take_alert("slack", channel, f"{now}", "x", now, (), fingerprint, False, 600.0, owner="r0")
    assert taken is not None and taken[1] is not None
    store.set_incident_card(taken[1].id, triage_id, taken[0])
    return taken[1].id


def claim(
    store: Store, replica: str, now: float, stale_before: float | None = None, pace: float = 1.0
) -> list[tuple[str, str, str]]:
    writes, _ = store.claim_writes(
        replica, now, pace=pace, interval=10.0, lease=LEASE,
        stale_before=now - 10 if stale_before is None else stale_before,
    )
    return [(kind, incident.id, incident.post_state) for kind, incident in writes]


def test_one_write_per_channel_and_pace_respected(store: Store) -> None:
    a1 = open_incident(store, "C1", "fa", 100.0, "t1")
    open_incident(store, "C1", "fb", 101.0, "t2")
    c2 = open_incident(store, "C2", "fc", 102.0, "t3")
    store.heartbeat("r1", 200.0)
    assert claim(store, "r1", 200.0) == [("post", a1, "pending"), ("post", c2, "pending")]
    # both channels are reserved until their writes return
    writes, wait = store.claim_writes("r1", 200.5, pace=1.0, interval=10.0, lease=LEASE, stale_before=190.0)
    assert writes == [] and wait is not None and wait > 0
    store.mark_posted(a1, "9.1", 200.6)
    store.free_channel("C1", "r1", 201.6)
    assert claim(store, "r1", 201.0) == []
    second = claim(store, "r1", 201.7)
    assert [kind for kind, _, _ in second] == ["post"] and second[0][1] != a1


def test_a_dead_replicas_post_is_taken_over_as_sending(store: Store) -> None:
    incident = open_incident(store, "C1", "fa", 100.0, "t1")
    store.heartbeat("r1", 100.0)
    assert claim(store, "r1", 100.0) == [("post", incident, "pending")]
    store.heartbeat("r2", 110.0)
    store.free_channel("C1", "r1", 100.0)
    # r1 is alive (heartbeat newer than stale_before): its lease holds
    assert claim(store, "r2", 104.0, stale_before=95.0) == []
    # r1 stopped beating: r2 takes the card over, told it may already be in Slack
    assert claim(store, "r2", 120.0, stale_before=110.0) == [("post", incident, "sending")]


def test_an_expired_post_lease_is_taken_over_even_from_a_live_replica(store: Store) -> None:
    incident = open_incident(store, "C1", "fa", 100.0, "t1")
    store.heartbeat("r1", 100.0)
    assert claim(store, "r1", 100.0)
    store.heartbeat("r1", 100.0 + LEASE + 5)
    assert claim(store, "r2", 100.0 + LEASE + 6, stale_before=100.0) == [("post", incident, "sending")]


def test_counter_redraws_are_claimed_after_posts(store: Store) -> None:
    first = open_incident(store, "C1", "fa", 100.0, "t1")
    store.mark_posted(first, "9.1", 100.0)
    store.take_alert("slack", "C1", "1.2", "x", 101.0, (), "fa", False, 600.0)
    assert claim(store, "r1", 105.0) == []  # redrawn at most every `interval`
    assert claim(store, "r1", 111.0) == [("update", first, "posted")]
    store.free_channel("C1", "r1", 111.0)
    assert claim(store, "r1", 112.0) == []  # the claim moved shown_at: not due again for `interval`


def test_replicas_share_one_pacing_slot_per_channel(opener: Opener) -> None:
    replicas = [opener() for _ in range(2)]
    for n in range(6):
        open_incident(replicas[0], "C1", f"f{n}", 100.0 + n, f"t{n}")
    for replica in ("r0", "r1", "r2", "r3"):
        replicas[0].heartbeat(replica, 200.0)
    results = race(4, lambda i: claim(replicas[i % 2], f"r{i}", 200.0))
    assert sorted(len(r) for r in results) == [0, 0, 0, 1]  # type: ignore[arg-type]


def test_replicas_take_distinct_posts_across_channels(opener: Opener) -> None:
    replicas = [opener() for _ in range(2)]
    ids = {open_incident(replicas[0], f"C{n}", "f", 100.0 + n, f"t{n}") for n in range(8)}
    results = race(4, lambda i: claim(replicas[i % 2], f"r{i}", 200.0))
    taken = [incident for result in results for _, incident, _ in result]  # type: ignore[attr-defined]
    assert sorted(taken) == sorted(ids)


def test_alerts_of_a_dead_replica_are_taken_over_once(opener: Opener) -> None:
    first, second = opener(), opener()
    mine = first.take_alert("slack", "C1", "1.1", "a", 100.0, (), "fa", False, 60.0, owner="r1")
    theirs = first.take_alert("slack", "C1", "1.2", "b", 100.0, (), "fb", False, 60.0, owner="r2")
    orphan = first.accept_alert("slack", "C1", "1.3", "c", 100.0)
    assert mine is not None and theirs is not None and orphan is not None
    first.heartbeat("r1", 100.0)
    first.heartbeat("r2", 100.0)
    # r2 alive: only the alert nobody owned is taken
    assert [a["id"] for a in second.take_over_alerts("r1", 95.0)] == [orphan]
    assert second.take_over_alerts("r1", 95.0) == []
    # r2 stopped beating: its alert is taken over once, whoever asks at the same moment
    first.heartbeat("r1", 110.0)
    first.heartbeat("r3", 110.0)  # a replica beats before it takes anything over
    results = race(2, lambda i: (first, second)[i].take_over_alerts(f"r{1 + 2 * i}", 105.0))
    assert sorted(len(r) for r in results) == [0, 1]  # type: ignore[arg-type]
    # a process that owns the database alone (SQLite after a restart) takes everything not its own
    assert [a["id"] for a in first.take_over_alerts("r9", math.inf)] == [mine[0], theirs[0], orphan]


def test_retired_replicas_hand_their_work_over_at_once(store: Store) -> None:
    taken = store.take_alert("slack", "C1", "1.1", "a", 100.0, (), "fa", False, 60.0, owner="r1")
    assert taken is not None
    store.heartbeat("r1", 100.0)
    assert store.take_over_alerts("r2", 90.0) == []
    store.retire("r1")
    assert [a["id"] for a in store.take_over_alerts("r2", 90.0)] == [taken[0]]


def test_retry_jobs_are_leased(opener: Opener) -> None:
    replicas = [opener() for _ in range(2)]
    for n in range(5):
        replicas[0].queue_retry(f"t{n}", "C1", f"1.{n}", 100.0)
    results = race(4, lambda i: replicas[i % 2].claim_retries(150.0, LEASE, limit=2))
    taken = [row["triage_id"] for result in results for row in result]  # type: ignore[attr-defined]
    assert sorted(taken) == [f"t{n}" for n in range(5)]
    assert replicas[0].claim_retries(150.0 + LEASE - 1, LEASE) == []
    # a replica that died holding a job: after the lease it is due again
    assert len(replicas[1].claim_retries(150.0 + LEASE + 1, LEASE)) == 5


def test_single_flight_across_replicas(opener: Opener, clock: Clock) -> None:
    replicas = [opener() for _ in range(2)]
    results = race(4, lambda i: replicas[i % 2].claim_flight("k", f"r{i}", 100.0, LEASE))
    assert results.count(True) == 1
    winner = f"r{results.index(True)}"
    replicas[0].end_flight("k", "someone-else")  # only the owner ends its flight
    assert not replicas[1].claim_flight("k", "r9", 101.0, LEASE)
    replicas[1].end_flight("k", winner)
    assert replicas[0].claim_flight("k", "r9", 102.0, LEASE)
    # an owner that died: its flight expires
    assert replicas[1].claim_flight("k", "r8", 102.0 + LEASE, LEASE)
    # or is taken over as soon as its replica's heartbeat is stale
    replicas[0].heartbeat("r8", 200.0)
    assert replicas[0].claim_flight("k2", "r8", 200.0, LEASE)
    assert not replicas[1].claim_flight("k2", "r7", 201.0, LEASE, stale_before=195.0)
    assert replicas[1].claim_flight("k2", "r7", 206.0, LEASE, stale_before=201.0)


def test_single_flight_claims_made_at_once_let_exactly_one_through_round_after_round(opener: Opener) -> None:
    """Eight claims from two stores at the same moment, sixty times: one winner each time, whether the key was
    free (the usual case: a landed flight leaves no row), held by a lapsed lease or held by a dead replica."""
    replicas = [opener() for _ in range(2)]
    now = 1000.0
    for name in ("r0", "r1"):
        replicas[0].heartbeat(name, now)
    for n in range(60):
        key = f"k{n}"
        if n % 3 == 1:
            assert replicas[0].claim_flight(key, "lapsed", now - 2 * LEASE, LEASE)
        elif n % 3 == 2:
            assert replicas[0].claim_flight(key, "never-beat", now, LEASE)

        def claim(i: int, key: str = key) -> bool:
            return replicas[i % 2].claim_flight(key, f"r{i % 2}", now, LEASE, now - 10)

        results = race(8, claim)
        assert results.count(True) == 1, (key, results)
        replicas[1].end_flight(key, f"r{results.index(True) % 2}")


def test_a_flight_claim_waiting_on_an_uncommitted_claim_loses_once_that_commits(
    pg_url: str, tmp_path: Path, clock: Clock
) -> None:
    """The race between two replicas asked the same text at the same moment, made to happen every time: the
    loser's INSERT is seen waiting on the winner's uncommitted one before the winner commits."""
    store = open_store(str(tmp_path / "unused.db"), pg_url, clock=clock)
    try:
        store.heartbeat("winner", 1000.0)
        with psycopg.connect(pg_url) as winner, psycopg.connect(pg_url, autocommit=True) as watcher, \
                ThreadPoolExecutor(1) as pool:
            winner.execute("insert into flights (key, owner, expires_at) values ('k', 'winner', %s)",
                           (1000.0 + LEASE,))
            loser = pool.submit(store.claim_flight, "k", "loser", 1000.0, LEASE, 990.0)
            waiting = ("select count(*) from pg_stat_activity"
                       " where datname = current_database() and wait_event_type = 'Lock'")
            deadline = time.monotonic() + 30
            while watcher.execute(waiting).fetchone() != (1,):
                assert time.monotonic() < deadline and not loser.done(), "the second claim never waited"
                time.sleep(0.01)
            winner.commit()
            assert loser.result(timeout=30) is False
        assert not store.claim_flight("k", "loser", 1001.0, LEASE, 990.0)
        store.end_flight("k", "winner")
        assert store.claim_flight("k", "loser", 1001.0, LEASE, 990.0)
    finally:
        store.close()


def test_a_dead_replicas_flight_is_taken_over_while_a_live_replica_holds_another(opener: Opener) -> None:
    """Whether a holder is alive is asked of that flight's own owner, not of any flight in the table."""
    replicas = [opener() for _ in range(2)]
    replicas[0].heartbeat("alive", 200.0)
    assert replicas[0].claim_flight("busy", "alive", 200.0, LEASE)
    assert replicas[0].claim_flight("k", "dead", 200.0, LEASE)  # a replica that never beat (or retired)
    assert replicas[1].claim_flight("k", "r1", 201.0, LEASE, stale_before=191.0)
    assert not replicas[1].claim_flight("busy", "r1", 201.0, LEASE, stale_before=191.0)
    # once the live one stops beating, its flight goes too
    assert replicas[1].claim_flight("busy", "r1", 215.0, LEASE, stale_before=205.0)
