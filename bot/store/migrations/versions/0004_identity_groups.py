"""Identity groups: each learned template keeps its group (length and first words), by which a replica that
has not learned it yet looks it up before making a new one.

Databases that reached version 8 of the hand-written migrations have the column already; the others get it.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    found = sa.inspect(op.get_bind())
    if "grp" not in {column["name"] for column in found.get_columns("identity_templates")}:
        with op.batch_alter_table("identity_templates") as table:
            table.add_column(sa.Column("grp", sa.Text))
    op.create_index("identity_templates_grp", "identity_templates", ["grp"], if_not_exists=True)


def downgrade() -> None:
    op.drop_index("identity_templates_grp", table_name="identity_templates")
    with op.batch_alter_table("identity_templates") as table:
        table.drop_column("grp")
