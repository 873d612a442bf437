"""Block Kit builders: the card's content, markers, actions, feedback and fallback text."""

from __future__ import annotations

import json
from typing import Any

from bot.card import TriageMeta, TriageResult
from bot.slack.actions import ACTION_CONFIRM
from bot.slack.card import card_message
from bot.slack.card_lines import context_line
from bot.slack.card_state import CardState, FeedbackNote
from bot.slack.labels import SEVERITY_EMOJI
from bot.slack.replies import error_message, notice_message, stale_action_message, usage_message


def make_result(**overrides: Any) -> TriageResult:
    meta_fields: dict[str, Any] = {
        "triage_id": "t-123",
        "engine": "model",
        "model": "gpt-4o-mini",
        "prompt_version": "v3",
        "latency_ms": 1234.0,
        "cost_usd": 0.00042,
        "fingerprint": "fp",
    }
    meta_fields.update(overrides.pop("meta", {}))
    fields: dict[str, Any] = {
        "category": "data",
        "severity": "P1",
        "summary": "Primary database replication lag above 5 minutes on db-2.",
        "steps": ["Check replica health", "Look at write load on the primary", "Fail over if lag keeps growing"],
        "confidence": 0.82,
        "meta": TriageMeta(**meta_fields),
    }
    fields.update(overrides)
    return TriageResult(**fields)


