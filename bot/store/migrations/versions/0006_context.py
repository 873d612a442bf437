"""Context: the team's runbooks with their full-text index, deploys and config changes, the tool-call audit.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

from bot.store.dialects import RUNBOOK_FTS5, RUNBOOK_GIN
from bot.store.schema import changes, runbooks, tool_calls

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    for table in (runbooks, changes, tool_calls):
        table.create(bind, checkfirst=True)
    bind.exec_driver_sql(RUNBOOK_FTS5 if bind.dialect.name == "sqlite" else RUNBOOK_GIN)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        bind.exec_driver_sql("drop table if exists runbook_text")
    for table in (tool_calls, changes, runbooks):
        table.drop(bind, checkfirst=True)
