"""The agreement report: how often humans confirmed or corrected the cards, per model and prompt version."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from bot.card import SEVERITIES
from bot.evals.cases import percentile
from bot.settings import Settings
from bot.store import Store, open_store

OVERRIDE_ACTIONS = ("severity", "category")


@dataclass
class Verdict:
    """What the humans made of one card: the original labels and the labels after their corrections."""

    severity: str
    category: str
    final_severity: str
    final_category: str
    confirmed: bool

    @property
    def overridden(self) -> bool:
        return (self.severity, self.category) != (self.final_severity, self.final_category)


@dataclass
class Group:
    """The tally for one (model, prompt version)."""

    model: str
    prompt_version: str
    cards: int = 0
    confirmed: int = 0
    overridden: int = 0
    severity_confusion: Counter[tuple[str, str]] = field(default_factory=Counter)
    category_confusion: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def agreement(self) -> float | None:
        judged = self.confirmed + self.overridden
        return round(self.confirmed / judged, 4) if judged else None

    def add(self, verdict: Verdict | None) -> None:
        self.cards += 1
        if verdict is None:
            return
        if verdict.overridden:
            self.overridden += 1
            if verdict.severity != verdict.final_severity:
                self.severity_confusion[(verdict.severity, verdict.final_severity)] += 1
            if verdict.category != verdict.final_category:
                self.category_confusion[(verdict.category, verdict.final_category)] += 1
        elif verdict.confirmed:
            self.confirmed += 1


def verdict(triage: Mapping[str, Any], feedback: Iterable[Mapping[str, Any]]) -> Verdict | None:
    """Fold one card's feedback (oldest first): the latest override of each label wins."""
    severity, category = str(triage["severity"]), str(triage["category"])
    final_severity, final_category, confirmed, judged = severity, category, False, False
    for row in feedback:
        action, new = row.get("action"), row.get("new_value")
        if action == "confirm":
            confirmed = judged = True
        elif action == "severity" and new:
            final_severity, judged = str(new), True
        elif action == "category" and new:
            final_category, judged = str(new), True
    if not judged:
        return None
    return Verdict(severity, category, final_severity, final_category, confirmed)


def aggregate(
    triages: Iterable[Mapping[str, Any]],
    feedback: Iterable[Mapping[str, Any]],
    posted: Iterable[str] = (),
) -> list[Group]:
    """Cards are triages posted to Slack, answered to /triage, or given feedback; grouped and tallied."""
    by_triage: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in sorted(feedback, key=lambda r: (r.get("created_at") or 0, r.get("id") or 0)):
        by_triage[str(row["triage_id"])].append(row)
    shown = set(posted)
    groups: dict[tuple[str, str], Group] = {}
    for triage in triages:
        triage_id = str(triage["id"])
        is_card = triage_id in shown or triage_id in by_triage or str(triage.get("source") or "").startswith("slack:")
        if not is_card:
            continue
        model = str(triage.get("model") or triage.get("engine") or "unknown")
        prompt = str(triage.get("prompt_version") or "unknown")
        group = groups.setdefault((model, prompt), Group(model, prompt))
        group.add(verdict(triage, by_triage.get(triage_id, [])))
    return sorted(groups.values(), key=lambda g: (-g.cards, g.model, g.prompt_version))


def report_json(groups: list[Group], since: float | None = None) -> dict[str, Any]:
    cards = sum(g.cards for g in groups)
    confirmed = sum(g.confirmed for g in groups)
    overridden = sum(g.overridden for g in groups)
    judged = confirmed + overridden
    return {
        "since": since,
        "cards": cards,
        "confirmed": confirmed,
        "overridden": overridden,
        "agreement": round(confirmed / judged, 4) if judged else None,
        "groups": [
            {
                "model": g.model,
                "prompt_version": g.prompt_version,
                "cards": g.cards,
                "confirmed": g.confirmed,
                "overridden": g.overridden,
                "agreement": g.agreement,
                "severity_confusion": _nested(g.severity_confusion),
                "category_confusion": _nested(g.category_confusion),
            }
            for g in groups
        ],
    }


