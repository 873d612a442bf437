"""`db`: bring the database's schema up to this release, or show its revision."""

from __future__ import annotations

import argparse
from typing import TextIO

from bot.settings import Settings


def db_command(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    """`db upgrade` migrates (as every start does), `db current` only reads the revision."""
    from bot.store import dialects, migrate

    dialect = dialects.connect(settings.database_url if settings.database_url else settings.db_path)
    try:
        if args.db_command == "upgrade":
            out.write(f"{migrate.upgrade(dialect)} (head)\n")
        else:
            out.write(migrate.describe(dialect) + "\n")
    finally:
        dialect.engine.dispose()
    return 0
