"""Storage for learned message templates, so a restart (and other replicas) keep the same identities."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence

TemplateRow = tuple[str, str, int, float]
# what is saved: the row and its group (length and first words), by which another replica looks it up
SavedTemplate = tuple[str, str, int, float, str]


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

    def find_templates(self, group: str, limit: int) -> list[TemplateRow]:
        """The `limit` most recently seen templates of one group (a replica missing them looks here)."""
        with self._lock:
            rows = self.conn.execute(
                "select id, pattern, count, last_seen from identity_templates where grp = ? "
                "order by last_seen desc limit ?",
                (group, limit),
            ).fetchall()
        return [(str(i), str(p), int(c), float(s)) for i, p, c, s in rows]

    def save_templates(self, rows: Sequence[SavedTemplate], keep: int | None) -> None:
        """Insert or update templates; past `keep` rows the least recently seen are dropped, except those
        of open incidents and judged ones: a flood of new messages cannot take a live identity away. `keep`
        None only stores (a template shared the moment it is learned; trimming comes with the periodic save)."""
        if not rows and keep is None:
            return
        with self._lock:
            self.conn.execute("begin immediate")
            try:
                self.conn.executemany(
                    "insert into identity_templates (id, pattern, count, last_seen, grp) values (?, ?, ?, ?, ?) "
                    "on conflict (id) do update set pattern = excluded.pattern, grp = excluded.grp, "
                    "count = max(identity_templates.count, excluded.count), "
                    "last_seen = max(identity_templates.last_seen, excluded.last_seen)",
                    rows,
                )
                total = self.conn.execute("select count(*) from identity_templates").fetchone()[0] if keep else 0
                if keep is not None and total > keep:
                    self.conn.execute(
                        "delete from identity_templates where id in "
                        "(select id from identity_templates where id not in "
                        "(select fingerprint from incidents where resolved = 0) "
                        "and id not in (select fingerprint from verdicts) order by last_seen limit ?)",
                        (total - keep,),
                    )
            except BaseException:
                self.conn.execute("rollback")
                raise
            self.conn.execute("commit")