def render_text(report: Mapping[str, Any]) -> str:
    lines = [
        f"{'model':<24} {'prompt':<12} {'cards':>6} {'confirmed':>9} {'overridden':>10} {'agreement':>9}",
    ]
    for g in report["groups"]:
        lines.append(
            f"{g['model'][:24]:<24} {g['prompt_version'][:12]:<12} {g['cards']:>6} {g['confirmed']:>9} "
            f"{g['overridden']:>10} {_percent(g['agreement']):>9}"
        )
        for title, key in (("severity", "severity_confusion"), ("category", "category_confusion")):
            pairs = [f"{old}→{new} ×{n}" for old, news in g[key].items() for new, n in news.items()]
            if pairs:
                lines.append(f"    {title} changed: " + ", ".join(pairs))
    lines.append(
        f"{'all':<37} {report['cards']:>6} {report['confirmed']:>9} {report['overridden']:>10} "
        f"{_percent(report['agreement']):>9}"
    )
    if not report["groups"]:
        lines.append("no cards yet: agreement appears once people Confirm or correct cards in Slack")
    if report.get("versions"):
        lines.append("")
        lines.append("versions on the same judged cards (agreement = the people's verdict equals the answer):")
        lines.append(
            f"{'role':<7}{'model':<22} {'prompt':<18} {'judged':>6} {'severity':>8} {'category':>8} {'both':>6}"
            f" {'drift +/-':>9} {'$/card':>9} {'p50 ms':>8}"
        )
        for v in report["versions"]:
            drift = f"{v['drift']['more_severe']}/{v['drift']['less_severe']}"
            cost = "-" if v["cost_usd_per_card"] is None else f"{v['cost_usd_per_card']:.5f}"
            latency = "-" if v["latency_ms_p50"] is None else f"{v['latency_ms_p50']:.0f}"
            lines.append(
                f"{v['role']:<7}{v['model'][:22]:<22} {v['prompt_version'][:18]:<18} {v['judged']:>6}"
                f" {_percent(v['agreement_severity']):>8} {_percent(v['agreement_category']):>8}"
                f" {_percent(v['agreement']):>6} {drift:>9} {cost:>9} {latency:>8}"
            )
    return "\n".join(lines)


# --- versions side by side on the same judged cards -----------------------------------------------------
@dataclass(frozen=True)
class JudgedCard:
    """A card people judged: what the live version answered and what the people settled on."""

    triage_id: str
    created_at: float
    fingerprint: str
    text: str
    model: str
    prompt_version: str
    severity: str
    category: str
    cost_usd: float
    latency_ms: float
    human_severity: str
    human_category: str


@dataclass(frozen=True)
class Answer:
    """One version's answer to a judged card (the live card itself, or a shadow run's)."""

    card: JudgedCard
    role: str
    model: str
    prompt_version: str
    severity: str
    category: str
    cost_usd: float
    latency_ms: float


def judged_cards(triages: Iterable[Mapping[str, Any]], feedback: Iterable[Mapping[str, Any]]) -> list[JudgedCard]:
    """The cards with a human verdict (a card given feedback is a card, see `aggregate`), oldest first."""
    by_triage: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in sorted(feedback, key=lambda r: (r.get("created_at") or 0, r.get("id") or 0)):
        by_triage[str(row["triage_id"])].append(row)
    cards: list[JudgedCard] = []
    for triage in triages:
        triage_id = str(triage["id"])
        if triage_id not in by_triage:
            continue
        judged = verdict(triage, by_triage[triage_id])
        if judged is None:
            continue
        cards.append(
            JudgedCard(
                triage_id=triage_id,
                created_at=float(triage.get("created_at") or 0.0),
                fingerprint=str(triage.get("fingerprint") or ""),
                text=str(triage.get("text") or ""),
                model=str(triage.get("model") or triage.get("engine") or "unknown"),
                prompt_version=str(triage.get("prompt_version") or "unknown"),
                severity=judged.severity,
                category=judged.category,
                cost_usd=float(triage.get("cost_usd") or 0.0),
                latency_ms=float(triage.get("latency_ms") or 0.0),
                human_severity=judged.final_severity,
                human_category=judged.final_category,
            )
        )
    cards.sort(key=lambda card: (card.created_at, card.triage_id))
    return cards


