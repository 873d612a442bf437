"""PostgreSQL migrations, tracked in a `schema_version` table under an advisory lock."""

from __future__ import annotations

from typing import Any

import psycopg

from bot.store.migrations import Migration, pending

# Any fixed number works: it only has to be the same in every replica of this application.
MIGRATION_LOCK = 0x7472_6961_6765  # "triage"

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial", """
create table triages (
    id text primary key, created_at double precision, source text, input_hash text, fingerprint text,
    text text, category text, severity text, confidence double precision, engine text, model text,
    prompt_version text, cached integer, degraded integer, degraded_reason text, needs_review integer,
    latency_ms double precision, cost_usd double precision, outcome text, error text, result text
);
create index triages_created_at on triages (created_at);
create index triages_fingerprint on triages (fingerprint);
create table cache (key text primary key, result text not null, expires_at double precision not null);
create table feedback (
    id bigint generated always as identity primary key, triage_id text not null, "user" text not null,
    action text not null, old_value text, new_value text, created_at double precision not null,
    model text, prompt_version text, engine text
);
create index feedback_triage_id on feedback (triage_id);
-- one click per person and choice, even when the same click reaches two replicas
create unique index feedback_once on feedback (triage_id, "user", action, coalesce(new_value, ''));
create table slack_events (event_id text primary key, received_at double precision not null);
create table posts (
    triage_id text primary key, channel text, ts text, thread_ts text, requested_by text,
    created_at double precision
);
create index posts_channel_ts on posts (channel, ts);
create table alerts (
    id bigint generated always as identity primary key,
    received_at double precision not null,
    source text not null,
    channel text not null,
    ts text,
    text text not null,
    status text not null default 'accepted',
    incident_id text
);
create index alerts_status on alerts (status);
create table incidents (
    id text primary key,
    fingerprint text not null,
    channel text not null,
    thread_ts text,
    count integer not null default 1,
    first_seen double precision not null,
    last_seen double precision not null,
    first_alert_id bigint not null,
    triage_id text,
    card_ts text,
    resolved integer not null default 0,
    dirty integer not null default 0,
    shown_at double precision not null default 0,
    post_state text not null default 'triaging',
    post_attempts integer not null default 0,
    post_not_before double precision not null default 0
);
create index incidents_open on incidents (fingerprint, channel, resolved);
create index incidents_post on incidents (post_state);
create index incidents_triage on incidents (triage_id);
create table retries (
    triage_id text primary key,
    channel text not null,
    ts text not null,
    next_at double precision not null,
    attempts integer not null default 0,
    state text not null default 'pending'
);
"""),
    # Incident memory: the standing verdict of each judged card (the precedent of its identity), and a
    # full-text index holding the first text of every identity, filled from the triages already stored.
    Migration(2, "incident memory", """
create table verdicts (
    triage_id text primary key,
    fingerprint text not null,
    verdict text not null,
    severity text not null,
    category text not null,
    judged_by text not null,
    judged_at double precision not null,
    link text
);
create index verdicts_identity on verdicts (fingerprint, judged_at);
create index verdicts_at on verdicts (judged_at);
create index triages_identity on triages (fingerprint, created_at);
create table incident_text (
    fingerprint text primary key,
    text text not null,
    tsv tsvector generated always as (to_tsvector('simple', text)) stored
);
create index incident_text_tsv on incident_text using gin (tsv);
insert into incident_text (fingerprint, text)
    select distinct on (fingerprint) fingerprint, left(text, 4000) from triages
    where fingerprint is not null order by fingerprint, created_at;
"""),
    # Incident identity: learned message templates, the key each alert coalesced by, where incidents fired.
    Migration(3, "identity", """
create table identity_templates (
    id text primary key,
    pattern text not null,
    count bigint not null default 0,
    last_seen double precision not null default 0
);
create index identity_templates_seen on identity_templates (last_seen);
alter table alerts add column fingerprint text;
alter table incidents add column places text not null default '[]';
"""),
    # Several replicas on one database: who owns an accepted alert, leases on card posts, replica
    # heartbeats, per-channel pacing of Slack writes, and single flight for identical model calls.
    Migration(4, "replicas", """
alter table alerts add column owner text;
alter table incidents add column lease_owner text;
alter table incidents add column lease_until double precision not null default 0;
create table replicas (id text primary key, seen_at double precision not null);
create table channel_pace (channel text primary key, next_at double precision not null, owner text);
create table flights (key text primary key, owner text not null, expires_at double precision not null);
create index retries_due on retries (state, next_at);
create index incidents_dirty on incidents (post_state, dirty, shown_at);
"""),
    Migration(5, "message cards", """
create table message_cards (
    channel text not null,
    message_ts text not null,
    triage_id text not null,
    created_at double precision not null,
    primary key (channel, message_ts)
);
create index posts_requested_by on posts (requested_by);
create index feedback_user on feedback ("user");
create index alerts_channel_ts on alerts (channel, ts);
"""),
    # How many indexed incidents hold each word: the search asks only with rare words (see the SQLite twin).
    Migration(6, "incident terms", """
create table incident_terms (term text primary key, docs integer not null);
"""),
    # Candidate answers to live triages (bot/shadow); see the SQLite twin.
    Migration(7, "shadow results", """
create table shadow_results (
    triage_id text not null,
    model text not null,
    prompt_version text not null,
    severity text,
    category text,
    confidence double precision,
    latency_ms double precision not null default 0,
    cost_usd double precision not null default 0,
    created_at double precision not null,
    error text,
    result text,
    primary key (triage_id, model, prompt_version)
);
create index shadow_results_created_at on shadow_results (created_at);
"""),
    # Replicas share what they learn: a message no template here matches is looked up among the stored
    # templates of its group (length and first words) before it makes a new one.
    Migration(8, "identity groups", """
alter table identity_templates add column grp text;
create index identity_templates_grp on identity_templates (grp);
"""),
    # Who sent each alert (a Slack bot or app, Alertmanager): only the sender that opened an incident may
    # resolve it.
    Migration(9, "alert senders", """
alter table alerts add column sender text;
"""),
    # Webhook payloads acknowledged but not yet split into alerts (sealed: see bot/alerts/spool.py).
    Migration(10, "webhook spool", """
create table webhook_spool (
    id bigserial primary key,
    received_at double precision not null,
    owner text,
    body bytea not null
);
"""),
)


def migrate(conn: psycopg.Connection[tuple[Any, ...]], migrations: tuple[Migration, ...] = MIGRATIONS) -> int:
    """Apply what is missing in one transaction; a replica starting at the same moment waits on the lock."""
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute(
            "create table if not exists schema_version ("
            "version integer primary key, name text not null, applied_at timestamptz not null default now())"
        )
        row = conn.execute("select coalesce(max(version), 0) from schema_version").fetchone()
        current = int(row[0]) if row else 0
        if current > len(migrations):
            raise psycopg.DatabaseError(
                f"database schema version {current} is newer than this release ({len(migrations)})"
            )
        for migration in pending(migrations, current):
            conn.execute(migration.sql.encode())
            conn.execute(
                "insert into schema_version (version, name) values (%s, %s)", (migration.version, migration.name)
            )
    return max(current, len(migrations))