def by_type(message: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [block for block in message["blocks"] if block["type"] == kind]


def all_text(message: dict[str, Any]) -> str:
    return json.dumps(message["blocks"], ensure_ascii=False)


def test_header_puts_severity_emoji_and_category_first() -> None:
    message = card_message(make_result())
    first = message["blocks"][0]
    assert first["type"] == "header"
    assert first["text"]["text"].startswith(":red_circle: P1")
    assert "Data" in first["text"]["text"]


def test_every_severity_has_its_own_emoji() -> None:
    emojis = {SEVERITY_EMOJI[s] for s in ("P0", "P1", "P2", "P3")}
    assert len(emojis) == 4
    p0 = card_message(make_result(severity="P0"))
    assert p0["blocks"][0]["text"]["text"].startswith(":rotating_light: P0")


def test_summary_and_numbered_steps() -> None:
    message = card_message(make_result())
    sections = [b["text"]["text"] for b in by_type(message, "section")]
    assert any("replication lag" in text for text in sections)
    steps = next(text for text in sections if "Next steps" in text)
    assert "1. Check replica health" in steps
    assert "2. Look at write load on the primary" in steps
    assert "3. Fail over if lag keeps growing" in steps


def test_context_line_has_confidence_engine_model_prompt_cost_latency() -> None:
    line = context_line(make_result())
    for expected in ("82%", "engine: model", "gpt-4o-mini", "v3", "$0.0004", "1.2 s"):
        assert expected in line
    heuristic = make_result(meta={"engine": "heuristic", "model": None, "latency_ms": 3.4, "cost_usd": 0.0})
    line = context_line(heuristic)
    assert "engine: heuristic" in line and "model:" not in line and "3 ms" in line


def test_degraded_and_review_markers() -> None:
    plain = card_message(make_result())
    assert "Degraded" not in all_text(plain) and "review" not in all_text(plain)
    degraded = card_message(
        make_result(meta={"degraded": True, "degraded_reason": "model timeout", "needs_review": True})
    )
    text = all_text(degraded)
    assert "Degraded: model timeout" in text
    assert "Needs human review" in text
    assert "degraded: model timeout" in degraded["text"]
    assert "needs human review" in degraded["text"]


def test_actions_carry_the_triage_id_and_current_values() -> None:
    message = card_message(make_result())
    (actions,) = by_type(message, "actions")
    assert actions["block_id"] == "triage_actions:t-123"
    button, severity, category = actions["elements"]
    assert button["action_id"] == ACTION_CONFIRM and button["value"] == "t-123"
    assert [o["value"] for o in severity["options"]] == ["t-123|P0", "t-123|P1", "t-123|P2", "t-123|P3"]
    assert severity["initial_option"]["value"] == "t-123|P1"
    assert {o["value"] for o in category["options"]} == {
        f"t-123|{c}" for c in ("infra", "app", "data", "security", "unknown")
    }
    assert category["initial_option"]["value"] == "t-123|data"


def test_fallback_text_is_meaningful() -> None:
    text = card_message(make_result())["text"]
    assert text.startswith("P1 Data alert: Primary database replication lag")


def test_alert_text_cannot_mention_or_forge_links() -> None:
    result = make_result(summary="<!channel> disk full <http://evil|click> & more")
    message = card_message(result)
    dumped = all_text(message) + message["text"]
    assert "<!channel>" not in dumped and "<http://evil" not in dumped
    assert "&lt;!channel&gt;" in dumped and "&amp; more" in dumped


def test_feedback_variant_shows_who_did_what_and_effective_values() -> None:
    state = CardState(
        feedback=(
            FeedbackNote("U1", "confirm"),
            FeedbackNote("U2", "severity", "P1", "P0"),
            FeedbackNote("U2", "category", "data", "infra"),
        )
    )
    message = card_message(make_result(), state)
    context = by_type(message, "context")[-1]
    lines = [element["text"] for element in context["elements"]]
    assert lines == [
        ":white_check_mark: Confirmed by <@U1>",
        ":pencil2: Severity changed P1 → P0 by <@U2>",
        ":pencil2: Category changed data → infra by <@U2>",
    ]
    assert message["blocks"][0]["text"]["text"].startswith(":rotating_light: P0")
    (actions,) = by_type(message, "actions")
    assert actions["elements"][1]["initial_option"]["value"] == "t-123|P0"
    # The fallback text names the latest verdict only, however many there were.
    assert message["text"].endswith("category changed data→infra by <@U2> (+2 earlier)")
    assert message["text"].startswith("P0 Infrastructure alert:")


def test_many_feedback_notes_fit_one_context_block() -> None:
    notes = tuple(FeedbackNote(f"U{i}", "confirm") for i in range(25))
    context = by_type(card_message(make_result(), CardState(feedback=notes)), "context")[-1]
    assert len(context["elements"]) == 10
    assert context["elements"][0]["text"] == "…and 16 earlier"
    assert context["elements"][-1]["text"].endswith("<@U24>")


def test_storm_extras_counter_resolved_updated_by_model() -> None:
    state = CardState(seen_count=37, last_seen=1_700_000_000.0, resolved=True, updated_by_model=True)
    message = card_message(make_result(), state)
    text = all_text(message)
    assert "Seen 37 times, last <!date^1700000000^{time}|22:13 UTC>" in text
    assert "Resolved" in text and "Updated by model" in text
    assert message["blocks"][0]["text"]["text"].endswith("· resolved")
    assert "seen 37 times" in message["text"] and "resolved" in message["text"]


def test_block_kit_limits_hold() -> None:
    long = make_result(summary="\n".join(["x" * 200] * 2), steps=["a" * 200, "b" * 200, "c" * 200])
    message = card_message(long, CardState(feedback=tuple(FeedbackNote("U1", "confirm") for _ in range(40))))
    assert len(message["blocks"]) <= 50
    assert len(message["blocks"][0]["text"]["text"]) <= 150
    for block in message["blocks"]:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
        if block["type"] == "context":
            assert len(block["elements"]) <= 10
        if block["type"] == "actions":
            for element in block["elements"]:
                for option in element.get("options", []):
                    assert len(option["value"]) <= 150 and len(option["text"]["text"]) <= 75


def test_replies_have_text_and_blocks() -> None:
    for message in (
        usage_message(),
        stale_action_message(),
        error_message("empty input"),
        notice_message("hello <there>"),
    ):
        assert message["text"].strip()
        assert message["blocks"] and message["blocks"][0]["type"] == "section"
    assert "/triage" in usage_message()["text"]
    assert notice_message("a <b>")["blocks"][0]["text"]["text"] == "a &lt;b&gt;"


def test_long_escaped_text_is_cut_without_splitting_an_entity() -> None:
    from bot.slack.mrkdwn import fit

    text = "a" * 2996 + "&amp;&amp;"
    cut = fit(text, 3000)
    assert len(cut) <= 3000 and cut.endswith("a…") and "&am…" not in cut
    assert fit("short &amp; fine", 3000) == "short &amp; fine"
