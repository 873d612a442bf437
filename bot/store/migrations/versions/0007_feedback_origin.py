"""Feedback origin: where each verdict came from (a Slack click, the HTTP route, the MCP tool).

Only a Slack click's author is a Slack user, so only it is shown as a mention. Rows stored before keep
NULL, which reads as a Slack click (the only way to give a verdict when they were stored).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

COLUMNS = (("feedback", "origin"), ("verdicts", "judged_origin"))


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for table, column in COLUMNS:
        if column not in {c["name"] for c in inspector.get_columns(table)}:
            op.add_column(table, sa.Column(column, sa.Text(), nullable=True))


def downgrade() -> None:
    for table, column in COLUMNS:
        # A plain ALTER TABLE … DROP COLUMN (SQLite 3.35 and later): no index names either column.
        op.drop_column(table, column)
