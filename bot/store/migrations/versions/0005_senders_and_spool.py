"""Alert senders (only the sender that opened an incident may resolve it) and the webhook spool (payloads
acknowledged before they are split into alerts, see bot/alerts/spool.py).

Databases that reached versions 9 and 10 of the hand-written migrations have them already.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    found = sa.inspect(op.get_bind())
    if "sender" not in {column["name"] for column in found.get_columns("alerts")}:
        with op.batch_alter_table("alerts") as table:
            table.add_column(sa.Column("sender", sa.Text))
    if not found.has_table("webhook_spool"):
        op.create_table(
            "webhook_spool",
            sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), sa.Identity(always=True),
                      primary_key=True),
            sa.Column("received_at", sa.Double, nullable=False),
            sa.Column("owner", sa.Text),
            sa.Column("body", sa.LargeBinary, nullable=False),
            sqlite_autoincrement=True,
        )


def downgrade() -> None:
    op.drop_table("webhook_spool")
    with op.batch_alter_table("alerts") as table:
        table.drop_column("sender")
