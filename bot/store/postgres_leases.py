"""PostgreSQL side of the work several replicas may try to take: alert ownership, card-post leases,
per-channel pacing of Slack writes, re-triage jobs and single flight of identical model calls.

Candidates are locked with FOR UPDATE SKIP LOCKED (a replica never waits for, nor takes, what another is
claiming), a channel's pacing slot is one row updated only when free, and leases carry an expiry and
an owner whose heartbeat tells whether it is still alive.
"""

from __future__ import annotations

from typing import Any

from bot.alerts.incidents import Incident
from bot.store.leases import WRITE_GRACE, one_per_channel, soonest_wait
from bot.store.postgres_storm import _INCIDENT_COLUMNS, PostgresStormStore, _incident, _one

_DEAD_OWNER = "not exists (select 1 from replicas r where r.id = {col} and r.seen_at >= %s)"


class PostgresLeaseStore(PostgresStormStore):
    """Mixed into PostgresStore."""

    def heartbeat(self, replica: str, now: float) -> None:
        with self._tx() as conn:
            conn.execute(
                "insert into replicas (id, seen_at) values (%s, %s) on conflict (id) do update"
                " set seen_at = greatest(replicas.seen_at, excluded.seen_at)",
                (replica, now),
            )

    # --- the webhook spool: payloads acknowledged before they are processed -------------------------

    def spool_put(self, body: bytes, now: float, owner: str) -> int:
        with self._tx() as conn:
            row = conn.execute(
                "insert into webhook_spool (received_at, owner, body) values (%s, %s, %s) returning id",
                (now, owner, body),
            ).fetchone()
        assert row is not None
        return int(row[0])

    def spool_take(self, replica: str, stale_before: float) -> list[tuple[int, bytes]]:
        """Spooled payloads whose replica is gone, now owned by `replica`, oldest first."""
        dead = _DEAD_OWNER.format(col="webhook_spool.owner")
        with self._tx() as conn:
            rows = conn.execute(
                f"select id, body from webhook_spool where owner is null or (owner <> %s and {dead}) order by id",
                (replica, stale_before),
            ).fetchall()
            for row in rows:
                conn.execute("update webhook_spool set owner = %s where id = %s", (replica, row[0]))
        return [(int(row[0]), bytes(row[1])) for row in rows]

    def spool_done(self, spool_id: int) -> None:
        with self._tx() as conn:
            conn.execute("delete from webhook_spool where id = %s", (spool_id,))

    def retire(self, replica: str) -> None:
        """A replica shutting down: what it still holds can be taken over at once."""
        with self._tx() as conn:
            conn.execute("delete from replicas where id = %s", (replica,))

    def take_over_alerts(self, replica: str, stale_before: float, limit: int = 500) -> list[dict[str, Any]]:
        """Accepted alerts nobody alive is working on (their replica died), now owned by `replica`."""
        with self._tx() as conn:
            # The condition is checked again on the row being updated: a row another replica took over
            # and committed while this statement ran is seen in its new state there.
            dead = _DEAD_OWNER.format(col="alerts.owner")
            free = f"status = 'accepted' and (owner is null or (owner <> %s and {dead}))"
            rows = conn.execute(
                f"update alerts set owner = %s where id in (select id from alerts where {free}"
                f" order by id limit %s for update skip locked) and {free}"
                " returning id, source, channel, ts, text, fingerprint",
                (replica, replica, stale_before, limit, replica, stale_before),
            ).fetchall()
        keys = ("id", "source", "channel", "ts", "text", "fingerprint")
        return sorted((dict(zip(keys, row, strict=True)) for row in rows), key=lambda r: int(r["id"]))

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
        """Reserve the next Slack write of every channel whose pacing slot is free (see the SQLite store)."""
        with self._tx() as conn:
            # Only the head of each channel's queue is read (see the SQLite store). The condition is checked
            # again outside the subquery: a row another replica claimed and committed meanwhile is locked in
            # its new state, and that check drops it.
            due_post = (
                "((post_state = 'pending' and post_not_before <= %s) or (post_state = 'sending' and"
                " (lease_until <= %s or (coalesce(lease_owner, '') <> %s and"
                f" {_DEAD_OWNER.format(col='incidents.lease_owner')}))))"
            )
            post_args = (now, now, replica, stale_before)
            posts = [_incident(r) for r in conn.execute(
                f"select {_INCIDENT_COLUMNS} from incidents where id in (select distinct on (channel) id"
                f" from incidents where {due_post} order by channel, first_seen) and {due_post}"
                " order by first_seen limit %s for update skip locked",
                (*post_args, *post_args, limit),
            ).fetchall()]
            due_update = "post_state = 'posted' and dirty = 1 and shown_at <= %s"
            updates = [_incident(r) for r in conn.execute(
                f"select {_INCIDENT_COLUMNS} from incidents where id in (select distinct on (channel) id"
                f" from incidents where {due_update} order by channel, shown_at) and {due_update}"
                " order by shown_at limit %s for update skip locked",
                (now - interval, now - interval, limit),
            ).fetchall()]
            claimed: list[tuple[str, Incident]] = []
            busy: list[float] = []
            for kind, incident in one_per_channel(posts, updates):
                # Taken only when free; a replica reserving the same channel waits for our commit, then sees
                # the slot taken.
                slot = _one(
                    conn,
                    "insert into channel_pace (channel, next_at, owner) values (%s, %s, %s) on conflict (channel)"
                    " do update set next_at = excluded.next_at, owner = excluded.owner"
                    " where channel_pace.next_at <= %s returning channel",
                    (incident.channel, now + pace + WRITE_GRACE, replica, now),
                )
                if slot is None:
                    held = _one(conn, "select next_at from channel_pace where channel = %s", (incident.channel,))
                    busy.append(float(held[0]) if held else now)
                    continue
                if kind == "post":
                    conn.execute(
                        "update incidents set post_state = 'sending', lease_owner = %s, lease_until = %s"
                        " where id = %s",
                        (replica, now + lease, incident.id),
                    )
                else:
                    conn.execute("update incidents set shown_at = %s where id = %s", (now, incident.id))
                claimed.append((kind, incident))
        return claimed, soonest_wait(now, busy)

    def free_channel(self, channel: str, replica: str, next_at: float) -> None:
        """The write is done: the channel takes its next write at `next_at` (unless someone took it over)."""
        with self._tx() as conn:
            conn.execute(
                "update channel_pace set next_at = %s where channel = %s and owner = %s", (next_at, channel, replica)
            )

    def claim_retries(self, now: float, lease: float, limit: int = 20) -> list[dict[str, Any]]:
        """Due re-triage jobs, each pushed `lease` seconds ahead so no other replica runs it meanwhile."""
        with self._tx() as conn:
            rows = conn.execute(
                "update retries set next_at = %s where triage_id in (select triage_id from retries"
                " where state = 'pending' and next_at <= %s order by next_at limit %s for update skip locked)"
                " and state = 'pending' and next_at <= %s returning triage_id, channel, ts, attempts",
                (now + lease, now, limit, now),
            ).fetchall()
        keys = ("triage_id", "channel", "ts", "attempts")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def claim_flight(self, key: str, owner: str, now: float, lease: float, stale_before: float | None = None) -> bool:
        """True when `owner` may ask the model for `key`: nobody else is, or their lease ran out, or their
        replica's heartbeat is older than `stale_before` (it died asking)."""
        dead = "" if stale_before is None else f" or {_DEAD_OWNER.format(col='flights.owner')}"
        alive = () if stale_before is None else (stale_before,)
        with self._tx() as conn:
            row = _one(
                conn,
                "insert into flights (key, owner, expires_at) values (%s, %s, %s) on conflict (key) do update"
                " set owner = excluded.owner, expires_at = excluded.expires_at where flights.expires_at <= %s"
                + dead + " returning key",
                (key, owner, now + lease, now, *alive),
            )
            return row is not None

    def end_flight(self, key: str, owner: str) -> None:
        with self._tx() as conn:
            conn.execute("delete from flights where key = %s and owner = %s", (key, owner))
