"""Storage for learned message templates, so a restart (and other replicas) keep the same identities."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence

TemplateRow = tuple[str, str, int, float]


class IdentityStore:
    """Mixed into SQLiteStore: `conn` and `_lock` come from there (the table is made by migration 2)."""

    _lock: threading.RLock

    @property
    def conn(self) -> sqlite3.Connection:
        raise NotImplementedError

    def load_templates(self, limit: int) -> list[TemplateRow]:
        """The `limit` most recently seen templates: (id, pattern, count, last seen)."""
        with self._lock:
            rows = self.conn.execute(
                "select id, pattern, count, last_seen from identity_templates order by last_seen desc limit ?",
                (limit,),
            ).fetchall()
        return [(str(i), str(p), int(c), float(s)) for i, p, c, s in rows]

    def save_templates(self, rows: Sequence[TemplateRow], keep: int) -> None:
        """Insert or update templates; past `keep` rows the least recently seen are dropped."""
        if not rows:
            return
        with self._lock:
            self.conn.execute("begin immediate")
            try:
                self.conn.executemany(
                    "insert into identity_templates (id, pattern, count, last_seen) values (?, ?, ?, ?) "
                    "on conflict (id) do update set pattern = excluded.pattern, "
                    "count = max(identity_templates.count, excluded.count), "
                    "last_seen = max(identity_templates.last_seen, excluded.last_seen)",
                    rows,
                )
                total = self.conn.execute("select count(*) from identity_templates").fetchone()[0]
                if total > keep:
                    self.conn.execute(
                        "delete from identity_templates where id in "
                        "(select id from identity_templates order by last_seen limit ?)",
                        (total - keep,),
                    )
            except BaseException:
                self.conn.execute("rollback")
                raise
            self.conn.execute("commit")
