"""Baseline: the schema of release 0.1.0, written by its hand-written migrations 1 to 6.

A database of that release (SQLite `PRAGMA user_version` 6, PostgreSQL `schema_version` 6) is stamped here
and upgraded from here. A new database is created from bot/store/schema.py and stamped with the newest
revision, so it never runs this one.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
