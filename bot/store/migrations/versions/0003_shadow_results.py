"""Shadow results: a candidate model or prompt's answer to a live triage (bot/shadow).

Databases that reached version 7 of the hand-written migrations have the table already; the others get it.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("shadow_results"):
        return
    op.create_table(
        "shadow_results",
        sa.Column("triage_id", sa.Text, primary_key=True),
        sa.Column("model", sa.Text, primary_key=True),
        sa.Column("prompt_version", sa.Text, primary_key=True),
        sa.Column("severity", sa.Text),
        sa.Column("category", sa.Text),
        sa.Column("confidence", sa.Double),
        sa.Column("latency_ms", sa.Double, nullable=False, server_default=sa.text("0")),
        sa.Column("cost_usd", sa.Double, nullable=False, server_default=sa.text("0")),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("result", sa.Text),
    )
    op.create_index("shadow_results_created_at", "shadow_results", ["created_at"])


def downgrade() -> None:
    op.drop_index("shadow_results_created_at", table_name="shadow_results")
    op.drop_table("shadow_results")
