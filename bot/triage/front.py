"""The pure front of the pipeline: normalise, redact, identify and pre-screen an input, once."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from bot.card import TriageCard
from bot.identity import fingerprint as text_fingerprint
from bot.reading import Link, Reading, read
from bot.triage.evidence import Evidence
from bot.triage.heuristics import analyse, card_of
from bot.triage.normalize import normalize
from bot.triage.redact import redact


@dataclass
class Prepared:
    """What the pure stages make of an input before any engine runs."""

    text: str
    input_hash: str
    fingerprint: str
    truncated: bool
    redactions: list[str]
    prescreen: TriageCard
    evidence: Evidence
    reading: Reading | None = None
    links: tuple[Link, ...] = ()


def cache_key(text: str, prompt_version: str, model: str, memory_tag: str = "") -> str:
    return hashlib.sha256(f"{prompt_version}\x00{model}\x00{memory_tag}\x00{text}".encode()).hexdigest()


def prepare(raw: str | bytes, max_chars: int, identify: Callable[[str], str] = text_fingerprint) -> Prepared:
    """The pure front of the pipeline: normalise, redact, identify, pre-screen."""
    norm = normalize(raw, max_chars)
    text, kinds = redact(norm.text)
    # reading never fails a triage: an unknown shape is the generic reading
    taken = read(text)
    analysis = analyse(text, taken=taken)
    return Prepared(
        text=text,
        input_hash=norm.digest,
        fingerprint=identify(text),
        truncated=norm.truncated,
        redactions=kinds,
        prescreen=card_of(analysis),
        evidence=analysis.evidence,
        reading=analysis.reading,
        links=taken.links,
    )
