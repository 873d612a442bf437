"""A database written by release 0.1.0 (hand-written migrations) is upgraded in place with every row kept.

The fixtures are that release's own output at schema versions 6 and 10: a store filled through its methods,
then dumped (SQLite: schema and rows as SQL with its PRAGMA user_version; PostgreSQL: pg_dump --inserts).
"""

from __future__ import annotations

import sqlite3
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import SAWarning

from bot.store import SQLStore, dialects, migrate
from tests import pg
from tests.test_cli import run
from tests.test_slack_blocks import make_result

FIXTURES = Path(__file__).parent / "fixtures"
TABLES = (
    "triages", "cache", "feedback", "slack_events", "posts", "alerts", "incidents", "retries", "verdicts",
    "identity_templates", "replicas", "channel_pace", "flights", "message_cards", "incident_terms",
)
# The full-text index is compared by what it holds, not its backend's own columns.
INDEXED = "select fingerprint, text from incident_text"


def _rows(
    execute: Any, tables: tuple[str, ...] = (*TABLES, "shadow_results", "webhook_spool"),
    columns: dict[str, str] | None = None,
) -> dict[str, Counter[tuple[Any, ...]]]:
    """Every row of every table; with `columns`, only those the previous release had."""
    return {
        table: Counter(map(tuple, execute(f"select {(columns or {}).get(table, '*')} from {table}")))
        for table in tables
    } | {"incident_text": Counter(map(tuple, execute(INDEXED)))}


# compared as the fixtures' release had them (the columns added later are checked on their own)
LEGACY_COLUMNS = {
    "identity_templates": "id, pattern, count, last_seen",
    "alerts": "id, received_at, source, channel, ts, text, status, incident_id, fingerprint, owner",
    "feedback": 'id, triage_id, "user", action, old_value, new_value, created_at, model, prompt_version, engine',
    "verdicts": "triage_id, fingerprint, verdict, severity, category, judged_by, judged_at, link",
}


def _legacy(kind: str, target: str, version: int = 6) -> dict[str, Counter[tuple[Any, ...]]]:
    """Load the release's dump (schema version 6, 7 with shadow results, 8 with identity groups) into
    `target`; its rows."""
    name = f"legacy_store_{kind}.sql" if version == 6 else f"legacy_store_v{version}_{kind}.sql"
    script = (FIXTURES / name).read_text()
    tables = TABLES if version == 6 else (*TABLES, "shadow_results", "webhook_spool")
    if kind == "sqlite":
        with sqlite3.connect(target) as conn:
            conn.executescript(script)
            return _rows(lambda sql: conn.execute(sql).fetchall(), tables, LEGACY_COLUMNS)
    with psycopg.connect(target, autocommit=True) as pg_conn:
        pg_conn.execute(script.encode())
    with psycopg.connect(target) as pg_conn:
        return _rows(lambda sql: pg_conn.execute(sql).fetchall(), tables, LEGACY_COLUMNS)


def _now(kind: str, target: str) -> dict[str, Counter[tuple[Any, ...]]]:
    if kind == "sqlite":
        with sqlite3.connect(target) as conn:
            return _rows(lambda sql: conn.execute(sql).fetchall(), columns=LEGACY_COLUMNS)
    with psycopg.connect(target) as pg_conn:
        return _rows(lambda sql: pg_conn.execute(sql).fetchall(), columns=LEGACY_COLUMNS)


