"""Whether a matched value is a secret: not a status word, number, placeholder, path or mask; or random enough."""

from __future__ import annotations

import math
import re

# Words that follow "password:" or "password is" in alerts without being a password.
_NOT_SECRET_WORDS = (
    "true false yes no on off null nil none ok okay success successful failed failure fail error errors "
    "enabled disabled required optional missing empty blank invalid valid expired incorrect correct wrong "
    "unknown unset set reset changed rotated redacted hidden masked the a an not too being still now same "
    "weak strong bad good fine leaked exposed compromised stored hardcoded hard-coded visible present "
    "absent available unavailable provided supplied accepted rejected denied granted ignored used "
    "authentication authorization auth token secret password expiring expires due old new current "
    "correctly incorrectly locked unlocked in at for to from of by with and or is was closed opened open "
    "started ended terminated established timeout timed lost active inactive pending refused reused "
    "renewed revoked generated created deleted updated found notfound mismatch unauthorized forbidden"
)
_NOT_SECRETS = frozenset(_NOT_SECRET_WORDS.split())
_NUMBER = re.compile(r"\d{1,5}")
_PATH = re.compile(r"/[\w./-]{0,255}")
_PATH_SEGMENT = 32
_PATH_NAME = 16
_PLACEHOLDER = re.compile(r"\$\{[^}]{1,64}\}|\$[A-Z_][A-Z0-9_]{0,63}|\*{3,}|x{3,}|<[^>]{1,64}>|\{\{[^}]{1,64}\}\}"
    r"|%\(\w{1,64}\)[sdr]|%[sdr]")


def looks_secret(value: str) -> bool:
    """A value worth hiding: not a status word, a small number, a placeholder, a path or an earlier mask."""
    if value.startswith("[REDACTED") or value.casefold() in _NOT_SECRETS:
        return False
    # a path has a few segments or a short name, and names of a readable size; one long run between slashes
    # is base64 that happens to hold "/"
    segments = value.split("/")
    path = (
        _PATH.fullmatch(value) is not None
        and (value.count("/") > 1 or len(value) <= 24)
        and max(map(len, segments)) <= _PATH_SEGMENT
        # a long segment is a file or directory name only when it reads like one (a dot, dash or underscore)
        and (max(map(len, segments)) <= _PATH_NAME or any(c in segment for segment in segments for c in "._-"))
    )
    return not (_NUMBER.fullmatch(value) or _PLACEHOLDER.fullmatch(value) or path)


def _entropy(value: str) -> float:
    counts: dict[str, int] = {}
    for char in value:
        counts[char] = counts.get(char, 0) + 1
    size = len(value)
    return -sum(n / size * math.log2(n / size) for n in counts.values())


def high_entropy(value: str) -> bool:
    """Random-looking: letters and digits mixed, and many distinct symbols for its length."""
    if not looks_secret(value) or not any(c.isdigit() for c in value) or not any(c.isalpha() for c in value):
        return False
    hexadecimal = all(c in "0123456789abcdefABCDEF" for c in value)
    return _entropy(value) >= (3.0 if hexadecimal else 3.5)
