"""Pure rules shared by both backends for work that several replicas may try to take at once."""

from __future__ import annotations

import math
import os
import socket
import uuid
from collections.abc import Iterable, Sequence

from bot.alerts.incidents import Incident

# Seconds a channel stays reserved while one of its Slack writes is under way; the writer frees it
# (plus the pacing interval) as soon as the write returns, so this only matters when it died mid-write.
WRITE_GRACE = 5.0


# Seconds a card post stays leased to the replica that took it; a live replica always finishes sooner, and a
# dead one's cards are taken over as soon as its heartbeat goes stale (see Settings.replica_lease).
POST_LEASE = 120.0


def new_replica_id() -> str:
    """This process's name in leases and heartbeats: host and pid for people, a random part for uniqueness."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def stale_before(shared: bool, now: float, lease: float) -> float:
    """Heartbeats older than this mark a dead replica. A process alone on its database (SQLite) treats
    every other owner as dead: whatever an earlier run held is its to finish."""
    return now - lease if shared else math.inf


def one_per_channel(posts: Iterable[Incident], updates: Iterable[Incident]) -> list[tuple[str, Incident]]:
    """The next Slack write for each channel: its oldest unposted card, else its stalest counter redraw.

    Channels come out sorted, so replicas reserve channel slots in the same order and never deadlock.
    """
    work: dict[str, tuple[str, Incident]] = {}
    for incident in posts:
        work.setdefault(incident.channel, ("post", incident))
    for incident in updates:
        work.setdefault(incident.channel, ("update", incident))
    return [work[channel] for channel in sorted(work)]


def soonest_wait(now: float, busy_until: Sequence[float]) -> float | None:
    """Seconds until the first busy channel frees, or None when no channel with work was busy."""
    return max(0.0, min(busy_until) - now) if busy_until else None