@pytest.fixture(params=["sqlite", "postgres"])
def legacy(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    if request.param == "postgres":
        return "postgres", str(request.getfixturevalue("pg_url"))
    return "sqlite", str(tmp_path / "legacy.db")


@pytest.mark.parametrize("version", [6, 10])
def test_a_database_of_the_previous_release_upgrades_in_place_with_every_row(
    legacy: tuple[str, str], version: int
) -> None:
    kind, target = legacy
    before = _legacy(kind, target, version)
    assert sum(len(rows) for rows in before.values()) > 80 and all(before[t] for t in before)
    store = SQLStore.open(target, clock=lambda: 1_700_000_100.0)
    try:
        with store.engine.connect() as conn:
            assert migrate.current(conn) == migrate.head()
        after = _now(kind, target)
        if version == 6:
            # the tables the release did not have yet
            assert after.pop("shadow_results") == after.pop("webhook_spool") == Counter()
        assert after == before
        if version >= 7:
            assert [r["model"] for r in store.shadow_rows()] == ["cand-1"]
        if version >= 8:
            assert store.find_templates("g4:disk", 5)[0][0] == "tpl2"
        if version >= 10:
            spooled = [body for _, body in store.spool_take("r2", 1_800_000_000.0)]
            assert spooled == [b'{"alerts": [{"status": "firing"}]}']
            with store.engine.connect() as conn:
                assert conn.execute(text("select sender from alerts where ts is null and source = 'alertmanager'")
                                    ).scalar() == "alertmanager"
        # what the release wrote reads back through the new store
        assert store.get_triage("t0") == store.get_triage("t0") is not None
        assert store.triage_text("t5") is not None and "ünïcode ✓" in (store.triage_text("t5") or "")
        precedent = store.precedent("fp0")
        assert precedent is not None and precedent["triage_id"] == "t0"
        # clicks stored before origins were recorded keep NULL, which reads as a Slack click
        assert {row["origin"] for row in store.feedback_for("t0")} == {None}
        assert precedent["origin"] == "slack"
        assert store.verdict_link("t0") == "https://example.slack.com/archives/C1/p1"
        similar = store.recall("fp-x", "disk full on db-9 /var/lib/postgresql")["similar"]
        assert [s["triage_id"] for s in similar] == ["t0"]
        assert not store.record_feedback("t0", "U1", "confirm", None, None)  # the same click, stored by 0.1.0
        assert store.alert_counts() == {"accepted": 2 if version == 6 else 3, "done": 4}
        assert store.load_templates(10)[0][0] == "tpl2"
        # and new rows carry on after the old ones
        taken = store.take_alert("slack", "CA", "2.9", "CPU high on node-9", 1_700_000_100.0, ("EvA9",), "fpA",
                                 False, 600.0)
        assert taken is not None and taken[0] > max(row[0] for row in before["alerts"])
        assert store.take_alert("slack", "CA", "2.0", "again", 1_700_000_100.0, ("EvA0",), "fpA", False, 600.0) is None
        store.record_triage(make_result(meta={"triage_id": "t-new", "fingerprint": "fp-new"}), "a new problem")
        assert store.count_triages() == len(before["triages"]) + 1
    finally:
        store.close()
    reopened = SQLStore.open(target)  # a second start finds nothing left to do
    try:
        assert reopened.count_triages() == len(before["triages"]) + 1
        assert migrate.describe(reopened.dialect) == f"{migrate.head()} (head)"
    finally:
        reopened.close()


def test_operators_upgrade_and_inspect_the_schema_from_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "cli.db"
    with sqlite3.connect(path) as conn:
        conn.executescript((FIXTURES / "legacy_store_sqlite.sql").read_text())
    done = run(["db", "current"], tmp_path)
    assert done.returncode == 0 and "release 0.1.0" in done.stdout, done.stderr
    done = run(["db", "upgrade"], tmp_path)
    assert done.returncode == 0 and done.stdout == f"{migrate.head()} (head)\n", done.stderr
    assert run(["db", "current"], tmp_path).stdout == f"{migrate.head()} (head)\n"
    # judged cards as a SQLite database people open with their usual tools
    done = run(["cases", "--sqlite", str(tmp_path / "cases.db")], tmp_path)
    assert done.returncode == 0 and "3 judged cases" in done.stderr, done.stderr
    with sqlite3.connect(tmp_path / "cases.db") as conn:
        cases = conn.execute("select id, severity, category, verdict, text from cases order by id").fetchall()
    assert [row[:4] for row in cases] == [("t0", "P1", "data", "confirm"), ("t1", "P0", "data", "override"),
                                          ("t2", "P1", "infra", "override")]
    again = run(["cases", "--sqlite", str(tmp_path / "cases.db")], tmp_path)
    assert again.returncode == 2 and "exists" in again.stderr


def test_db_commands_refuse_what_they_cannot_do(tmp_path: Path) -> None:
    missing = run(["db", "current"], tmp_path, TRIAGE_DB=str(tmp_path / "typo.db"))
    assert missing.returncode == 2 and "no database" in missing.stderr
    with sqlite3.connect(tmp_path / "newer.db") as conn:
        conn.execute("pragma user_version = 999")
    newer = run(["db", "upgrade"], tmp_path, TRIAGE_DB=str(tmp_path / "newer.db"))
    assert newer.returncode == 2 and "newer than this release" in newer.stderr and "Traceback" not in newer.stderr


def _shape(target: str) -> dict[str, tuple[set[str], set[str]]]:
    """Each table's columns and index names, as the database reports them."""
    dialect = dialects.connect(target)
    try:
        found = inspect(dialect.engine)
        with warnings.catch_warnings():
            # an index on an expression (feedback_once) is reported without its columns; its name is enough
            warnings.simplefilter("ignore", SAWarning)
            return {
                table: (
                    {c["name"] for c in found.get_columns(table)},
                    {str(i["name"]) for i in found.get_indexes(table)},
                )
                for table in (*TABLES, "shadow_results", "webhook_spool")
            }
    finally:
        dialect.close()


def test_an_upgraded_database_has_the_shape_of_a_new_one(
    legacy: tuple[str, str], request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    kind, target = legacy
    _legacy(kind, target)
    SQLStore.open(target).close()
    once = "select count(*) from {} where indexname = 'feedback_once'"
    if kind == "sqlite":
        with sqlite3.connect(target) as conn:
            assert conn.execute(once.format("(select name as indexname from sqlite_master)")).fetchone() == (1,)
        SQLStore.open(str(tmp_path / "new.db")).close()
        assert _shape(target) == _shape(str(tmp_path / "new.db"))
        return
    with psycopg.connect(target) as pg_conn:
        assert pg_conn.execute(once.format("pg_indexes")).fetchone() == (1,)
    with pg.fresh_database(request.getfixturevalue("pg_server")) as fresh:
        SQLStore.open(fresh).close()
        assert _shape(target) == _shape(fresh)
