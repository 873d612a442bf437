"""The store's tables, defined once for both backends (SQLAlchemy Core).

A new database is created from these definitions and stamped with the newest migration; an existing one is
brought here by the migrations in bot/store/migrations/versions. A change to a table is made in both places:
here, and in a new revision that changes existing databases the same way.

The full-text index of incidents is not here: it is a SQLite FTS5 virtual table or a PostgreSQL table with a
tsvector column, created by bot/store/dialects/; `incident_text` below only names its two columns so that
queries can be built against it.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Double,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.sql.elements import TextClause

metadata = MetaData()

# 64-bit keys on PostgreSQL; on SQLite an INTEGER PRIMARY KEY is the rowid itself.
Key = BigInteger().with_variant(Integer(), "sqlite")


def _zero() -> TextClause:
    return text("0")


triages = Table(
    "triages",
    metadata,
    Column("id", Text, primary_key=True),
    Column("created_at", Double),
    Column("source", Text),
    Column("input_hash", Text),
    Column("fingerprint", Text),
    Column("text", Text),
    Column("category", Text),
    Column("severity", Text),
    Column("confidence", Double),
    Column("engine", Text),
    Column("model", Text),
    Column("prompt_version", Text),
    Column("cached", Integer),
    Column("degraded", Integer),
    Column("degraded_reason", Text),
    Column("needs_review", Integer),
    Column("latency_ms", Double),
    Column("cost_usd", Double),
    Column("outcome", Text),
    Column("error", Text),
    Column("result", Text),
    Index("triages_created_at", "created_at"),
    Index("triages_fingerprint", "fingerprint"),
    Index("triages_identity", "fingerprint", "created_at"),
)

cache = Table(
    "cache",
    metadata,
    Column("key", Text, primary_key=True),
    Column("result", Text, nullable=False),
    Column("expires_at", Double, nullable=False),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Key, Identity(always=True), primary_key=True),
    Column("triage_id", Text, nullable=False),
    Column("user", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("old_value", Text),
    Column("new_value", Text),
    Column("created_at", Double, nullable=False),
    Column("model", Text),
    Column("prompt_version", Text),
    Column("engine", Text),
    # Where the verdict came from: "slack" (a click), "http" (the feedback route), "mcp" (the feedback tool);
    # NULL on rows stored before origins were recorded, which were all Slack clicks.
    Column("origin", Text),
    Index("feedback_triage_id", "triage_id"),
    Index("feedback_user", "user"),
)
# One click per person and choice, even when the same click reaches two replicas.
FEEDBACK_ONCE = Index(
    "feedback_once",
    feedback.c.triage_id,
    feedback.c.user,
    feedback.c.action,
    func.coalesce(feedback.c.new_value, ""),
    unique=True,
)

slack_events = Table(
    "slack_events",
    metadata,
    Column("event_id", Text, primary_key=True),
    Column("received_at", Double, nullable=False),
)

posts = Table(
    "posts",
    metadata,
    Column("triage_id", Text, primary_key=True),
    Column("channel", Text),
    Column("ts", Text),
    Column("thread_ts", Text),
    Column("requested_by", Text),
    Column("created_at", Double),
    Index("posts_channel_ts", "channel", "ts"),
    Index("posts_requested_by", "requested_by"),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Key, Identity(always=True), primary_key=True),
    Column("received_at", Double, nullable=False),
    Column("source", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("ts", Text),
    Column("text", Text, nullable=False),
    Column("status", Text, nullable=False, server_default=text("'accepted'")),
    Column("incident_id", Text),
    Column("fingerprint", Text),
    Column("owner", Text),
    # who sent it (a Slack bot or app, Alertmanager): only the sender that opened an incident may resolve it
    Column("sender", Text),
    Index("alerts_status", "status"),
    Index("alerts_channel_ts", "channel", "ts"),
    # ids are never reused, even after the newest alert is deleted
    sqlite_autoincrement=True,
)

incidents = Table(
    "incidents",
    metadata,
    Column("id", Text, primary_key=True),
    Column("fingerprint", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("thread_ts", Text),
    Column("count", Integer, nullable=False, server_default=text("1")),
    Column("first_seen", Double, nullable=False),
    Column("last_seen", Double, nullable=False),
    Column("first_alert_id", Key, nullable=False),
    Column("triage_id", Text),
    Column("card_ts", Text),
    Column("resolved", Integer, nullable=False, server_default=_zero()),
    Column("dirty", Integer, nullable=False, server_default=_zero()),
    Column("shown_at", Double, nullable=False, server_default=_zero()),
    Column("post_state", Text, nullable=False, server_default=text("'triaging'")),
    Column("post_attempts", Integer, nullable=False, server_default=_zero()),
    Column("post_not_before", Double, nullable=False, server_default=_zero()),
    Column("places", Text, nullable=False, server_default=text("'[]'")),
    Column("lease_owner", Text),
    Column("lease_until", Double, nullable=False, server_default=_zero()),
    Index("incidents_open", "fingerprint", "channel", "resolved"),
    Index("incidents_post", "post_state"),
    Index("incidents_triage", "triage_id"),
    Index("incidents_dirty", "post_state", "dirty", "shown_at"),
)

retries = Table(
    "retries",
    metadata,
    Column("triage_id", Text, primary_key=True),
    Column("channel", Text, nullable=False),
    Column("ts", Text, nullable=False),
    Column("next_at", Double, nullable=False),
    Column("attempts", Integer, nullable=False, server_default=_zero()),
    Column("state", Text, nullable=False, server_default=text("'pending'")),
    Index("retries_due", "state", "next_at"),
)

verdicts = Table(
    "verdicts",
    metadata,
    Column("triage_id", Text, primary_key=True),
    Column("fingerprint", Text, nullable=False),
    Column("verdict", Text, nullable=False),
    Column("severity", Text, nullable=False),
    Column("category", Text, nullable=False),
    Column("judged_by", Text, nullable=False),
    Column("judged_at", Double, nullable=False),
    Column("link", Text),
    # The origin of the latest click (as feedback.origin; NULL is a Slack click).
    Column("judged_origin", Text),
    Index("verdicts_identity", "fingerprint", "judged_at"),
    Index("verdicts_at", "judged_at"),
)

identity_templates = Table(
    "identity_templates",
    metadata,
    Column("id", Text, primary_key=True),
    Column("pattern", Text, nullable=False),
    Column("count", BigInteger, nullable=False, server_default=_zero()),
    Column("last_seen", Double, nullable=False, server_default=_zero()),
    # length and first words: a replica missing a template looks it up among those of its group
    Column("grp", Text),
    Index("identity_templates_seen", "last_seen"),
    Index("identity_templates_grp", "grp"),
)

replicas = Table(
    "replicas",
    metadata,
    Column("id", Text, primary_key=True),
    Column("seen_at", Double, nullable=False),
)

channel_pace = Table(
    "channel_pace",
    metadata,
    Column("channel", Text, primary_key=True),
    Column("next_at", Double, nullable=False),
    Column("owner", Text),
)

flights = Table(
    "flights",
    metadata,
    Column("key", Text, primary_key=True),
    Column("owner", Text, nullable=False),
    Column("expires_at", Double, nullable=False),
)

message_cards = Table(
    "message_cards",
    metadata,
    Column("channel", Text, primary_key=True),
    Column("message_ts", Text, primary_key=True),
    Column("triage_id", Text, nullable=False),
    Column("created_at", Double, nullable=False),
)

# How many indexed incidents hold each word: the search asks only with rare words.
incident_terms = Table(
    "incident_terms",
    metadata,
    Column("term", Text, primary_key=True),
    Column("docs", Integer, nullable=False),
    sqlite_with_rowid=False,
)

# A candidate model or prompt's answer to a live triage (bot/shadow): never shown, compared with the live card
# and the people's verdict on it.
shadow_results = Table(
    "shadow_results",
    metadata,
    Column("triage_id", Text, primary_key=True),
    Column("model", Text, primary_key=True),
    Column("prompt_version", Text, primary_key=True),
    Column("severity", Text),
    Column("category", Text),
    Column("confidence", Double),
    Column("latency_ms", Double, nullable=False, server_default=_zero()),
    Column("cost_usd", Double, nullable=False, server_default=_zero()),
    Column("created_at", Double, nullable=False),
    Column("error", Text),
    Column("result", Text),
    Index("shadow_results_created_at", "created_at"),
)

# Webhook payloads acknowledged but not yet split into alerts (sealed: see bot/alerts/spool.py).
webhook_spool = Table(
    "webhook_spool",
    metadata,
    Column("id", Key, Identity(always=True), primary_key=True),
    Column("received_at", Double, nullable=False),
    Column("owner", Text),
    Column("body", LargeBinary, nullable=False),
    sqlite_autoincrement=True,
)

# Context (bot/context): the team's runbooks (their full-text index is created per dialect, see
# bot/store/dialects/), deploys and config changes, and the audit of the tools the model called.
runbooks = Table(
    "runbooks",
    metadata,
    Column("path", Text, primary_key=True),
    Column("title", Text, nullable=False),
    Column("names", Text, nullable=False, server_default=""),
    Column("body", Text, nullable=False),
    Column("mtime", Double, nullable=False),
)

changes = Table(
    "changes",
    metadata,
    Column("id", Text, primary_key=True),
    Column("service", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("version", Text),
    Column("environment", Text),
    Column("author", Text),
    Column("url", Text),
    Column("at", Double, nullable=False),
    Column("received_at", Double, nullable=False),
    Index("changes_at", "at"),
)

tool_calls = Table(
    "tool_calls",
    metadata,
    Column("id", Key, Identity(always=True), primary_key=True),
    Column("triage_id", Text, nullable=False),
    Column("server", Text, nullable=False),
    Column("tool", Text, nullable=False),
    Column("arguments", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("latency_ms", Double, nullable=False),
    Column("result_chars", Integer, nullable=False),
    Column("error", Text),
    Column("at", Double, nullable=False),
    Index("tool_calls_triage", "triage_id"),
    Index("tool_calls_at", "at"),
)

# The full-text index (created per dialect, see the module docstring): one row per incident identity.
fulltext = MetaData()
incident_text = Table(
    "incident_text",
    fulltext,
    Column("fingerprint", Text),
    Column("text", Text),
)

# SQLite's full-text index of runbooks (an FTS5 table, see bot/store/dialects/sqlite.py); PostgreSQL indexes the
# `runbooks` table itself.
runbook_text = Table(
    "runbook_text",
    fulltext,
    Column("path", Text),
    Column("title", Text),
    Column("names", Text),
    Column("body", Text),
)
