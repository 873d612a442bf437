"""What a redaction rule is: a pattern, the cheap hints that gate it, and the test a matched value must pass."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

# Every variable-length part of every pattern is bounded, so no pattern can backtrack more than a
# constant amount per position: redaction stays linear in the input, whatever the input.
VALUE_MAX = 512


@dataclass(frozen=True)
class Rule:
    kind: str
    pattern: re.Pattern[str]
    # cheap lowercase substrings; the pattern only runs when one of them occurs
    hints: tuple[str, ...] = ()
    # decides whether a matched value really is a secret (False: leave it)
    accept: Callable[[str], bool] | None = None
    # also run when the text holds a password word of another language (see words.FOREIGN)
    foreign: bool = False


def quoted_or_bare(minimum: int = 1, tag: str = "") -> str:
    """A value: double-quoted, single-quoted, quoted with escaped quotes (JSON in a log), or bare.

    Group names end in 'q' for quoted values and 'b' for bare ones; `tag` keeps them unique.
    """
    return (
        rf'"(?P<v{tag}1q>[^"\n]{{{minimum},{VALUE_MAX}}})"'
        rf"|'(?P<v{tag}2q>[^'\n]{{{minimum},{VALUE_MAX}}})'"
        rf'|\\"(?P<v{tag}3q>[^"\\\n]{{{minimum},{VALUE_MAX}}})\\"'
        rf"|(?P<v{tag}4b>[^\s\"'`<>\\]{{{minimum},{VALUE_MAX}}})"
    )
