"""The store interface every caller types against; SQLite and PostgreSQL implement it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, ParamSpec, Protocol, TypeVar

from bot.alerts.incidents import Incident
from bot.card import TriageResult

P = ParamSpec("P")
T = TypeVar("T")


class TriageRecord(NamedTuple):
    """One triage to record: what `record_triage` takes, for `record_triages` (a group in one transaction)."""

    result: TriageResult
    text: str
    outcome: str = "ok"
    error: str | None = None
    cache: tuple[str, TriageResult, float] | None = None


class Store(Protocol):
    """Plain methods with plain data. They block: async code calls them with `await store.run(fn, ...)`.

    `shared` is True when other processes write to the same database (PostgreSQL): anything a process
    keeps in memory about the store may then be out of date and must be checked against it.
    """

    shared: bool

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T: ...

    def close(self) -> None: ...

    def ping(self, timeout: float = 2.0) -> None:
        """Raise unless the database can be used now (readiness)."""
        ...

    # --- triages -------------------------------------------------------------------------------
    def record_triage(
        self,
        result: TriageResult,
        text: str,
        *,
        outcome: str = "ok",
        error: str | None = None,
        cache: tuple[str, TriageResult, float] | None = None,
    ) -> None: ...

    def record_triages(self, records: Sequence[TriageRecord]) -> None:
        """Record a group of triages in one transaction, in order (group commit): all or none."""
        ...

    def get_triage(self, triage_id: str) -> TriageResult | None: ...

    def triage_text(self, triage_id: str) -> str | None: ...

    def count_triages(self) -> int: ...

    def triage_rows(self, since: float = 0.0) -> list[dict[str, Any]]: ...

    def spent_since(self, since: float) -> float: ...

    # --- shadow runs (bot/shadow): a candidate's answer to a live triage, keyed by triage id, model and
    # prompt version. Rows are plain dicts with the keys of bot.store.sql.SHADOW_COLUMNS.
    def record_shadow(self, row: Mapping[str, Any]) -> None: ...

    def shadow_rows(self, since: float = 0.0) -> list[dict[str, Any]]: ...

    def shadow_spent_since(self, since: float) -> float: ...

    # --- idempotency cache ---------------------------------------------------------------------
    def get_cached(self, key: str) -> TriageResult | None: ...

    def put_cached(self, key: str, result: TriageResult, ttl: float) -> None: ...

    def live_cache(self, limit: int) -> list[tuple[str, float, TriageResult]]: ...

    def purge_expired(self) -> int: ...

    def purge_older_than(self, before: float) -> dict[str, int]: ...

    # --- feedback ------------------------------------------------------------------------------
    def record_feedback(
        self, triage_id: str, user: str, action: str, old_value: str | None, new_value: str | None
    ) -> bool: ...

    def feedback_for(self, triage_id: str) -> list[dict[str, Any]]: ...

    def feedback_rows(self, since: float = 0.0) -> list[dict[str, Any]]: ...

    # --- incident memory -----------------------------------------------------------------------
    # A card's verdict (folded from its feedback by record_feedback, in the same transaction) is the
    # precedent of its identity. Dicts are plain: triage_id, verdict, severity, category, by, at, fingerprint.
    def verdict_of(self, triage_id: str) -> dict[str, Any] | None: ...

    def precedent(self, fingerprint: str) -> dict[str, Any] | None: ...

    def recall(
        self, fingerprint: str, text: str, *, exclude: str | None = None, limit: int = 3
    ) -> dict[str, Any]: ...

    def judged_cases(self, since: float = 0.0) -> list[dict[str, Any]]: ...

    def verdict_link(self, triage_id: str) -> str | None: ...

    def set_verdict_link(self, triage_id: str, link: str) -> None: ...

    # --- Slack ---------------------------------------------------------------------------------
    def claim_event(self, event_id: str) -> bool: ...

    def claimed(self, keys: tuple[str, ...]) -> bool: ...

    def save_post(
        self, triage_id: str, channel: str, ts: str, thread_ts: str | None = None, requested_by: str | None = None
    ) -> None: ...

    def triage_at(self, channel: str, ts: str) -> str | None: ...

    def get_post(self, triage_id: str) -> dict[str, Any] | None: ...

    def posted_ids(self, since: float = 0.0) -> set[str]: ...

    # Which Slack message a card answers (message shortcut), and what the Home tab shows.
    def save_message_card(self, channel: str, message_ts: str, triage_id: str, now: float) -> None: ...

    def message_card(self, channel: str, message_ts: str) -> dict[str, Any] | None: ...

    def user_cards(self, user: str, limit: int = 10) -> list[dict[str, Any]]: ...

    def open_incidents(self, since: float, limit: int = 10) -> list[Incident]: ...

    # --- learned message templates (bot/identity) ----------------------------------------------
    def load_templates(self, limit: int) -> list[tuple[str, str, int, float]]: ...

    def save_templates(self, rows: Sequence[tuple[str, str, int, float, str]], keep: int | None) -> None: ...

    def find_templates(self, group: str, limit: int) -> list[tuple[str, str, int, float]]: ...

    # --- alerts and incidents ------------------------------------------------------------------
    def accept_alert(
        self, source: str, channel: str, ts: str | None, text: str, now: float, claims: tuple[str, ...] = ()
    ) -> int | None: ...

    def take_alert(
        self,
        source: str,
        channel: str,
        ts: str | None,
        text: str,
        now: float,
        claims: tuple[str, ...],
        fingerprint: str,
        resolved: bool,
        window: float,
        places: tuple[str, ...] = (),
        owner: str | None = None,
        sender: str | None = None,
    ) -> tuple[int, Incident | None, bool] | None: ...

    def pending_alerts(self) -> list[dict[str, Any]]: ...

    def alert_counts(self) -> dict[str, int]: ...

    def finish_alert(self, alert_id: int, status: str = "done") -> None: ...

    def coalesce(
        self,
        alert_id: int,
        fingerprint: str,
        channel: str,
        thread_ts: str | None,
        resolved: bool,
        now: float,
        window: float,
        places: tuple[str, ...] = (),
    ) -> tuple[Incident | None, bool]: ...

    def set_incident_card(self, incident_id: str, triage_id: str, alert_id: int) -> None: ...

    def get_incident(self, incident_id: str) -> Incident | None: ...

    def incident_for_triage(self, triage_id: str) -> Incident | None: ...

    def incidents(self) -> list[Incident]: ...

    def due_posts(self, now: float, limit: int = 100) -> list[Incident]: ...

    def post_states(self) -> dict[str, int]: ...

    def mark_sending(self, incident_id: str) -> None: ...

    def mark_posted(self, incident_id: str, card_ts: str, now: float) -> None: ...

    def post_attempts(self, incident_id: str) -> int: ...

    def postpone_post(self, incident_id: str, not_before: float) -> None: ...

    def postpone_sending(self, incident_id: str, not_before: float) -> None: ...

    def queue_stats(self) -> list[tuple[str, str, int, float | None]]: ...

    def due_updates(self, now: float, interval: float, limit: int = 100) -> list[Incident]: ...

    def mark_shown(self, incident_id: str, count: int, resolved: bool, now: float) -> None: ...

    def replace_incident_triage(self, old_triage_id: str, new_triage_id: str) -> None: ...

    # --- retry later ---------------------------------------------------------------------------
    def queue_retry(self, triage_id: str, channel: str, ts: str, next_at: float) -> None: ...

    def due_retries(self, now: float, limit: int = 20) -> list[dict[str, Any]]: ...

    def retry_later(self, triage_id: str, next_at: float) -> None: ...

    def finish_retry(self, triage_id: str, state: str) -> None: ...

    def retry_states(self) -> dict[str, int]: ...

    # --- work several replicas may try to take (leases) ------------------------------------------
    def heartbeat(self, replica: str, now: float) -> None: ...

    def retire(self, replica: str) -> None: ...

    def take_over_alerts(self, replica: str, stale_before: float, limit: int = 500) -> list[dict[str, Any]]: ...

    # Webhook payloads acknowledged before processing (sealed by bot/alerts/spool.py).
    def spool_put(self, body: bytes, now: float, owner: str) -> int: ...

    def spool_take(self, replica: str, stale_before: float) -> list[tuple[int, bytes]]: ...

    def spool_done(self, spool_id: int) -> None: ...

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
    ) -> tuple[list[tuple[str, Incident]], float | None]: ...

    def free_channel(self, channel: str, replica: str, next_at: float) -> None: ...

    def claim_retries(self, now: float, lease: float, limit: int = 20) -> list[dict[str, Any]]: ...

    def claim_flight(
        self, key: str, owner: str, now: float, lease: float, stale_before: float | None = None
    ) -> bool: ...

    def end_flight(self, key: str, owner: str) -> None: ...
