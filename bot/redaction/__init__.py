"""Secret redaction: mask credentials before text leaves the process, reaches a log or is stored.

`redact(text)` runs the block maskers (private keys, JWTs, Kubernetes Secrets), then every rule in the
order below, each gated by its cheap hints: provider formats first, then what protocols and command lines
carry, named values, and last the secrets told in prose.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.redaction.assignments import ASSIGNMENT_RULES
from bot.redaction.credentials import CREDENTIAL_RULES
from bot.redaction.jwt import mask_jwts
from bot.redaction.keys import mask_private_keys, mask_putty
from bot.redaction.kubernetes import mask_secret_data
from bot.redaction.prose import PROSE_RULES
from bot.redaction.providers import PROVIDER_RULES
from bot.redaction.rule import Rule
from bot.redaction.words import FOREIGN

__all__ = ["redact"]

_RULES: tuple[Rule, ...] = PROVIDER_RULES + CREDENTIAL_RULES + ASSIGNMENT_RULES + PROSE_RULES
_TRAILING = ".,;:!?)]}"


def _replacer(rule: Rule, found: list[int]) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        whole = match.group(0)
        name = next((n for n in match.re.groupindex if n.startswith("v") and match.group(n) is not None), None)
        if name is None:  # the whole match is the secret
            found[0] += 1
            return f"[REDACTED:{rule.kind}]"
        start, end = match.span(name)
        value = match.group(name)
        if name.endswith("b"):  # a bare value: sentence punctuation after it is not part of it
            kept = value.rstrip(_TRAILING)
            end -= len(value) - len(kept)
            value = kept
        if not value or (rule.accept is not None and not rule.accept(value)):
            return whole
        found[0] += 1
        offset = match.start()
        return f"{whole[: start - offset]}[REDACTED:{rule.kind}]{whole[end - offset :]}"

    return replace


def redact(text: str) -> tuple[str, list[str]]:
    """Return the text with secrets masked and the sorted kinds that were found."""
    kinds: set[str] = set()
    for kind, masker in (
        ("private_key", mask_private_keys),
        ("private_key", mask_putty),
        ("jwt", mask_jwts),
        ("secret_data", mask_secret_data),
    ):
        text, masked = masker(text)
        if masked:
            kinds.add(kind)
    lowered = text.lower()
    foreign = FOREIGN.search(lowered) is not None
    for rule in _RULES:
        if rule.hints and not (rule.foreign and foreign) and not any(hint in lowered for hint in rule.hints):
            continue
        found = [0]
        replaced = rule.pattern.sub(_replacer(rule, found), text)
        if found[0]:
            kinds.add(rule.kind)
            text = replaced
            lowered = text.lower()
    return text, sorted(kinds)
