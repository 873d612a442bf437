"""Incident memory's pure decisions and its store methods, including untrusted text in the search."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.card import Severity, TriageMeta, TriageResult
from bot.memory.precedent import memory_from, with_precedent
from bot.memory.recall import SEARCH_TERMS, pick_similar, rare_terms, related, search_terms
from bot.memory.verdicts import Change, VerdictError, VerdictRequest, fold_verdict, plan_verdict
from bot.store import Store, open_store
from bot.store.dialects import FTS5_TABLE, fts5_query
from bot.triage.prompt import ALERT_CLOSE, ALERT_OPEN, EXAMPLE_CLOSE, EXAMPLE_OPEN, neutralise

MEGABYTE_OF_BLANKS = " \t\n" * 350_000


def _fts() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute(FTS5_TABLE)
    conn.execute("insert into incident_text (text, fingerprint) values ('disk full on db-1 NEAR AND OR', 'f')")
    return conn


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_gives_a_valid_bounded_full_text_query(text: str) -> None:
    terms = search_terms(text)
    assert len(terms) <= SEARCH_TERMS
    if terms:
        _fts().execute("select fingerprint from incident_text where incident_text match ?", (fts5_query(terms),))


@given(st.text(alphabet=st.sampled_from(list('"*:^()-+ NEAR AND OR NOT{}'))))
def test_fts_syntax_in_alerts_is_only_ever_words(text: str) -> None:
    terms = search_terms(text)
    if terms:
        _fts().execute("select 1 from incident_text where incident_text match ?", (fts5_query(terms),)).fetchall()


def test_a_megabyte_of_blanks_searches_for_nothing() -> None:
    assert search_terms(MEGABYTE_OF_BLANKS) == []
    assert search_terms("x" * 1_000_000 + " disk") == ["disk"]


@given(st.text())
def test_no_delimiter_survives_neutralising(text: str) -> None:
    safe = neutralise(text)
    for marker in (ALERT_OPEN, ALERT_CLOSE, EXAMPLE_OPEN, EXAMPLE_CLOSE):
        assert marker not in safe


def test_related_needs_half_the_words_in_common() -> None:
    assert related(search_terms("Disk almost full on db-1 /var"), "disk almost full on db-9 /data")
    assert not related(search_terms("Disk almost full on db-1"), "KubePodCrashLooping payments-api restarting")


def test_fold_verdict_latest_click_wins_and_confirm_keeps_what_was_shown() -> None:
    rows = [
        {"action": "severity", "user": "U1", "new_value": "P0", "created_at": 1.0},
        {"action": "category", "user": "U2", "new_value": "data", "created_at": 2.0},
    ]
    verdict = fold_verdict("P2", "infra", rows)
    assert verdict is not None and (verdict.verdict, verdict.severity, verdict.category, verdict.by, verdict.at) == (
        "override", "P0", "data", "U2", 2.0,
    )
    confirmed = fold_verdict("P2", "infra", [*rows, {"action": "confirm", "user": "U3", "new_value": "P0/data",
                                                     "created_at": 3.0}])
    assert confirmed is not None and (confirmed.verdict, confirmed.severity, confirmed.by) == ("confirm", "P0", "U3")
    assert fold_verdict("P2", "infra", []) is None
    assert fold_verdict("P2", "infra", [{"action": "severity", "user": "U", "new_value": "P9"}]) is None


def test_plan_verdict_mirrors_the_clicks() -> None:
    def plan(judged: bool = False, **body: str) -> list[Change]:
        return plan_verdict("P2", "infra", judged, VerdictRequest.model_validate({"by": "bob", **body}))

    assert plan(verdict="confirm") == [Change("confirm", None, "P2/infra")]
    assert plan(verdict="confirm", severity="P2") == [Change("confirm", None, "P2/infra")]
    assert plan(verdict="override", severity="P0", category="infra") == [Change("severity", "P2", "P0")]
    assert plan(verdict="override", severity="P2") == [Change("confirm", None, "P2/infra")]
    assert plan(True, verdict="override", severity="P2") == []
    for bad in ({"verdict": "override"}, {"verdict": "confirm", "category": "data"}):
        try:
            plan(False, **bad)
        except VerdictError:
            continue
        raise AssertionError(f"{bad} was accepted")


def test_pick_similar_puts_judged_first_then_the_same_identity_and_asks_only_for_what_it_shows() -> None:
    judged = {"hit-2": {"triage_id": "c", "verdict": "confirm"}, "own": {"triage_id": "j", "verdict": "override"}}
    newest = {"own": "b", "hit-1": "a", "hit-2": "x", "hit-3": "d"}
    asked: list[str] = []

    def latest(fp: str, skip: str | None) -> dict[str, str] | None:
        asked.append(fp)
        return {"triage_id": newest[fp]} if fp in newest and newest[fp] != skip else None

    picked = pick_similar("own", ["hit-1", "hit-2", "hit-3"], judged, latest, exclude="new", limit=4)
    assert [(p["triage_id"], p["same_identity"], p["verdict"]) for p in picked] == [
        ("j", True, "override"), ("c", False, "confirm"), ("b", True, None), ("a", False, None),
    ]
    assert asked == ["own", "hit-1"]
    assert [p["triage_id"] for p in pick_similar("own", [], {}, latest, exclude="b")] == []


def test_malformed_recall_rows_are_left_out() -> None:
    memory = memory_from({"precedent": {"triage_id": "x", "verdict": "maybe"}, "similar": [{"triage_id": 1}]})
    assert memory.precedent is None and memory.similar == () and memory.cache_tag == ""


def _result(triage_id: str, fingerprint: str, severity: Severity = "P2", at: float = 1.0) -> TriageResult:
    meta = TriageMeta(triage_id=triage_id, engine="heuristic", prompt_version="heuristic", fingerprint=fingerprint,
                      created_at=at)
    return TriageResult(category="infra", severity=severity, summary="Disk almost full", steps=["a a", "b b", "c c"],
                        confidence=0.7, meta=meta)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    opened = open_store(str(tmp_path / "memory.db"), url)
    yield opened
    opened.close()


def test_store_recall_and_cases_one_row_per_judged_card(store: Store) -> None:
    store.record_triage(_result("t1", "fp-disk", at=1.0), "Disk almost full on db-1 /var")
    store.record_triage(_result("t2", "fp-disk", at=2.0), "Disk almost full on db-2 /var")
    store.record_triage(_result("t3", "fp-disk-data", at=3.0), "Disk almost full on data-1 /var")
    store.record_triage(_result("t4", "fp-other", at=4.0), "KubePodCrashLooping payments-api")
    assert store.recall("fp-new", "nothing in common here")["precedent"] is None
    assert store.record_feedback("t1", "U1", "severity", "P2", "P0")
    assert store.record_feedback("t1", "U2", "severity", "P0", "P1")
    assert not store.record_feedback("t1", "U2", "severity", "P0", "P1")
    assert store.record_feedback("t3", "U3", "confirm", None, "P2/infra")
    recalled = store.recall("fp-disk", "Disk almost full on db-9 /var", exclude="t2")
    assert recalled["precedent"]["triage_id"] == "t1" and recalled["precedent"]["severity"] == "P1"
    assert [s["triage_id"] for s in recalled["similar"]] == ["t1", "t3"]
    # The latest click on the identity wins.
    assert store.record_feedback("t1", "U4", "severity", "P1", "P0")
    assert (store.precedent("fp-disk") or {})["severity"] == "P0"
    cases = store.judged_cases()
    assert [c["triage_id"] for c in cases] == ["t3", "t1"] and cases[1]["text"] == "Disk almost full on db-1 /var"


def test_with_precedent_keeps_the_engines_words() -> None:
    card = _result("t", "f").card
    memory = memory_from({"precedent": {"triage_id": "j", "verdict": "override", "severity": "P0",
                                        "category": "data", "by": "bob", "at": 5.0}})
    decided = with_precedent(card, memory.precedent)
    assert (decided.severity, decided.category, decided.summary) == ("P0", "data", card.summary)
    assert with_precedent(card, None) is card


def test_rare_terms_keep_the_search_small() -> None:
    documents = {"firing": 90_000, "payments": 700, "ledger": 300, "vilokacrashlooping": 3, "prod": 50_000}
    terms = ["firing", "vilokacrashlooping", "payments", "ledger", "prod", "unseen"]
    assert rare_terms(terms, documents, budget=1000) == ["vilokacrashlooping", "ledger"]
    assert rare_terms(terms, documents, budget=200) == ["vilokacrashlooping"]
    assert rare_terms(["firing"], documents) == []


def test_a_database_from_the_previous_release_regains_precedents_and_search(tmp_path: Path) -> None:
    # written by release 0.1.0; its verdicts and word counts lost, as if cut off by a crash
    path = str(tmp_path / "old.db")
    conn = sqlite3.connect(path)
    conn.executescript((Path(__file__).parent / "fixtures" / "legacy_store_sqlite.sql").read_text())
    conn.executescript("delete from verdicts; delete from incident_terms;")
    conn.close()
    store = open_store(path)
    try:
        precedent = store.precedent("fp0")
        assert precedent is not None and precedent["triage_id"] == "t0" and precedent["verdict"] == "confirm"
        similar = store.recall("fp-new", "disk full on db-2 /var/lib/postgresql")["similar"]
        assert [s["triage_id"] for s in similar][:1] == ["t0"]
    finally:
        store.close()


NASTY = [
    "", " \t\n" * 1000, "'", "''", "\\", "a'b c\\d", '"quoted" NEAR(x y) AND OR NOT * ^ : -', "!(a & b) | c <-> d",
    "Ünïcödé çafé naïve straße ΔΣ 漢字 テスト", "x" * 5000 + " disk", "drop table triages; --", "%s %(x)s {0}",
]


def test_untrusted_text_never_breaks_indexing_or_recall_on_any_backend(store: Store) -> None:
    for number, text in enumerate(NASTY):
        store.record_triage(_result(f"n{number}", f"fp-{number}", at=float(number)), text or "-")
    for number, text in enumerate(NASTY):
        recalled = store.recall(f"fp-{number}", text, exclude=f"n{number}")
        assert recalled["precedent"] is None
        assert all(s["triage_id"] != f"n{number}" for s in recalled["similar"])
    assert store.recall("fp-x", "naïve straße café")["similar"]
