"""Leading log headers (timestamp, level, pid, thread, component) told apart from the message they carry."""

from __future__ import annotations

import re

# A header starts with something a clock wrote; content rarely does.
_DATEISH = re.compile(
    r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}|\d{1,2}:\d{2}:\d{2}|^\d{6,}$|^\d{8}-\d{1,2}:|^\d{1,2}\.\d{1,2}$|^\d{1,2}-\d{1,2}$"
)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_MONTHS = _words("jan feb mar apr may jun jul aug sep sept oct nov dec")
_DAYS = _words("mon tue wed thu fri sat sun")
LEVELS = _words(
    "trace debug dbg fine finer finest verbose info information informational notice note warn warning error err "
    "severe fatal crit critical alert emerg emergency panic log"
)
_SHORT_LEVELS = frozenset("VDIWEFA")
_ZONES = _words("utc gmt z cet cest est edt pst pdt")
_TOKEN = re.compile(r"\S+")
_ALLCAPS = re.compile(r"^[A-Z][A-Z_]{1,11}$")
_COMPONENT = re.compile(r"^[\w.$@/()\[\]#:-]+:$")
_DOTTED_NAME = re.compile(r"^[A-Za-z_][\w$]*(?:\.[A-Za-z_][\w$]*)+$")
_MAX_HEADER = 400


def _bare(token: str) -> str:
    return token.strip("[](),;|<>").lower()


_DIGITS = re.compile(r"\d")
_PID = re.compile(r"^\d+(?:#\d+)?:$")
_UPTIME = re.compile(r"\s*\d+\.\d+\s*$")
_IP_LEAD = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}(?![\d.])")  # `10.251.30.85:50010:Got`: an address
_IP = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?(?:,\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?)*$")


def _is_clockish(token: str) -> bool:
    bare = token.strip("[](),;:")
    if _IP.match(bare) or _IP_LEAD.match(bare) or ("/" in bare and any(c.isalpha() for c in bare)):
        return False  # addresses, and paths that hold a date (`/openstack/2012-08-10/meta_data.json`)
    return bool(_DATEISH.search(bare)) or _bare(token) in _MONTHS or _bare(token) in _DAYS


def _bracket_end(text: str, start: int) -> int:
    """Index after the bracket group opening at `start` (nested brackets included), or -1."""
    depth = 0
    for index in range(start, min(len(text), start + _MAX_HEADER)):
        char = text[index]
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                return index + 1
    return -1


def _pipe_header(text: str) -> str | None:
    """`ts|component|pid|message` lines: the message is the first field that is not header-like."""
    head = text.split("|", 1)[0]
    if " " in head.strip() or not _DATEISH.search(head):
        return None
    fields = text.split("|")
    for index in range(1, len(fields)):
        field = fields[index].strip()
        if " " in field or index == len(fields) - 1:
            return "|".join(fields[index:]).strip()
    return None


def _drop_level(text: str) -> str:
    """A message that opens with its level (`ERROR: …`, `[warn] …`, `WARN …`) without it."""
    first, _, rest = text.partition(" ")
    word = first.strip("[]<>:")
    if rest and word.lower() in LEVELS and (word.isupper() or first != word):
        return rest.lstrip()
    return text


def strip_header(text: str) -> str:
    """The message without a recognisable leading log header or level; the text unchanged when it has none."""
    return _drop_level(_strip_header(text))


def _strip_header(text: str) -> str:
    stripped = text.lstrip()
    if not stripped:
        return text
    if "|" in stripped[:60]:
        piped = _pipe_header(stripped)
        if piped:
            return piped
    first = _TOKEN.match(stripped)
    if first is None:
        return text
    head = stripped[:160].split(None, 4)[:4]
    starts = head[0]
    if starts[0].isalpha() and _DIGITS.search(starts) is None:
        # Most messages start with a word: only a month, a weekday or an alert tag can open a header there.
        low = starts.lower().rstrip(",")
        if low not in _MONTHS and low not in _DAYS and not _ALLCAPS.match(starts):
            return text
    # Supercomputer-style lines open with an alert tag ('-' when none) before the epoch.
    tagged = bool(
        (starts == "-" or _ALLCAPS.match(starts)) and len(head) > 1 and head[1].isdigit() and len(head[1]) >= 9
    )
    clocked = _is_clockish(starts) or (
        starts.startswith("[") and any(_is_clockish(tok) for tok in " ".join(head[:3]).split("]", 1)[0].split())
    )
    numbered = any(c.isdigit() for c in starts) and any(_is_clockish(tok) for tok in head[1:3])
    if not (tagged or clocked or numbered):
        return text
    return _consume(stripped, tagged)


