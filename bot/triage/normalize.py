"""Input normalisation: decode safely, clean control characters, cap size keeping head and tail."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass

from bot.triage.errors import InputError, InputTooLarge

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BLANK_RUNS = re.compile(r"\n{3,}")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")

# Anything this large is refused outright rather than truncated.
HARD_LIMIT_CHARS = 2_000_000


@dataclass(frozen=True)
class Normalized:
    text: str
    truncated: bool
    original_chars: int

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def decode(raw: str | bytes) -> str:
    """Bytes become text without ever failing: invalid UTF-8 turns into U+FFFD."""
    if isinstance(raw, bytes):
        return raw.decode("utf-8", errors="replace")
    # A str may still carry lone surrogates (from JSON escapes); make it encodable.
    return raw.encode("utf-8", errors="replace").decode("utf-8")


def normalize(raw: str | bytes, max_chars: int) -> Normalized:
    """Clean text for triage; raise InputError when nothing is left to triage."""
    if isinstance(raw, (str, bytes)) and len(raw) > HARD_LIMIT_CHARS:
        raise InputTooLarge(f"input is {len(raw)} characters; the limit is {HARD_LIMIT_CHARS}")
    text = decode(raw)
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _CONTROL.sub("", text).replace("\t", "  ")
    text = _TRAILING_SPACE.sub("\n", text)
    text = _BLANK_RUNS.sub("\n\n", text).strip()
    if not text:
        raise InputError("text is empty: send the alert, log excerpt or ticket to triage")
    original = len(text)
    if original <= max_chars:
        return Normalized(text, truncated=False, original_chars=original)
    return Normalized(truncate(text, max_chars), truncated=True, original_chars=original)


def truncate(text: str, max_chars: int) -> str:
    """Keep the head (where alerts state what fired) and the tail (where traces end), mark the cut."""
    dropped = len(text) - max_chars
    marker = f"\n[... {dropped} characters truncated ...]\n"
    budget = max(max_chars - len(marker), 2)
    head = budget * 2 // 3
    tail = budget - head
    return text[:head] + marker + text[-tail:]
