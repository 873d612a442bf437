"""The pure front of the pipeline: normalise, redact, identify and pre-screen an input, once."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import structlog

from bot.card import TriageCard
from bot.context.subject import Facts, facts_from_reading
from bot.identity import fingerprint as text_fingerprint
from bot.identity.identifier import IdentityKey, identity_key
from bot.reading import Link, Read, Reading, read
from bot.redaction import redact
from bot.triage.evidence import Evidence
from bot.triage.heuristics import analyse, card_of
from bot.triage.normalize import normalize, truncate

# Redaction reads this many times the kept size before the text is cut to size: a secret whose start falls
# in the part truncation drops (a PEM block's BEGIN line) is still recognised and masked in what is kept.
REDACT_SPAN = 4
log = structlog.get_logger()


@dataclass(frozen=True)
class Redacted:
    """An input cleaned, redacted, then cut to size (in that order)."""

    text: str
    kinds: list[str]
    truncated: bool
    digest: str


def redacted_text(raw: str | bytes, max_chars: int) -> Redacted:
    """Normalise, redact, then truncate: every copy of the text made from here on is already redacted."""
    norm = normalize(raw, max(max_chars, 1) * REDACT_SPAN)
    text, kinds = redact(norm.text)
    truncated = norm.truncated
    if len(text) > max_chars:
        text, truncated = truncate(text, max_chars), True
        # The cut can leave a key's body without its BEGIN line: masked again on what is kept.
        text, more = redact(text)
        kinds = sorted({*kinds, *more})
    return Redacted(text, kinds, truncated, norm.digest)


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
    # identity_key(text), when worked out ahead of identification (a pure function of `text`, so not compared)
    identity: IdentityKey | None = field(default=None, compare=False, repr=False)
    # facts_of(self), worked out ahead (pure too)
    facts: Facts | None = field(default=None, compare=False, repr=False)


def cache_key(text: str, prompt_version: str, model: str, memory_tag: str = "") -> str:
    return hashlib.sha256(f"{prompt_version}\x00{model}\x00{memory_tag}\x00{text}".encode()).hexdigest()


def prepare(raw: str | bytes, max_chars: int, identify: Callable[[str], str] = text_fingerprint) -> Prepared:
    """The pure front of the pipeline: normalise, redact, identify, pre-screen."""
    return prepare_redacted(redacted_text(raw, max_chars), identify)


def prepare_redacted(clean: Redacted, identify: Callable[[str], str] = text_fingerprint) -> Prepared:
    """The front stage after `redacted_text`: identify, read and pre-screen the cleaned text."""
    text = clean.text
    # reading never fails a triage: an unknown shape is the generic reading
    try:
        taken = read(text)
        analysis = analyse(text, taken=taken)
    except Exception:  # a rule's own fault must not lose the alert: the generic card, for a person to read
        log.exception("prescreen_failed", chars=len(text))
        taken = Read(reading=Reading())
        analysis = analyse("", taken=taken)
        note = "the gateway's rules failed on this text; read it yourself"
        analysis = replace(analysis, evidence=replace(analysis.evidence, review=(*analysis.evidence.review, note)))
    return Prepared(
        text=text,
        input_hash=clean.digest,
        fingerprint=identify(text),
        truncated=clean.truncated,
        redactions=clean.kinds,
        prescreen=card_of(analysis),
        evidence=analysis.evidence,
        reading=analysis.reading,
        links=taken.links,
    )


def _no_identity(_: str) -> str:
    return ""


def prepare_unidentified(raw: str | bytes, max_chars: int) -> Prepared:
    """Everything `prepare` does that is a pure function of the input: no fingerprint yet (it is learned, in
    input order), but the identity key it will be learned from."""
    prepared = prepare(raw, max_chars, _no_identity)
    prepared.identity = identity_key(prepared.text)
    prepared.facts = facts_of(prepared)
    return prepared


def facts_of(prepared: Prepared) -> Facts:
    """The subject and links the context stage looks up, as the reading stage read them."""
    if prepared.facts is not None:
        return prepared.facts
    return facts_from_reading(prepared.text, prepared.reading, prepared.links)
