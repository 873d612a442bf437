"""Bringing a database to this release's schema with Alembic, once, under a lock.

Every store runs `upgrade` when it opens, and `triage-bot db upgrade` runs it on demand. Replicas starting
together take turns: PostgreSQL holds an advisory lock for the migration's transaction, SQLite holds the
file's write lock (BEGIN IMMEDIATE). Three kinds of database:

- one Alembic already knows (an `alembic_version` table): upgraded to the newest revision;
- one written by release 0.1.0, whose hand-written migrations kept their version (6 to 10) in
  `PRAGMA user_version` (SQLite) or a `schema_version` table (PostgreSQL): stamped with the baseline
  revision, whose schema is that release's version 6, then upgraded in place; every row stays;
- an empty one: created from bot/store/schema.py and stamped with the newest revision.

The revisions ship inside the package (bot/store/migrations), found with importlib.resources.
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text

from bot.store.dialects import Dialect
from bot.store.schema import metadata

if TYPE_CHECKING:
    from alembic.config import Config

BASELINE = "0001"
# The newest revision in bot/store/migrations/versions (a test checks it): a database already there is left
# alone without loading Alembic at all, which keeps every start cheap.
HEAD = "0007"
# The versions the hand-written migrations of release 0.1.0 left: 6 is the schema BASELINE describes, 7 added
# shadow results, 8 identity groups, 9 alert senders, 10 the webhook spool (revisions 0003 to 0005 add what
# is missing).
LEGACY_VERSIONS = (6, 7, 8, 9, 10)


class SchemaError(RuntimeError):
    """The database cannot be brought to this release's schema (too old, or newer than this release)."""


def _config(conn: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(resources.files("bot.store").joinpath("migrations")))
    config.attributes["connection"] = conn
    return config


def head() -> str:
    return HEAD


def script_head() -> str | None:
    """The newest revision the shipped scripts define (HEAD must name it)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config()).get_current_head()


def legacy_version(conn: Connection) -> int | None:
    """The version release 0.1.0 recorded, or None when it did not write this database."""
    tables = set(inspect(conn).get_table_names())
    if conn.dialect.name == "sqlite":
        version = int(conn.exec_driver_sql("pragma user_version").scalar_one())
        return version if version or "triages" in tables else None
    if "schema_version" not in tables:
        return None
    return int(conn.execute(text("select coalesce(max(version), 0) from schema_version")).scalar_one())


def current(conn: Connection) -> str | None:
    """The revision Alembic recorded (None when it never ran on this database)."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("select version_num from alembic_version")).scalar()


def describe(dialect: Dialect) -> str:
    """A line for `triage-bot db current`: the database's revision and whether it is the newest."""
    with dialect.engine.connect() as conn:
        revision = current(conn)
        legacy = legacy_version(conn) if revision is None else None
    newest = head()
    if revision is None and legacy is not None:
        return f"none (written by release 0.1.0, schema version {legacy}); `triage-bot db upgrade` adopts it"
    if revision is None:
        return f"none (empty database); `triage-bot db upgrade` creates revision {newest}"
    return f"{revision} (head)" if revision == newest else f"{revision} (head is {newest})"


def _stamp_new(conn: Connection, revision: str) -> None:
    """What `alembic stamp` records, written directly: a new database needs no migration machinery."""
    conn.execute(text(
        "create table alembic_version (version_num varchar(32) not null,"
        " constraint alembic_version_pkc primary key (version_num))"
    ))
    conn.execute(text("insert into alembic_version (version_num) values (:v)"), {"v": revision})


def upgrade(dialect: Dialect) -> str:
    """Bring the database to the newest revision (see the module docstring); returns that revision."""
    newest = head()
    with dialect.engine.begin() as conn:
        dialect.migration_lock(conn)
        revision = current(conn)
        if revision == newest:
            return newest
        legacy = legacy_version(conn) if revision is None else None
        if revision is None and legacy is None:
            metadata.create_all(conn)
            dialect.create_fulltext(conn)
            _stamp_new(conn, newest)
            return newest
        from alembic import command
        from alembic.script import ScriptDirectory

        config = _config(conn)
        if revision is not None:
            known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
            if revision not in known:
                raise SchemaError(f"database schema revision {revision} is newer than this release ({newest})")
            if revision != newest:
                command.upgrade(config, "head")
            return newest
        assert legacy is not None
        if legacy not in LEGACY_VERSIONS:
            raise SchemaError(
                f"database schema version {legacy} was written by a release older than 0.1.0"
                if legacy < min(LEGACY_VERSIONS)
                else f"database schema version {legacy} is newer than this release"
            )
        command.stamp(config, BASELINE)
        command.upgrade(config, "head")
    return newest
