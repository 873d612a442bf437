"""Private keys: PEM blocks (whole, cut at either end, wrapped in JSON or indented by a logger) and PuTTY key files."""

from __future__ import annotations

import re

_PEM_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----")
_PEM_END = re.compile(r"-----END [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----")
# Key material: base64 lines (in a text, a JSON string with `\n` escapes, or a log that indents them), PEM
# headers, and a truncation marker that cut through the block.
_KEY_LINE = re.compile(
    r"(?:[ \t]{0,16}(?:[A-Za-z0-9+/=]{8,128}|[A-Za-z-]{1,32}: [^\n]{0,128}"
    r"|\[\.\.\. \d{1,12} characters truncated \.\.\.\])"
    r"[ \t]{0,4}(?:\r?\n|(?:\\r)?\\n))"
)
# A line of key material above an END line whose BEGIN line is not in the text (cut off, or never pasted).
_ORPHAN_LINE = re.compile(r"[^\n]{0,48}?[A-Za-z0-9+/=]{16,128}[ \t]{0,4}")
_ORPHAN_LINES = 256


def mask_private_keys(text: str) -> tuple[str, int]:
    """Mask every private-key block: BEGIN to END, a BEGIN whose END was cut (to the end of its key lines),
    and key lines that end in an END line whose BEGIN was cut."""
    if "PRIVATE KEY" not in text:
        return text, 0
    pieces: list[str] = []
    position = count = 0
    while (begin := _PEM_BEGIN.search(text, position)) is not None:
        pieces.append(text[position : begin.start()])
        pieces.append("[REDACTED:private_key]")
        count += 1
        position = _key_block_end(text, begin.end())
    pieces.append(text[position:])
    text = "".join(pieces)
    if "-----END" in text:
        text, orphans = _mask_orphan_keys(text)
        count += orphans
    return text, count


def _mask_orphan_keys(text: str) -> tuple[str, int]:
    """Key lines that end in an END line with no BEGIN above them: walked back from each END line, at most
    _ORPHAN_LINES lines each, never past the previous one (linear in the text)."""
    pieces: list[str] = []
    position = count = 0
    for end in _PEM_END.finditer(text):
        if end.start() < position:
            continue
        start = _line_start(text, end.start(), position)
        for _ in range(_ORPHAN_LINES):
            line = _previous_line(text, start, position)
            if line is None or not _ORPHAN_LINE.fullmatch(text, *line):
                break
            start = line[0]
        if start >= _line_start(text, end.start(), position):
            continue
        pieces.append(text[position:start])
        pieces.append("[REDACTED:private_key]")
        position = end.end()
        count += 1
    if not count:
        return text, 0
    pieces.append(text[position:])
    return "".join(pieces), count


def _line_start(text: str, at: int, floor: int) -> int:
    """`at` moved back over the blanks that indent its line."""
    while at > floor and text[at - 1] in " \t":
        at -= 1
    return at


def _previous_line(text: str, at: int, floor: int) -> tuple[int, int] | None:
    """(start, end) of the line before the one starting at `at`, split by a line break or a JSON `\\n`."""
    if text.endswith("\\n", floor, at):
        end = at - 2
    elif text.endswith("\n", floor, at):
        end = at - 1 - (1 if text.endswith("\r\n", floor, at) else 0)
    else:
        return None
    window = max(floor, end - 200)
    start = max(text.rfind("\n", window, end) + 1, text.rfind("\\n", window, end) + 2, window)
    if end - start > 192 or start < floor:
        return None
    return start, end


def _key_block_end(text: str, start: int) -> int:
    """Where the key that begins at `start` ends: after its END line, else after its last line of key material."""
    position = start
    # the rest of the BEGIN line (a line break or a JSON "\n")
    newline = re.compile(r"[ \t]{0,4}(?:\r?\n|(?:\\r)?\\n)").match(text, position)
    if newline:
        position = newline.end()
    while True:
        end = _PEM_END.match(text, position + len(text[position:]) - len(text[position:].lstrip(" \t")))
        if end is not None:
            return end.end()
        line = _KEY_LINE.match(text, position)
        if line is None:
            # no END line: the key runs to the end of its base64 (the last line may lack a line break)
            tail = re.compile(r"[ \t]{0,16}[A-Za-z0-9+/=]{8,128}").match(text, position)
            return tail.end() if tail else position
        position = line.end()


_PUTTY = re.compile(
    r"(?i)(?:Private-Lines:[ \t]{0,4}\d{1,4}[ \t]{0,4}(?:\r?\n|(?:\\r)?\\n)"
    r"(?:[ \t]{0,16}[A-Za-z0-9+/=]{1,128}[ \t]{0,4}(?:\r?\n|(?:\\r)?\\n|$)){1,256}"
    r"|Private-(?:MAC|Hash):[ \t]{0,4}[0-9a-f]{16,128}|Argon2-Salt:[ \t]{0,4}[0-9a-f]{8,128})"
)


def mask_putty(text: str) -> tuple[str, int]:
    """Mask a PuTTY key file's private lines and MAC (its public lines are not secret)."""
    if "Private-" not in text and "private-" not in text and "Argon2-Salt" not in text:
        return text, 0
    return _PUTTY.subn("[REDACTED:private_key]", text)

