"""Versioned schema changes for each backend, applied in order when a store opens.

A migration is never edited once released: a change to the schema is a new, higher version. SQLite
records the version in `PRAGMA user_version`; PostgreSQL in a `schema_version` table, under an advisory
lock so that replicas starting together apply each migration exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def pending(migrations: tuple[Migration, ...], current: int) -> list[Migration]:
    """The migrations newer than `current`, in order; the list must be numbered 1, 2, 3 …"""
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(migrations) + 1)):
        raise ValueError(f"migrations must be numbered 1..n in order, got {versions}")
    return [m for m in migrations if m.version > current]
