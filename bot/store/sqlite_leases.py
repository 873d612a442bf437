"""SQLite side of the work several processes may try to take: alert ownership, card-post leases,
per-channel pacing of Slack writes, re-triage jobs and single flight of identical model calls.

SQLite serialises writers, so each claim is a plain check-then-write inside one immediate transaction.
"""

from __future__ import annotations

from typing import Any

from bot.alerts.incidents import Incident
from bot.store.leases import WRITE_GRACE, one_per_channel, soonest_wait
from bot.store.sqlite_storm import _INCIDENT_COLUMNS, StormStore, _incident

# A lease holder counts as alive while its replica's heartbeat is newer than `stale_before`.
_DEAD_OWNER = "not exists (select 1 from replicas r where r.id = {col} and r.seen_at >= ?)"


class LeaseStore(StormStore):
    """Mixed into SQLiteStore."""

    def heartbeat(self, replica: str, now: float) -> None:
        with self._tx() as conn:
            conn.execute(
                "insert into replicas (id, seen_at) values (?, ?) on conflict (id) do update"
                " set seen_at = max(replicas.seen_at, excluded.seen_at)",
                (replica, now),
            )

    # --- the webhook spool: payloads acknowledged before they are processed -------------------------

    def spool_put(self, body: bytes, now: float, owner: str) -> int:
        with self._tx() as conn:
            row = conn.execute(
                "insert into webhook_spool (received_at, owner, body) values (?, ?, ?) returning id",
                (now, owner, body),
            ).fetchone()
        assert row is not None
        return int(row[0])

    def spool_take(self, replica: str, stale_before: float) -> list[tuple[int, bytes]]:
        """Spooled payloads whose replica is gone, now owned by `replica`, oldest first."""
        dead = _DEAD_OWNER.format(col="webhook_spool.owner")
        with self._tx() as conn:
            rows = conn.execute(
                f"select id, body from webhook_spool where owner is null or (owner <> ? and {dead}) order by id",
                (replica, stale_before),
            ).fetchall()
            for row in rows:
                conn.execute("update webhook_spool set owner = ? where id = ?", (replica, row[0]))
        return [(int(row[0]), bytes(row[1])) for row in rows]

    def spool_done(self, spool_id: int) -> None:
        with self._tx() as conn:
            conn.execute("delete from webhook_spool where id = ?", (spool_id,))

    def retire(self, replica: str) -> None:
        """A replica shutting down: what it still holds can be taken over at once."""
        with self._tx() as conn:
            conn.execute("delete from replicas where id = ?", (replica,))

    def take_over_alerts(self, replica: str, stale_before: float, limit: int = 500) -> list[dict[str, Any]]:
        """Accepted alerts nobody alive is working on (their replica died), now owned by `replica`."""
        with self._tx() as conn:
            rows = conn.execute(
                "select id, source, channel, ts, text, fingerprint from alerts where status = 'accepted' and"
                f" (owner is null or (owner <> ? and {_DEAD_OWNER.format(col='alerts.owner')})) order by id limit ?",
                (replica, stale_before, limit),
            ).fetchall()
            conn.executemany("update alerts set owner = ? where id = ?", [(replica, row[0]) for row in rows])
        keys = ("id", "source", "channel", "ts", "text", "fingerprint")
        return [dict(zip(keys, tuple(r), strict=True)) for r in rows]

    def claim_writes(
        self,
        replica: str,
        now: float,
        *,
        pace: float,
        interval: float,
        lease: float,
        stale_before: float,
        limit: int = 200,
    ) -> tuple[list[tuple[str, Incident]], float | None]:
        """Reserve the next Slack write of every channel whose pacing slot is free.

        Returns [(kind, incident)] with kind "post" (the incident's post_state is the one it had, so a
        "sending" card is looked for before being posted again) or "update" (a counter redraw), and the
        seconds until a busy channel with work frees up (None when none was waiting).
        """
        with self._tx() as conn:
            # Only the head of each channel's queue is read: a long backlog in one channel can never push
            # another channel's first card out of the batch.
            posts = [_incident(r) for r in conn.execute(
                f"select {_INCIDENT_COLUMNS} from incidents where id in (select id from (select id, row_number()"
                " over (partition by channel order by first_seen) as rn from incidents where"
                " (post_state = 'pending' and post_not_before <= ?)"
                " or (post_state = 'sending' and (lease_until <= ? or (coalesce(lease_owner, '') <> ? and"
                f" {_DEAD_OWNER.format(col='incidents.lease_owner')})))) where rn = 1) order by first_seen limit ?",
                (now, now, replica, stale_before, limit),
            ).fetchall()]
            updates = [_incident(r) for r in conn.execute(
                f"select {_INCIDENT_COLUMNS} from incidents where id in (select id from (select id, row_number()"
                " over (partition by channel order by shown_at) as rn from incidents where post_state = 'posted'"
                " and dirty = 1 and shown_at <= ?) where rn = 1) order by shown_at limit ?",
                (now - interval, limit),
            ).fetchall()]
            claimed: list[tuple[str, Incident]] = []
            busy: list[float] = []
            for kind, incident in one_per_channel(posts, updates):
                slot = self._one("select next_at from channel_pace where channel = ?", (incident.channel,))
                if slot is not None and slot[0] > now:
                    busy.append(float(slot[0]))
                    continue
                conn.execute(
                    "insert into channel_pace (channel, next_at, owner) values (?, ?, ?) on conflict (channel)"
                    " do update set next_at = excluded.next_at, owner = excluded.owner",
                    (incident.channel, now + pace + WRITE_GRACE, replica),
                )
                if kind == "post":
                    conn.execute(
                        "update incidents set post_state = 'sending', lease_owner = ?, lease_until = ? where id = ?",
                        (replica, now + lease, incident.id),
                    )
                else:
                    conn.execute("update incidents set shown_at = ? where id = ?", (now, incident.id))
                claimed.append((kind, incident))
        return claimed, soonest_wait(now, busy)

    def free_channel(self, channel: str, replica: str, next_at: float) -> None:
        """The write is done: the channel takes its next write at `next_at` (unless someone took it over)."""
        with self._tx() as conn:
            conn.execute(
                "update channel_pace set next_at = ? where channel = ? and owner = ?", (next_at, channel, replica)
            )

    def claim_retries(self, now: float, lease: float, limit: int = 20) -> list[dict[str, Any]]:
        """Due re-triage jobs, each pushed `lease` seconds ahead so no other process runs it meanwhile."""
        with self._tx() as conn:
            rows = conn.execute(
                "select triage_id, channel, ts, attempts from retries where state = 'pending' and next_at <= ?"
                " order by next_at limit ?",
                (now, limit),
            ).fetchall()
            conn.executemany(
                "update retries set next_at = ? where triage_id = ?", [(now + lease, row[0]) for row in rows]
            )
        return [dict(zip(("triage_id", "channel", "ts", "attempts"), tuple(r), strict=True)) for r in rows]

    def claim_flight(self, key: str, owner: str, now: float, lease: float, stale_before: float | None = None) -> bool:
        """True when `owner` may ask the model for `key`: nobody else is, or their lease ran out, or their
        replica's heartbeat is older than `stale_before` (it died asking)."""
        dead = "" if stale_before is None else f" or {_DEAD_OWNER.format(col='flights.owner')}"
        alive = () if stale_before is None else (stale_before,)
        with self._tx() as conn:
            cursor = conn.execute(
                "insert into flights (key, owner, expires_at) values (?, ?, ?) on conflict (key) do update"
                " set owner = excluded.owner, expires_at = excluded.expires_at where flights.expires_at <= ?"
                + dead,
                (key, owner, now + lease, now, *alive),
            )
            return cursor.rowcount == 1

    def end_flight(self, key: str, owner: str) -> None:
        with self._tx() as conn:
            conn.execute("delete from flights where key = ? and owner = ?", (key, owner))