def _consume(text: str, tagged: bool) -> str:
    """Eat header tokens from the front; stop at the first one that reads like the message."""
    pos = 0
    seen_level = False
    seen_component = False
    seen_syslog_time = False
    consumed = 0
    n = len(text)
    while pos < n and pos < _MAX_HEADER:
        while pos < n and text[pos].isspace():
            pos += 1
        if pos >= n:
            break
        if text[pos] == "[":
            end = _bracket_end(text, pos)
            if end < 0:
                break
            inner = text[pos + 1 : end - 1].strip().lower()
            pos, consumed = end, consumed + 1
            if inner in LEVELS:
                # `[time] [error] message`: what follows a bracketed level is the message (after a pid#tid).
                pid = _TOKEN.match(text, _skip(text, pos))
                if pid is not None and _PID.match(pid.group()):
                    pos = pid.end()
                break
            if seen_component:
                break  # `LEVEL component [context] message`: one context group, then the message
            continue
        match = _TOKEN.match(text, pos)
        if match is None:
            break
        token = match.group()
        end = match.end()
        low = token.strip(",;").lower()
        if consumed == 0 and tagged:
            # `TAG epoch date node … COMPONENT LEVEL message`: everything up to the level is header.
            level_end = _tagged_level_end(text, end)
            if level_end is not None:
                pos = level_end
                break
            pos, consumed = end, 1
            continue
        if token == "-" or token == "|":
            pos = end
            continue
        if low in _MONTHS or low in _DAYS or low in _ZONES:
            pos, consumed = end, consumed + 1
            continue
        if any(c.isdigit() for c in token) and '"' not in token and (not token.endswith(":") or _is_clockish(token)):
            if seen_level:
                break  # after the level come a thread, a component or the message, not more numbers
            if _DATEISH.search(token) and re.search(r"\d{1,2}:\d{2}:\d{2}", token):
                seen_syslog_time = seen_syslog_time or consumed >= 2
            pos, consumed = end, consumed + 1
            continue
        if low.rstrip(":") in LEVELS and not seen_level:
            seen_level = True
            pos, consumed = end, consumed + 1
            # Column-aligned formats put the component right after the level, padded with blanks.
            nxt = _TOKEN.match(text, _skip(text, end))
            if nxt is not None and (
                (text.startswith("  ", nxt.end()) and not nxt.group().endswith(":")) or _DOTTED_NAME.match(nxt.group())
            ):
                pos = nxt.end()
                seen_component = True
            continue
        if len(token) == 1 and token in _SHORT_LEVELS and not seen_level and consumed >= 2:
            seen_level = True
            pos, consumed = end, consumed + 1
            continue
        if tagged and not seen_level and _ALLCAPS.match(token) and _level_follows(text, end):
            pos, consumed = end, consumed + 1
            continue
        if _COMPONENT.match(token) and consumed >= 2 and not seen_component and not (tagged and seen_level):
            pos = end
            # The kernel stamps its own uptime after the program: `kernel: [  12.345678] message`.
            after = _skip(text, pos)
            if text.startswith("[", after):
                close = text.find("]", after, after + 24)
                if close > 0 and _UPTIME.match(text, after + 1, close):
                    pos = close + 1
            break
        if seen_syslog_time and consumed >= 3 and not seen_level and _component_follows(text, end):
            # syslog: the host name sits between the clock and the program.
            pos, consumed = end, consumed + 1
            seen_syslog_time = False
            continue
        if consumed >= 1 and not seen_level and text.startswith(" - ", end):
            # `[time] program - message`
            pos = end + 3
            break
        break
    rest = text[pos:].strip()
    return rest or text.strip()


def _tagged_level_end(text: str, pos: int) -> int | None:
    """End of the first level word among the next few header fields (before any `component:`), if any."""
    for match in list(_TOKEN.finditer(text, pos, min(len(text), pos + 200)))[:10]:
        word = match.group()
        if word.lower() in LEVELS:
            return match.end()
        if word.endswith(":"):
            return None
    return None


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _level_follows(text: str, pos: int) -> bool:
    """An all-capitals word belongs to the header only when a level word comes within the next two."""
    for match in list(_TOKEN.finditer(text, pos, min(len(text), pos + 40)))[:2]:
        if match.group().lower() in LEVELS:
            return True
        if not _ALLCAPS.match(match.group()):
            return False
    return False


def _component_follows(text: str, pos: int) -> bool:
    match = _TOKEN.match(text, _skip(text, pos))
    return match is not None and bool(_COMPONENT.match(match.group()))
