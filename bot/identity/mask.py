"""Masking: the parameters of a message (numbers, ids, hashes, hosts, paths, values) become `<*>`."""

from __future__ import annotations

import re

from bot.identity.facets import facet_token, facets, impact_at
from bot.identity.header import strip_header

PARAM = "<*>"
# Alert status prefixes that senders put in front of the same text.
_STATUS_PREFIX = re.compile(
    r"^\s*(?:\[(?:firing|resolved)(?::\d+)?\]|:fire:|:white_check_mark:|:rotating_light:|:large_green_circle:|"
    r":red_circle:|:warning:)\s*",
    re.I,
)
_DIGIT = re.compile(r"\d")
# Unit words written after a number ("12 ms", "<1 sec", "5 KB", "5:48:58 PM"): folded into the number before them.
_UNITS = frozenset(
    ["ms", "msec", "msecs", "millisecond", "milliseconds", "us", "µs", "ns", "s", "sec", "secs", "second", "seconds",
     "min", "mins", "minute", "minutes", "h", "hr", "hrs", "hour", "hours", "day", "days", "b", "kb", "mb", "gb",
     "tb", "kib", "mib", "gib", "byte", "bytes", "%", "am", "pm"]
)
# Month and weekday names are parts of a date written inside a message ("at Fri Jun 17 07:07:00 2005").
_CALENDAR = frozenset(
    ["Jan", "Feb", "Mar", "Apr", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec", "Mon", "Tue", "Wed", "Thu", "Fri",
     "Sat", "Sun"]
)
# Masks of words seen before; numbers and ids are not kept (they rarely repeat).
_MEMO: dict[str, str] = {}
_MEMO_SIZE = 50_000
_KEYVALUE = re.compile(r"^([A-Za-z_][\w.-]{0,60}?)(=|:)(.+)$")
_TRIM_LEAD = "([{\"'`"
_TRIM_TAIL = ")]}\"'`,;:.!?"
_HEXWORD = re.compile(r"^[0-9a-fA-F]{8,}$")
_TLD = re.compile(
    r"^[a-z0-9-]+(?:\.[a-z0-9-]+)+\.(?:com|net|org|edu|gov|io|local|internal|lan|cluster|svc|hk|cn|de|uk|jp|fr|ru)$"
)
# Bundle and package ids (`com.apple.CacheDelete.daily`): which app or job, a value like a host name.
_REVERSE_DNS = re.compile(r"^(?:com|org|net|io|edu|gov|de|uk|android)\.[A-Za-z][\w-]*\.[A-Za-z][\w.-]*$")
# Names of what fired keep their value: the alert's name is the identity, not a parameter.
IDENTITY_KEYS = frozenset(
    ["alertname", "alert_name", "alert", "rule", "rule_name", "check", "monitor", "job", "service", "namespace",
     "app", "component", "event_type", "title"]
)
# Alert bots write what fired on its own line: "Rule: Terminal shell in container", "*Alert:* KafkaLag".
_TITLE_LINE = re.compile(
    r"^[ \t>*_]*(?:rule|alert|alertname|alert name|title|check|monitor)[*_]*[ \t]*:[*_]*[ \t]+(\S[^\n]{0,200})$",
    re.I | re.M,
)
# Words written in CamelCase with a digit inside ("Service3HighErrorRate") are names, not ids.
_CAMEL_NAME = re.compile(r"^(?=(?:.*[A-Z][a-z]{2,}){2})(?:[A-Z][a-z]+|[A-Z]+(?![a-z])|\d{1,3}[a-z]{0,3})+$")


_NAME_WORD = re.compile(r"[A-Z][a-z]{2,}")


# Words whose difference is the message's meaning, never a parameter: `Link is Up` / `Link is Down`.
_OPPOSITES = frozenset(
    ["up", "down", "start", "stop", "success", "failure", "open", "close", "enable", "disable", "allow", "deny",
     "online", "offline", "connect", "disconnect", "firing", "resolved", "begin", "end", "add", "remove",
     "create", "delete", "lock", "unlock", "login", "logout"]
)


