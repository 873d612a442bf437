"""Requests aimed at the triage system inside alert text: found, removed from the evidence, and reported."""

from __future__ import annotations

import re

# A sentence is a request to the triager, not a fact about the system, when it tells the reader how
# to classify, asks it to ignore its rules, or addresses it as an assistant. Alerts state facts
# ("disk is 91 % full", "severity=critical" in a label set); none of these shapes is a fact.
_REQUEST = re.compile(
    r"(?i)\b(?:ignore|disregard|forget|override)\b[^.!?\n]{0,40}?\b(?:instructions?|prompts?|rules?|guidelines"
    r"|above|previous|prior|earlier|system)\b"
    r"|\b(?:mark|classify|label|treat|rate|tag|flag|triage|categori[sz]e|report|file|set|consider|downgrade"
    r"|lower|raise|escalate|make)\b[^.!?\n]{0,30}?\b(?:as|to|this|it|severity|priority|category)\b[^.!?\n]{0,30}?"
    r"(?<![\w-])(?:p[0-5]|sev[ -]?[0-5]|low|lowest|info|informational|minor|trivial|unknown|benign|not urgent"
    r"|noise|critical|high|urgent)(?![\w-])"
    r"|\b(?:you are|you're|act as|pretend)\b[^.!?\n]{0,30}?\b(?:now|an?|the)\b[^.!?\n]{0,30}?\b(?:mode|assistant|bot"
    r"|ai|model|triager)\b"
    r"|\b(?:assistant|system|ai|bot)\s*:\s"
    r"|\bnote to (?:the )?(?:triage |on-call )?(?:bot|ai|assistant|model|llm|system|triager)\b"
    r"|\b(?:respond|reply|answer|output)\b[^.!?\n]{0,20}?\b(?:with|that|only)\b"
    r"|\b(?:new|updated|real) instructions?\b|\bsystem prompt\b"
)
# Gradings a machine's text has no reason to carry, but a person's message does ("not urgent-urgent but the
# backups haven't landed"): requests in an alert, the writer's own words in a ticket or a chat.
_GRADING = re.compile(r"(?i)\bno action (?:is )?(?:needed|required)\b|\bnot urgent\b"
                      r"|\bdo not (?:escalate|page|alert)\b")
# Sentences end at . ! ? followed by a blank, or at a line end; bounded so any input stays linear.
_SENTENCE = re.compile(r"(?:[^.!?\n]|[.!?](?!\s|$)){0,2000}(?:[.!?]+(?=\s|$)|\n|$)")


def _addresses_triager(sentence: str, person: bool) -> bool:
    return _REQUEST.search(sentence) is not None or (not person and _GRADING.search(sentence) is not None)


def strip_requests(text: str, *, person: bool = False) -> tuple[str, int]:
    """The text without sentences that address the triager, and how many were removed.

    `person`: the text is a person's ticket or message, whose own grading ("not urgent") is kept."""
    if not _addresses_triager(text, person):
        return text, 0
    kept: list[str] = []
    removed = 0
    for match in _SENTENCE.finditer(text):
        sentence = match.group(0)
        if not sentence:
            continue
        if _addresses_triager(sentence, person):
            removed += 1
            if sentence.endswith("\n"):
                kept.append("\n")
            continue
        kept.append(sentence)
    return "".join(kept), removed