def answers(cards: Sequence[JudgedCard], shadows: Iterable[Mapping[str, Any]]) -> list[Answer]:
    """Every version's answer on the same judged cards.

    With shadow results, the live answers are those of the judged cards a candidate also answered, so live and
    shadow are scored on exactly the same cards; without any, every judged card counts for the live versions.
    """
    by_id = {card.triage_id: card for card in cards}
    shadow_answers = [
        Answer(
            card=by_id[str(row["triage_id"])],
            role="shadow",
            model=str(row.get("model") or "unknown"),
            prompt_version=str(row.get("prompt_version") or "unknown"),
            severity=str(row["severity"]),
            category=str(row.get("category") or "unknown"),
            cost_usd=float(row.get("cost_usd") or 0.0),
            latency_ms=float(row.get("latency_ms") or 0.0),
        )
        for row in shadows
        if str(row.get("triage_id")) in by_id and row.get("severity") and not row.get("error")
    ]
    shadowed = {answer.card.triage_id for answer in shadow_answers}
    live = [
        Answer(card, "live", card.model, card.prompt_version, card.severity, card.category, card.cost_usd,
               card.latency_ms)
        for card in cards
        if not shadowed or card.triage_id in shadowed
    ]
    return live + shadow_answers


def _levels(severity: str, human: str) -> int:
    """How many levels more severe than the people's verdict (P2 answered, P1 judged = -1)."""
    if severity not in SEVERITIES or human not in SEVERITIES:
        return 0
    return SEVERITIES.index(human) - SEVERITIES.index(severity)


def _share(count: int, total: int) -> float | None:
    return round(count / total, 4) if total else None


def _agrees(answer: Answer) -> bool:
    return answer.severity == answer.card.human_severity and answer.category == answer.card.human_category


def version_figures(items: Sequence[Answer], live_by_id: Mapping[str, Answer] | None = None) -> dict[str, Any]:
    """Agreement with the people, severity drift, cost and latency of one version's answers."""
    judged = len(items)
    levels = [_levels(a.severity, a.card.human_severity) for a in items]
    by_levels = Counter(level for level in levels if level)
    drift: dict[str, Any] = {
        "more_severe": sum(1 for level in levels if level > 0),
        "less_severe": sum(1 for level in levels if level < 0),
        "mean_levels": round(sum(levels) / judged, 4) if judged else 0.0,
        "by_levels": {f"{level:+d}": by_levels[level] for level in sorted(by_levels, reverse=True)},
    }
    if live_by_id is not None:
        moved = [a for a in items if a.card.triage_id in live_by_id
                 and live_by_id[a.card.triage_id].severity != a.severity]
        drift["moved_from_live"] = len(moved)
        drift["moved_from_live_share"] = _share(len(moved), judged)
    return {
        "judged": judged,
        "agreement_severity": _share(sum(a.severity == a.card.human_severity for a in items), judged),
        "agreement_category": _share(sum(a.category == a.card.human_category for a in items), judged),
        "agreement": _share(sum(_agrees(a) for a in items), judged),
        "drift": drift,
        "cost_usd_per_card": round(sum(a.cost_usd for a in items) / judged, 8) if judged else None,
        "latency_ms_p50": round(percentile([a.latency_ms for a in items], 50), 3) if judged else None,
    }


def versions(all_answers: Sequence[Answer]) -> list[dict[str, Any]]:
    """One entry per (role, model, prompt version): live versions first, then the candidates."""
    grouped: dict[tuple[str, str, str], list[Answer]] = defaultdict(list)
    for answer in all_answers:
        grouped[(answer.role, answer.model, answer.prompt_version)].append(answer)
    live_by_id = {a.card.triage_id: a for a in all_answers if a.role == "live"}
    out = []
    for (role, model, prompt), items in sorted(grouped.items(), key=lambda kv: (kv[0][0] != "live", kv[0])):
        entry: dict[str, Any] = {"model": model, "prompt_version": prompt, "role": role}
        entry.update(version_figures(items, live_by_id if role == "shadow" else None))
        out.append(entry)
    return out


