"""JSON Web Tokens: masked whole, also when wrapped over several lines or split around their dots."""

from __future__ import annotations

import re

_JWT_START = re.compile(r"\beyJ[A-Za-z0-9_-]{8,4096}")
_B64URL_RUN = re.compile(r"[A-Za-z0-9_-]{1,4096}")
# What may sit between two pieces of a token wrapped over lines: a line break with indentation, a quote
# closing and reopening a string, a backslash continuation, a `+` of concatenation.
_WRAP = re.compile(r"(?:[\"']?[ \t]{0,8}[+\\]?[ \t]{0,8}(?:\r?\n|\\n)[ \t]{0,16}[+]?[ \t]{0,8}[\"']?)")
_JWT_MIN_WRAPPED_LINE = 20
_JWT_REST = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{8,4096}\.[A-Za-z0-9_-]{16,4096}")


def mask_jwts(text: str) -> tuple[str, int]:
    """Mask JSON Web Tokens, also when wrapped over several lines or split around their dots."""
    if "eyJ" not in text:
        return text, 0
    pieces: list[str] = []
    position = count = 0
    for start in _JWT_START.finditer(text):
        if start.start() < position:
            continue
        end, dots, line = start.end(), 0, len(start.group())
        while True:
            here = end
            wrap = _WRAP.match(text, here)
            # A line break continues the token when the line was a full wrapped line or the next one starts
            # with the dot before the next segment.
            if wrap and wrap.end() > here and (line >= _JWT_MIN_WRAPPED_LINE or text.startswith(".", wrap.end())):
                here, line = wrap.end(), 0
            if text.startswith(".", here):
                dots += 1
                here += 1
                line += 1
                after = _WRAP.match(text, here)
                if after and after.end() > here:
                    here, line = after.end(), 0
            elif here == end:
                break
            run = _B64URL_RUN.match(text, here)
            if run is None:
                break
            wrapped_word = line == 0 and not text.startswith(".", here - 1)
            if wrapped_word and len(run.group()) < 16 and not text.startswith(".", run.end()):
                break  # the next line starts with a word, not with the rest of the token
            end, line = run.end(), line + len(run.group())
        if dots >= 2 or (dots == 1 and "eyJ" in text[start.end() : end]):
            pieces.append(text[position : start.start()])
            pieces.append("[REDACTED:jwt]")
            position = end
            count += 1
            if dots == 1:
                # Cut at the end of its line (a logger wrapping long lines under a new header): the rest of
                # the payload and the signature follow on the next line.
                rest = _JWT_REST.search(text, end, min(len(text), end + 400))
                if rest is not None and "\n" in text[end : rest.start()]:
                    pieces.append(text[position : rest.start()])
                    pieces.append("[REDACTED:jwt]")
                    position = rest.end()
    if not count:
        return text, 0
    pieces.append(text[position:])
    return "".join(pieces), count

