"""Alembic's entry point: migrations run on the connection (and inside the transaction) the store opened."""

from __future__ import annotations

from alembic import context

from bot.store.schema import metadata

connection = context.config.attributes["connection"]
# SQLite changes most of a table only by copying it: batch mode does that for every ALTER.
context.configure(connection=connection, target_metadata=metadata, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