_HTTP_METHODS = frozenset(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE"])


def distinct_words(mine: str, theirs: str) -> bool:
    """Do two words at one position make two kinds of message (`VM Started` vs `VM Paused`)?

    Both naming what fired (alert names, `alertname=`), both events (`opened`/`closed`, `Receiving`/`Sending`),
    or a pair of opposites.
    """
    if is_name(mine) and is_name(theirs):
        return True
    a, b = mine.rstrip(_TRIM_TAIL), theirs.rstrip(_TRIM_TAIL)
    if _is_event(a) and _is_event(b):
        return True
    if a.strip("\"'") in _HTTP_METHODS and b.strip("\"'") in _HTTP_METHODS:
        return True
    if _flag(a) and _flag(b):
        return True  # `overlap:true` / `overlap:false`, `Enabled: YES` / `NO`: a state, not a value
    return a.lower() in _OPPOSITES and b.lower() in _OPPOSITES


_FLAGS = ("true", "false")


def _flag(word: str) -> bool:
    """A word that states a flag: `true`, `visible=false`, `null?true`, `YES`."""
    low = word.lower()
    if low in ("yes", "no"):
        return True
    return low.endswith(_FLAGS) and (len(low) in (4, 5) or not low[-6 if low.endswith("false") else -5].isalnum())


# A field's value spelled in letters only (`user=root`, `action=ACTION_UP`): an enum, not a measurement.
_ENUM_VALUE = re.compile(r"^[A-Za-z][A-Za-z_-]{0,39}$")
# Fields that name who or what (a person, a host, a program): their value is a parameter however spelled.
_ENTITY_KEYS = frozenset(["user", "name", "host", "pod", "container", "program", "command", "cmd", "file", "comm",
                          "exe", "proc", "process", "image", "node", "shell", "parent", "cmdline", "uid", "gid"])
_CALL = re.compile(r"^([A-Za-z_][A-Za-z_.]*[A-Za-z_])\((.+)\)$")


def _is_event(word: str) -> bool:
    return len(word) >= 4 and word.isalpha() and not word.isupper() and word.endswith(("ed", "ing"))


def is_name(token: str) -> bool:
    """Does a token name what fired (`HostOutOfMemory`, `alertname=X`) rather than carry a value?"""
    if "=" in token:
        return token.split("=", 1)[0].lower() in IDENTITY_KEYS
    return len(_NAME_WORD.findall(token)) >= 2 and token[:1].isupper()


def status_prefix(text: str) -> tuple[str, str]:
    """(prefix, rest): the `[FIRING:3]`-style marker some senders put before the same alert text."""
    match = _STATUS_PREFIX.match(text)
    if match is None:
        return "", text
    return match.group(), text[match.end() :]


def _mask_segments(value: str) -> str:
    """Keep a name, mask its numbered parts: `payments-api-7f9c8d-x2kq7` → `payments-api-<*>-<*>`."""
    return re.sub(r"[^-_./:@\s]*\d[^-_./:@\s]*", PARAM, value)


# Generated name suffixes: Kubernetes pod hashes use no vowels; short hex ids may happen to have no digit.
_RANDOM_SEGMENT = re.compile(r"^(?:[b-df-hj-np-tv-xz]{5,}|[a-f]{5,10})$")


# File and unit names are values: `nginx.service`, `chrome.exe`, `app.log`.
_FILE_EXT = frozenset(
    ["service", "socket", "timer", "mount", "target", "slice", "scope", "exe", "dll", "so", "jar", "war", "py",
     "js", "rb", "go", "java", "class", "log", "conf", "cfg", "ini", "xml", "json", "yaml", "yml", "sh", "txt",
     "properties", "pid", "sock", "db", "sql", "gz", "zip", "tar", "tmp", "bak", "pem", "crt", "key", "csv", "html"]
)


# A protocol named with its version digit (`SOCKS5`, `IPv6`, `TLSv1`): what the message says, not a value
# (a device's number is: `CPU0`, `IRQ9`, `eth1`).
PROTOCOL = re.compile(r"^(?i:socks|ipv|https?|tlsv?|sslv?|ssh|smbv?|snmpv?|nfsv?)\d$")


def _is_param(core: str) -> bool:
    if _DIGIT.search(core):
        if len(core) <= 6 and core[0].isalpha() and PROTOCOL.match(core):
            return False
        return not (len(core) <= 40 and _CAMEL_NAME.match(core))
    if "-" in core and any(_RANDOM_SEGMENT.match(seg) for seg in core.split("-")[1:]):
        return True
    if "." in core and core.rsplit(".", 1)[1].lower() in _FILE_EXT:
        return True
    if core.startswith(("/", "~/", "\\\\")) and len(core) > 1:
        return True
    if len(core) > 2 and core[1] == ":" and core[2] == "\\":
        return True
    return bool(_HEXWORD.match(core) or _TLD.match(core) or _REVERSE_DNS.match(core))


def mask_token(token: str) -> str:
    """One whitespace-separated token with its parameter part replaced."""
    if token == PARAM:
        return token
    start, end = 0, len(token)
    while start < end and token[start] in _TRIM_LEAD:
        start += 1
    while end > start and token[end - 1] in _TRIM_TAIL:
        end -= 1
    core = token[start:end]
    if not core or core == PARAM:
        return token
    if "://" in core or ("@" in core and "." in core.rsplit("@", 1)[-1]):
        return token[:start] + PARAM + token[end:]  # URL, e-mail, user@host
    if start and end < len(token) and token[start - 1] in "\"'`" and token[end] == token[start - 1]:
        return token[: start - 1] + PARAM + token[end + 1 :]  # one quoted value
    pair = _KEYVALUE.match(core) if ("=" in core or ":" in core) and "::" not in core else None
    if pair is not None and (pair.group(2) == "=" or not _DIGIT.search(pair.group(1))):
        key, sep, value = pair.groups()
        if sep == ":" and (value.startswith("/") or "." in key):
            pair = None  # host:port, scheme-less paths: the whole token is the value
        elif value.lower() in _FLAGS or (
            sep == "=" and _ENUM_VALUE.match(value) and key.lower() not in _ENTITY_KEYS
        ):
            # a flag's or an enum's value is what the message says (`overlap:true`, `action=ACTION_UP`)
            return token
        elif key.lower() in IDENTITY_KEYS:
            return token[:start] + key + sep + _mask_segments(value) + token[end:]
        else:
            return token[:start] + key + sep + PARAM + token[end:]
    if _is_param(core):
        call = _CALL.match(token) if token.endswith(")") else None
        if call is not None and not _DIGIT.search(call.group(1)):
            return call.group(1) + "(" + PARAM + ")"  # a call keeps its name: `IOHibernatePollerOpen(<*>)`
        return token[:start] + PARAM + token[end:]
    return token


def mask_tokens(text: str) -> list[str]:
    """The message body (header stripped) as tokens, parameters masked, runs of parameters folded."""
    return mask_body(strip_header(text))


def _may_count(token: str) -> bool:
    """Could this word be a count, a share or `key=count` (cheap test before the impact reading)?"""
    first, last = token[0], token[-1]
    if first.isdigit() or first in "([~≈":
        return last.isdigit() or last in "%.,;:)]"
    return (last.isdigit() or last == "%") and ("=" in token or ":" in token)


_LIST_ITEM = PARAM + ","
_QUOTED_KEY = re.compile(r"^[(\[{]?([A-Za-z_][\w.-]{0,60})=([\"'])")
_QUOTED_WORDS = 8


def _quoted_value(words: list[str], index: int) -> tuple[str, int] | None:
    """`key="a value of several words"` spelled over several tokens: (`key=<*>`, tokens it took after the first)."""
    token = words[index]
    match = _QUOTED_KEY.match(token)
    if match is None or match.group(2) in token[match.end() :]:
        return None  # one token (masked as a key=value) or not a key
    quote = match.group(2)
    for ahead in range(index + 1, min(len(words), index + 1 + _QUOTED_WORDS)):
        word = words[ahead]
        if quote in word:
            return token[: match.end(1)] + "=" + PARAM + word[word.rindex(quote) + 1 :], ahead - index
    return None


_QUOTES = "'\""
_SPAN_WORDS = 6


def _quoted(words: list[str], index: int) -> tuple[str, int] | None:
    """A quoted value spelled over several tokens, from its first token on (see the two readers)."""
    token = words[index]
    if '="' in token or "='" in token:
        return _quoted_value(words, index)
    if token[0] not in _QUOTES or not index or not words[index - 1].isalpha():
        return None  # a value of several words follows a word (`by rule 'Office Apps'`), not a key or nothing
    return _quoted_span(words, index)


def _quoted_span(words: list[str], index: int) -> tuple[str, int] | None:
    """A quoted value of several words (`'Browsers via proxy'`, `"select * from t"`): (`<*>` with the
    punctuation around it, tokens it took after the first), or None when no closing quote follows soon."""
    token = words[index]
    quote = token[0]
    if len(token) < 2 or quote not in _QUOTES or quote in token[1:] or _DIGIT.search(token) or "/" in token:
        return None
    for ahead in range(index + 1, min(len(words), index + 1 + _SPAN_WORDS)):
        word = words[ahead]
        if _DIGIT.search(word) or "/" in word:
            return None  # a quoted request or sentence with its own values (`"GET /v2/x HTTP/1.1"`): word by word
        at = word.find(quote)
        if at >= 0:
            tail = word[at + 1 :]
            if tail.strip(_TRIM_TAIL):
                return None  # the quote closes inside a word (`it's`): not a quoted value
            return PARAM + tail, ahead - index
    return None


def mask_body(body: str, impact: set[str] | None = None) -> list[str]:
    """A message body (no header) as tokens, parameters masked, runs of parameters folded.

    With `impact`, the size-of-impact facets of the numbers masked away are added to it in the same pass.
    """
    out: list[str] = []
    memo = _MEMO
    words = body.split()
    skip = 0
    for index, token in enumerate(words):
        if skip:
            skip -= 1
            continue
        masked = memo.get(token)
        if ("'" in token or '"' in token) and (quoted := _quoted(words, index)) is not None:
            masked, skip = quoted
        elif masked is None:
            if token.isdigit() or token in _CALENDAR:
                masked = PARAM
                if impact is not None and token.isdigit():
                    impact_at(words, index, impact)
            elif _DIGIT.search(token):
                masked = mask_token(token)
                if impact is not None and _may_count(token):
                    impact_at(words, index, impact)
            else:
                masked = mask_token(token)
                if len(memo) >= _MEMO_SIZE:
                    memo.clear()
                memo[token] = masked
        if out:
            last = out[-1]
            if PARAM in last:
                if last.endswith(PARAM):
                    # A parameter spelled with several words ("12 ms", "<1 sec", "5 KB", "(1.16 KB)") is still one.
                    if last == PARAM and masked.startswith(PARAM) and not masked[3:].strip(_TRIM_TAIL):
                        out[-1] = masked  # the last of a run closes a bracket or a clause: `(stack <*> <*>)`
                        continue
                    unit = masked.rstrip(_TRIM_TAIL)
                    if unit.lower() in _UNITS:
                        out[-1] += masked[len(unit) :]
                        continue
                elif (
                    last.endswith(_LIST_ITEM) and masked.startswith(PARAM) and not masked[3:].strip(_TRIM_TAIL)
                    and not (masked[-1] == ":" and len(out) > 1 and out[-2][-1:] in ":=")
                ):
                    # values listed with `, ` between them (`[10.0.0.1:50010, 10.0.0.2:50010]`): one list
                    # (not a mapping's next key: `"a": 1, "b": 2`)
                    out[-1] = last[:-4] + masked
                    continue
                if len(out) > 2 and masked == out[-2] and last == out[-3] and last[-1] not in ":=":
                    # a list written as repeated pairs (`node-1 0x1f <ok> node-2 0x3e <ok>`) is one value
                    del out[-1]
                    continue
        out.append(masked)
    return out


def title_token(text: str) -> str | None:
    """`title=<what fired>` when the text names its rule or alert on a line of its own, else None."""
    match = _TITLE_LINE.search(text)
    if match is None:
        return None
    return "title=" + "_".join(mask_tokens(match.group(1).strip("*_ ")))


def split_header(text: str) -> tuple[str, str]:
    """(header, body): a log header (timestamp, level, component) and the message it carries."""
    body = strip_header(text)
    if body is text or not body:
        return "", body
    at = text.find(body[:64])
    header = text[:at] if at > 0 else ""
    if header.strip().isdigit():
        return "", text  # a count that opens the message (`640404 floating point alignment exceptions`)
    return header, body


def identity_tokens(text: str) -> list[str]:
    """The tokens an identity is learned from: the facets that keep alerts apart (severity, environment,
    status, size of impact), the alert's title when it has one, then the masked message."""
    header, body = split_header(text)
    impact: set[str] = set()
    tokens = mask_body(body, impact)
    title = title_token(text) if "\n" in text or ":" in text[:40] else None
    lead = facet_token(facets(text, header, impact))
    if title:
        tokens.insert(0, title)
    if lead:
        tokens.insert(0, lead)
    return tokens


def canonical(text: str) -> str:
    """The text with what varies between repeats replaced by placeholders (no learning)."""
    return " ".join(identity_tokens(status_prefix(text)[1]))
