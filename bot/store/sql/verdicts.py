"""Feedback on cards, and the verdict each card's feedback folds into (the precedent of its identity)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam as B
from sqlalchemy import delete, func, or_, select, update

from bot.card import TriageResult
from bot.memory.verdicts import fold_verdict
from bot.store.dialects import Tx
from bot.store.schema import feedback, triages, verdicts
from bot.store.sql.core import StoreCore
from bot.store.sql.rows import VERDICT, verdict_from


class Verdicts(StoreCore):
    """A verdict is folded from a card's feedback rows whenever one is stored, in the same transaction, so
    precedents need no extra call from the Slack or HTTP paths."""

    # --- feedback ------------------------------------------------------------------------------

    def record_feedback(
        self, triage_id: str, user: str, action: str, old_value: str | None, new_value: str | None,
        origin: str = "slack",
    ) -> bool:
        """Store one click; False when the same user already made the same choice (idempotent).

        `origin` says where it came from: "slack" (a click), "http" or "mcp" (a verdict by name).
        """
        with self._tx() as tx:
            same = tx.one(self.q(lambda: select(feedback.c.id).where(
                feedback.c.triage_id == B("triage"), feedback.c.user == B("who"), feedback.c.action == B("what"),
                func.coalesce(feedback.c.new_value, "") == B("value"),
            ).limit(1)), triage=triage_id, who=user, what=action, value=new_value or "")
            if same is not None:
                return False
            raw = tx.scalar(self.q(lambda: select(triages.c.result).where(triages.c.id == B("triage"))),
                            triage=triage_id)
            meta = TriageResult.model_validate_json(raw).meta if raw is not None else None
            # The unique index settles two replicas storing the same click at the same moment.
            inserted = tx.one(self.q(
                lambda: self.dialect.insert(feedback).on_conflict_do_nothing().returning(feedback.c.id),
                keys=("triage_id", "user", "action", "old_value", "new_value", "created_at", "model",
                      "prompt_version", "engine", "origin"),
            ), triage_id=triage_id, user=user, action=action, old_value=old_value, new_value=new_value, origin=origin,
                created_at=self._clock(), model=meta.model if meta else None,
                prompt_version=meta.prompt_version if meta else None, engine=meta.engine if meta else None)
            if inserted is None:
                return False
            # In the same transaction: the card's verdict becomes the precedent of its incident identity.
            self._refresh_verdict(tx, triage_id)
            return True

    def feedback_for(self, triage_id: str) -> list[dict[str, Any]]:
        with self._read() as tx:
            return tx.dicts(self.q(
                lambda: select(feedback).where(feedback.c.triage_id == B("triage")).order_by(feedback.c.id)
            ), triage=triage_id)

    def feedback_rows(self, since: float = 0.0) -> list[dict[str, Any]]:
        with self._read() as tx:
            return tx.dicts(self.q(
                lambda: select(feedback).where(feedback.c.created_at >= B("since")).order_by(feedback.c.id)
            ), since=since)

    def repair_verdicts(self) -> None:
        """Fold feedback that has no verdict yet: stored before verdicts existed, or cut off by a crash."""
        with self._tx() as tx:
            stale = tx.rows(self.q(
                lambda: select(feedback.c.triage_id).distinct()
                .outerjoin(verdicts, verdicts.c.triage_id == feedback.c.triage_id)
                .where(or_(verdicts.c.triage_id.is_(None), feedback.c.created_at > verdicts.c.judged_at))
            ))
            for (triage_id,) in stale:
                self._refresh_verdict(tx, triage_id)

    def _refresh_verdict(self, tx: Tx, triage_id: str) -> None:
        self._any_verdict = None
        card = tx.one(self.q(
            lambda: select(triages.c.fingerprint, triages.c.severity, triages.c.category)
            .where(triages.c.id == B("triage"))
        ), triage=triage_id)
        if card is None:
            return
        rows = tx.dicts(self.q(
            lambda: select(feedback.c.action, feedback.c.user, feedback.c.new_value, feedback.c.created_at,
                           feedback.c.origin)
            .where(feedback.c.triage_id == B("triage")).order_by(feedback.c.id)
        ), triage=triage_id)
        folded = fold_verdict(card[1], card[2], rows)
        if folded is None:
            tx.run(self.q(lambda: delete(verdicts).where(verdicts.c.triage_id == B("triage"))), triage=triage_id)
            return

        def upsert() -> Any:
            stmt = self.dialect.insert(verdicts)
            return stmt.on_conflict_do_update(
                index_elements=[verdicts.c.triage_id],
                set_={k: stmt.excluded[k] for k in ("fingerprint", "verdict", "severity", "category", "judged_by",
                                                     "judged_at", "judged_origin")},
            )

        tx.run(self.q(upsert, keys=("triage_id", "fingerprint", "verdict", "severity", "category", "judged_by",
                                    "judged_at", "judged_origin")),
               triage_id=triage_id, fingerprint=card[0], verdict=folded.verdict, severity=folded.severity,
               category=folded.category, judged_by=folded.by, judged_at=folded.at, judged_origin=folded.origin)

    def set_verdict_link(self, triage_id: str, link: str) -> None:
        """Remember the permalink of a judged card (asked of Slack once, shown on every later card)."""
        with self._tx() as tx:
            tx.run(self.q(lambda: update(verdicts).where(verdicts.c.triage_id == B("triage"))
                          .values(link=B("permalink"))), triage=triage_id, permalink=link)

    def verdict_of(self, triage_id: str) -> dict[str, Any] | None:
        """The standing verdict on one card: triage_id, verdict, severity, category, by, at, fingerprint."""
        with self._read() as tx:
            row = tx.one(self.q(lambda: select(*VERDICT).where(verdicts.c.triage_id == B("triage"))),
                         triage=triage_id)
        return verdict_from(row) if row else None

    def verdict_link(self, triage_id: str) -> str | None:
        with self._read() as tx:
            link = tx.scalar(self.q(lambda: select(verdicts.c.link).where(verdicts.c.triage_id == B("triage"))),
                             triage=triage_id)
        return str(link) if link else None
