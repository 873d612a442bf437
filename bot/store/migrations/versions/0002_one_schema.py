"""One schema for both backends: SQLite gains the indexes PostgreSQL had, under the same names.

Release 0.1.0 kept one click per person and choice on SQLite by checking before inserting; the unique
index now does it on both backends. Its SQLite indexes named `idx_*` get the names used everywhere else.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

RENAMED = (
    ("idx_triages_created_at", "triages_created_at", "triages", ["created_at"]),
    ("idx_triages_fingerprint", "triages_fingerprint", "triages", ["fingerprint"]),
    ("idx_feedback_triage_id", "feedback_triage_id", "feedback", ["triage_id"]),
)
ADDED = (
    ("posts_channel_ts", "posts", ["channel", "ts"]),
    ("incidents_triage", "incidents", ["triage_id"]),
    ("incidents_dirty", "incidents", ["post_state", "dirty", "shown_at"]),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return  # PostgreSQL databases of release 0.1.0 already have this shape
    for old, new, table, columns in RENAMED:
        op.drop_index(old, table_name=table, if_exists=True)
        op.create_index(new, table, columns, if_not_exists=True)
    for name, table, columns in ADDED:
        op.create_index(name, table, columns, if_not_exists=True)
    op.create_index(
        "feedback_once", "feedback", ["triage_id", "user", "action", sa.text("coalesce(new_value, '')")],
        unique=True, if_not_exists=True,
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.drop_index("feedback_once", table_name="feedback")
    for name, table, _ in ADDED:
        op.drop_index(name, table_name=table)
    for old, new, table, columns in RENAMED:
        op.drop_index(new, table_name=table)
        op.create_index(old, table, columns)