# --- the dashboard's figures ------------------------------------------------------------------------
def _day(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d")


def timeline(all_answers: Sequence[Answer]) -> list[dict[str, Any]]:
    """Agreement per day (of the card) for every version: the people's verdict equals the answer."""
    grouped: dict[tuple[str, str, str, str], list[Answer]] = defaultdict(list)
    for answer in all_answers:
        grouped[(_day(answer.card.created_at), answer.role, answer.model, answer.prompt_version)].append(answer)
    return [
        {"day": day, "role": role, "model": model, "prompt_version": prompt, "judged": len(items),
         "agreement": _share(sum(_agrees(a) for a in items), len(items))}
        for (day, role, model, prompt), items in sorted(grouped.items())
    ]


def severity_matrix(cards: Sequence[JudgedCard]) -> dict[str, dict[str, int]]:
    """card severity -> human severity -> judged cards (every label present, zeros included)."""
    matrix = {card: dict.fromkeys(SEVERITIES, 0) for card in SEVERITIES}
    for card in cards:
        if card.severity in matrix and card.human_severity in SEVERITIES:
            matrix[card.severity][card.human_severity] += 1
    return matrix


def overridden_identities(cards: Sequence[JudgedCard], limit: int = 10) -> list[dict[str, Any]]:
    """The alert identities whose cards people corrected most often, each with an example text."""
    grouped: dict[str, list[JudgedCard]] = defaultdict(list)
    for card in cards:
        grouped[card.fingerprint or card.triage_id].append(card)
    rows: list[dict[str, Any]] = []
    for fingerprint, items in grouped.items():
        overridden = [c for c in items if (c.severity, c.category) != (c.human_severity, c.human_category)]
        if not overridden:
            continue
        latest = overridden[-1]
        rows.append({
            "fingerprint": fingerprint,
            "judged": len(items),
            "overridden": len(overridden),
            "card": f"{latest.severity}/{latest.category}",
            "human": f"{latest.human_severity}/{latest.human_category}",
            "example": latest.text[:300],
        })
    rows.sort(key=lambda row: (-row["overridden"], -row["judged"], row["fingerprint"]))
    return rows[:limit]


def cost_per_day(triages: Iterable[Mapping[str, Any]], shadows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Estimated spend per UTC day: every live triage, and the candidate's shadow runs apart."""
    live: dict[str, float] = defaultdict(float)
    shadow: dict[str, float] = defaultdict(float)
    for row in triages:
        live[_day(float(row.get("created_at") or 0.0))] += float(row.get("cost_usd") or 0.0)
    for row in shadows:
        shadow[_day(float(row.get("created_at") or 0.0))] += float(row.get("cost_usd") or 0.0)
    return [
        {"day": day, "live_usd": round(live[day], 6), "shadow_usd": round(shadow[day], 6)}
        for day in sorted(live.keys() | shadow.keys())
    ]


def full_report(
    triages: Sequence[Mapping[str, Any]],
    feedback: Sequence[Mapping[str, Any]],
    posted: Iterable[str],
    shadows: Sequence[Mapping[str, Any]],
    since: float | None = None,
) -> dict[str, Any]:
    """The agreement report plus versions side by side and the dashboard's figures (pure)."""
    report = report_json(aggregate(triages, feedback, posted), since)
    cards = judged_cards(triages, feedback)
    both = answers(cards, shadows)
    report["versions"] = versions(both)
    # Over time the live versions count every judged card (their history is older than any candidate's).
    report["timeline"] = timeline(answers(cards, []) + [a for a in both if a.role == "shadow"])
    report["severity_matrix"] = severity_matrix(cards)
    report["overridden_identities"] = overridden_identities(cards)
    report["cost_per_day"] = cost_per_day(triages, shadows)
    report["shadow_runs"] = {"recorded": len(shadows), "errors": sum(1 for row in shadows if row.get("error"))}
    return report


def read_report(store: Store, since: float) -> dict[str, Any]:
    """Everything the report and the dashboard need, read from the store."""
    return full_report(
        store.triage_rows(since), store.feedback_rows(since), store.posted_ids(since), store.shadow_rows(since)
    )


def run_report(
    settings: Settings,
    *,
    days: float | None,
    as_json: bool,
    out: TextIO,
    now: float | None = None,
    html: str | None = None,
    eval_run: Mapping[str, Any] | None = None,
) -> int:
    """`triage-bot report [--json] [--since DAYS] [--html FILE] [--eval RUN]`."""
    since = ((now if now is not None else time.time()) - days * 86400) if days is not None else 0.0
    store = open_store(settings.db_path, settings.database_url)
    try:
        report = read_report(store, since)
    finally:
        store.close()
    report["since"] = since if days is not None else None
    if html is not None:
        from bot.dashboard import dashboard_page

        target = Path(html)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(dashboard_page(report, eval_run=eval_run), encoding="utf-8")
    out.write((json.dumps(report, indent=2) if as_json else render_text(report)) + "\n")
    if html is not None and not as_json:
        out.write(f"wrote {html}\n")
    return 0


def _nested(counter: Counter[tuple[str, str]]) -> dict[str, dict[str, int]]:
    nested: dict[str, dict[str, int]] = defaultdict(dict)
    for (old, new), count in sorted(counter.items()):
        nested[old][new] = count
    return dict(nested)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"
