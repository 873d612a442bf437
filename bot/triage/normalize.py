"""Input normalisation: decode safely, clean control, ANSI and bidi characters, cap size keeping head and tail."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass

from bot.triage.errors import InputError, InputTooLarge

# Every pattern here is a single character class or a fixed run: linear on any input, no backtracking.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BLANK_RUNS = re.compile(r"\n{3,}")
# Terminal colour and cursor codes from copied console output (CSI, OSC, two-byte escapes): removed
# whole, or their parameters ("[31m") would stay behind once the ESC byte is dropped.
_ANSI = re.compile(
    r"\x1b(?:\[[0-?]{0,32}[ -/]{0,8}[@-~]|\][^\x07\x1b]{0,1024}(?:\x07|\x1b\\)|[()*+][0-9A-Za-z]|[@-Z\\-_])"
)
# Bidirectional overrides and zero-width characters: they reorder or hide what a reader sees
# ("Trojan Source") and can split a keyword or a secret so rules and redaction miss it.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\u061c\ufeff]")
# Runs of undecodable bytes (binary pasted as text) become one marker that says how many there were.
_UNDECODABLE_RUN = re.compile("\ufffd{8,}")

# Anything this large is refused outright rather than truncated.
HARD_LIMIT_CHARS = 2_000_000
# Only this many characters of each end are cleaned when the input is far over the cap; cleaning only
# shrinks text (apart from tabs), so windows of twice the cap keep enough after blank runs collapse.
WINDOW_FACTOR = 2
# Canonical ordering in NFC is quadratic in the length of a run of combining marks; real text never stacks
# more than a handful, "zalgo" text stacks thousands.
MAX_COMBINING_RUN = 16
_LONG_NON_ASCII = re.compile(rf"[^\x00-\x7f]{{{MAX_COMBINING_RUN + 1},}}")


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
    """Clean text for triage; raise InputError when nothing is left to triage.

    Far oversized input is cut to a window at each end before it is cleaned, so the cost of cleaning
    depends on `max_chars`, not on what a sender chose to send.
    """
    if isinstance(raw, (str, bytes)) and len(raw) > HARD_LIMIT_CHARS:
        raise InputTooLarge(f"input is {len(raw)} characters; the limit is {HARD_LIMIT_CHARS}")
    # Blank padding goes first (str.strip is linear), so the windows below see the words.
    text = decode(raw).strip()
    window = max(max_chars, 1) * WINDOW_FACTOR
    if len(text) <= 2 * window:
        text = clean(text)
        if not text:
            raise _empty()
        original = len(text)
        if original <= max_chars:
            return Normalized(text, truncated=False, original_chars=original)
        return Normalized(truncate(text, max_chars), truncated=True, original_chars=original)
    original = len(text)
    head, tail = clean(text[:window]), clean(text[-window:])
    if not head and not tail:
        raise _empty()
    return Normalized(join_ends(head, tail, max_chars, original), truncated=True, original_chars=original)


def clean(text: str) -> str:
    """Line endings, control characters, tabs, trailing blanks and blank-line runs, in linear time."""
    text = strip_escapes(text)
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    if not text.isascii():
        text = _INVISIBLE.sub("", text)
        if "\ufffd" in text:
            text = _UNDECODABLE_RUN.sub(_undecodable_marker, text)
    # After control characters are gone, so marks they separated compose too.
    text = unicodedata.normalize("NFC", cap_combining_marks(text)).replace("\t", "  ")
    text = "\n".join(line.rstrip(" ") for line in text.split("\n"))
    return _BLANK_RUNS.sub("\n\n", text).strip()


def strip_escapes(text: str) -> str:
    """The text without terminal escape sequences (colour, cursor, title)."""
    return _ANSI.sub("", text) if "\x1b" in text else text


def _undecodable_marker(match: re.Match[str]) -> str:
    return f"[{len(match.group(0))} undecodable bytes]"


def undecodable_share(text: str) -> float:
    """How much of what was sent was bytes that are not text (0 to 1), markers counted at their size."""
    if text.isascii() and "undecodable bytes]" not in text:
        return 0.0
    markers = _MARKER_COUNT.findall(text)
    bad = text.count("\ufffd") + sum(int(n) for n in markers)
    readable = len(text) - text.count("\ufffd") - sum(len(f"[{n} undecodable bytes]") for n in markers)
    latin = len(_LATIN_SUPPLEMENT.findall(text[:200_000]))
    if latin > _MOJIBAKE_SHARE * max(len(text[:200_000]) - text[:200_000].count(" "), 1):
        # bytes shown as Latin-1 ("PK ! ß¤ÒlZ … ´ËnÂ0E÷ú·"): a binary file pasted as text, not a language's accents
        bad, readable = bad + latin, readable - latin
    return bad / max(bad + readable, 1)


_MARKER_COUNT = re.compile(r"\[(\d{1,9}) undecodable bytes\]")
_LATIN_SUPPLEMENT = re.compile(r"[\x80-\xff]")
# accented letters are a few percent of a European language's text; a fifth or more is binary decoded as Latin-1
_MOJIBAKE_SHARE = 0.2


def cap_combining_marks(text: str) -> str:
    """Keep at most MAX_COMBINING_RUN combining marks in a row (what NFC sorts is then bounded)."""
    if text.isascii():
        return text
    return _LONG_NON_ASCII.sub(_cap_run, text)


def _cap_run(match: re.Match[str]) -> str:
    kept: list[str] = []
    run = 0
    for char in match.group(0):
        run = run + 1 if unicodedata.combining(char) else 0
        if run <= MAX_COMBINING_RUN:
            kept.append(char)
    return "".join(kept)


def truncate(text: str, max_chars: int) -> str:
    """Keep the head (where alerts state what fired) and the tail (where traces end), mark the cut."""
    return join_ends(text, text, max_chars, len(text))


def join_ends(head: str, tail: str, max_chars: int, original: int) -> str:
    """The start of `head` and the end of `tail` within `max_chars`, with a marker naming what was cut.

    A short head lends its unused share to the tail and the other way round.
    """
    budget = max(max_chars - len(_marker(original)), 2)
    keep_head = min(len(head), budget * 2 // 3)
    keep_tail = min(len(tail), budget - keep_head)
    keep_head = min(len(head), budget - keep_tail)
    start = head[:keep_head].rstrip()
    end = tail[len(tail) - keep_tail :].lstrip() if keep_tail else ""
    return start + _marker(max(original - keep_head - keep_tail, 0)) + end


def _marker(dropped: int) -> str:
    return f"\n[... {dropped} characters truncated ...]\n"


def _empty() -> InputError:
    return InputError("text is empty: send the alert, log excerpt or ticket to triage")
