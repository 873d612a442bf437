"""SQLite migrations, tracked in `PRAGMA user_version`."""

from __future__ import annotations

import sqlite3

from bot.store.migrations import Migration, pending

# Version 1 is the schema as it stood before versioning: written with "if not exists" so that a database
# created by an older release (user_version 0, tables present) is adopted rather than rebuilt.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial", """
create table if not exists triages (
    id text primary key, created_at float, source text, input_hash text, fingerprint text, text text,
    category text, severity text, confidence float, engine text, model text, prompt_version text,
    cached integer, degraded integer, degraded_reason text, needs_review integer, latency_ms float,
    cost_usd float, outcome text, error text, result text
);
create index if not exists idx_triages_created_at on triages (created_at);
create index if not exists idx_triages_fingerprint on triages (fingerprint);
create table if not exists cache (key text primary key, result text, expires_at float);
create table if not exists feedback (
    id integer primary key, triage_id text, user text, action text, old_value text, new_value text,
    created_at float, model text, prompt_version text, engine text
);
create index if not exists idx_feedback_triage_id on feedback (triage_id);
create table if not exists slack_events (event_id text primary key, received_at float);
create table if not exists posts (
    triage_id text primary key, channel text, ts text, thread_ts text, requested_by text, created_at float
);
create table if not exists alerts (
    id integer primary key autoincrement,
    received_at real not null,
    source text not null,
    channel text not null,
    ts text,
    text text not null,
    status text not null default 'accepted',
    incident_id text
);
create index if not exists alerts_status on alerts (status);
create table if not exists incidents (
    id text primary key,
    fingerprint text not null,
    channel text not null,
    thread_ts text,
    count integer not null default 1,
    first_seen real not null,
    last_seen real not null,
    first_alert_id integer not null,
    triage_id text,
    card_ts text,
    resolved integer not null default 0,
    dirty integer not null default 0,
    shown_at real not null default 0,
    post_state text not null default 'triaging',
    post_attempts integer not null default 0,
    post_not_before real not null default 0
);
create index if not exists incidents_open on incidents (fingerprint, channel, resolved);
create index if not exists incidents_post on incidents (post_state);
create table if not exists retries (
    triage_id text primary key,
    channel text not null,
    ts text not null,
    next_at real not null,
    attempts integer not null default 0,
    state text not null default 'pending'
);
"""),
    # Incident memory: the standing verdict of each judged card (the precedent of its identity), and a
    # full-text index holding the first text of every identity, filled from the triages already stored.
    Migration(2, "incident memory", """
create table if not exists verdicts (
    triage_id text primary key,
    fingerprint text not null,
    verdict text not null,
    severity text not null,
    category text not null,
    judged_by text not null,
    judged_at real not null,
    link text
);
create index if not exists verdicts_identity on verdicts (fingerprint, judged_at);
create index if not exists verdicts_at on verdicts (judged_at);
create index if not exists triages_identity on triages (fingerprint, created_at);
create virtual table if not exists incident_text using fts5(text, fingerprint unindexed);
insert into incident_text (text, fingerprint)
    select substr(text, 1, 4000), fingerprint from triages
    where rowid in (select min(rowid) from triages group by fingerprint);
"""),
    # Incident identity: learned message templates, the key each alert coalesced by, where incidents fired.
    Migration(3, "identity", """
create table if not exists identity_templates (
    id text primary key,
    pattern text not null,
    count integer not null default 0,
    last_seen real not null default 0
);
create index if not exists identity_templates_seen on identity_templates (last_seen);
alter table alerts add column fingerprint text;
alter table incidents add column places text not null default '[]';
"""),
    # Several processes on one database: who owns an accepted alert, leases on card posts, replica
    # heartbeats, per-channel pacing of Slack writes, and single flight for identical model calls.
    Migration(4, "replicas", """
alter table alerts add column owner text;
alter table incidents add column lease_owner text;
alter table incidents add column lease_until real not null default 0;
create table replicas (id text primary key, seen_at real not null);
create table channel_pace (channel text primary key, next_at real not null, owner text);
create table flights (key text primary key, owner text not null, expires_at real not null);
create index retries_due on retries (state, next_at);
"""),
    Migration(5, "message cards", """
create table if not exists message_cards (
    channel text not null,
    message_ts text not null,
    triage_id text not null,
    created_at real not null,
    primary key (channel, message_ts)
);
create index if not exists posts_requested_by on posts (requested_by);
create index if not exists feedback_user on feedback (user);
create index if not exists alerts_channel_ts on alerts (channel, ts);
"""),
    # How many indexed incidents hold each word: the search asks only with rare words, so its cost stays
    # flat as the store grows. Filled for existing databases when the store opens.
    Migration(6, "incident terms", """
create table if not exists incident_terms (term text primary key, docs integer not null) without rowid;
"""),
    # A candidate model or prompt answering the same live triages in the background (bot/shadow): never
    # shown, compared with the live card and the people's verdict on it.
    Migration(7, "shadow results", """
create table if not exists shadow_results (
    triage_id text not null,
    model text not null,
    prompt_version text not null,
    severity text,
    category text,
    confidence real,
    latency_ms real not null default 0,
    cost_usd real not null default 0,
    created_at real not null,
    error text,
    result text,
    primary key (triage_id, model, prompt_version)
);
create index if not exists shadow_results_created_at on shadow_results (created_at);
"""),
    # Replicas share what they learn: a message no template here matches is looked up among the stored
    # templates of its group (length and first words) before it makes a new one.
    Migration(8, "identity groups", """
alter table identity_templates add column grp text;
create index if not exists identity_templates_grp on identity_templates (grp);
"""),
    # Who sent each alert (a Slack bot or app, Alertmanager): only the sender that opened an incident may
    # resolve it.
    Migration(9, "alert senders", """
alter table alerts add column sender text;
"""),
    # Webhook payloads acknowledged but not yet split into alerts (sealed: see bot/alerts/spool.py).
    Migration(10, "webhook spool", """
create table webhook_spool (
    id integer primary key autoincrement,
    received_at real not null,
    owner text,
    body blob not null
);
"""),
)


def statements(sql: str) -> list[str]:
    """Split a script into complete statements (executescript would commit the migration's transaction)."""
    done: list[str] = []
    buffer = ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            done.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        done.append(buffer.strip())
    return done


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"pragma table_info({table})")}


def migrate(conn: sqlite3.Connection, migrations: tuple[Migration, ...] = MIGRATIONS) -> int:
    """Bring the database to the newest version in one immediate transaction; returns that version."""
    conn.execute("begin immediate")
    try:
        current = int(conn.execute("pragma user_version").fetchone()[0])
        newest = len(migrations)
        if current > newest:
            raise sqlite3.DatabaseError(f"database schema version {current} is newer than this release ({newest})")
        for migration in pending(migrations, current):
            for statement in statements(migration.sql):
                conn.execute(statement)
            if migration.version == 1 and "requested_by" not in _columns(conn, "posts"):
                # databases from before cards remembered who asked for them
                conn.execute("alter table posts add column requested_by text")
            conn.execute(f"pragma user_version = {migration.version}")
    except BaseException:
        conn.execute("rollback")
        raise
    conn.execute("commit")
    return max(current, len(migrations))
