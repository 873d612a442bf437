"""PostgreSQL storage for the Slack surfaces: the same methods as bot/store/sqlite_slack.py."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import psycopg

from bot.alerts.incidents import Incident
from bot.store.postgres_storm import _INCIDENT_COLUMNS
from bot.store.sqlite_slack import card_summary

Conn = psycopg.Connection[tuple[Any, ...]]


class PostgresSlackStore:
    """Mixed into PostgresStore, which provides `_tx`, `_rows` and `_incidents`."""

    def _tx(self) -> AbstractContextManager[Conn]:
        raise NotImplementedError

    def _rows(self, sql: Any, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        raise NotImplementedError

    def _incidents(self, sql: Any, args: tuple[Any, ...] = ()) -> list[Incident]:
        raise NotImplementedError

    def save_message_card(self, channel: str, message_ts: str, triage_id: str, now: float) -> None:
        with self._tx() as conn:
            conn.execute(
                "insert into message_cards (channel, message_ts, triage_id, created_at) values (%s, %s, %s, %s)"
                " on conflict (channel, message_ts) do update set triage_id = excluded.triage_id,"
                " created_at = excluded.created_at",
                (channel, message_ts, triage_id, now),
            )

    def message_card(self, channel: str, message_ts: str) -> dict[str, Any] | None:
        rows = self._rows(
            "select p.triage_id, p.channel, p.ts from message_cards m join posts p on p.triage_id = m.triage_id"
            " where m.channel = %s and m.message_ts = %s order by m.created_at desc limit 1",
            (channel, message_ts),
        ) or self._rows(
            "select i.triage_id, i.channel, i.card_ts as ts from alerts a join incidents i on i.id = a.incident_id"
            " where a.channel = %s and a.ts = %s and i.card_ts is not null order by a.id desc limit 1",
            (channel, message_ts),
        )
        if not rows:
            return None
        return {"triage_id": str(rows[0]["triage_id"]), "channel": str(rows[0]["channel"]), "ts": str(rows[0]["ts"])}

    def user_cards(self, user: str, limit: int = 10) -> list[dict[str, Any]]:
        rows = self._rows(
            "select t.id, t.created_at, t.severity, t.category, t.result, p.channel, p.ts from triages t"
            " left join posts p on p.triage_id = t.id"
            " where t.id in (select triage_id from posts where requested_by = %s"
            " union select triage_id from feedback where \"user\" = %s)"
            " order by t.created_at desc limit %s",
            (user, user, limit),
        )
        return [
            {"triage_id": r["id"], "created_at": r["created_at"], "severity": r["severity"], "category": r["category"],
             "summary": card_summary(r["result"]), "channel": r["channel"], "ts": r["ts"]}
            for r in rows
        ]

    def open_incidents(self, since: float, limit: int = 10) -> list[Incident]:
        return self._incidents(
            f"select {_INCIDENT_COLUMNS} from incidents where resolved = 0 and card_ts is not null"
            " and last_seen >= %s order by last_seen desc limit %s",
            (since, limit),
        )
