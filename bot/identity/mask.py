"""Masking: the parameters of a message (numbers, ids, hashes, hosts, paths, values) become `<*>`."""

from __future__ import annotations

import re

from bot.identity.header import strip_header

PARAM = "<*>"
# Alert status prefixes that senders put in front of the same text.
_STATUS_PREFIX = re.compile(
    r"^\s*(?:\[(?:firing|resolved)(?::\d+)?\]|:fire:|:white_check_mark:|:rotating_light:|:large_green_circle:|"
    r":red_circle:|:warning:)\s*",
    re.I,
)
# Multi-token parameters first, so that each becomes a single token whatever its spelling.
_SPANS = re.compile(
    r"""(?ix)
    \b[a-z][a-z0-9+.-]*://[^\s"'<>]+                                   # URL
  | [\w.+-]+@[\w-]+(?:\.[\w-]+)+                                      # e-mail, user@host
  | (?<![\w.])<?\d+(?:[.,]\d+)?\s?(?:ms|msec|milliseconds?|us|µs|ns|s|secs?|seconds?|mins?|minutes?|h|hrs?|hours?
      |days?|[kmgt]i?b|bytes?)(?![\w-])                               # durations and sizes
  | \b\d{4}-\d{2}-\d{2}[t\s_]\d{2}:\d{2}(?::\d{2})?(?:[.,]\d+)?(?:z|[+-]\d{2}:?\d{2}|\s?utc)?(?![\w:])  # ISO time
  | (?<![\w:.])\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?(?:\s?(?:am|pm|utc)|z)?(?![\w:])  # clock times
  | (?<![\w"'])(?:"[^"\s]{1,200}"|'[^'\s]{1,200}')(?![\w"'])           # one quoted value
    """
)
_KEYVALUE = re.compile(r"^([A-Za-z_][\w.-]{0,60}?)(=|:)(.+)$")
_TRIM_LEAD = "([{\"'`"
_TRIM_TAIL = ")]}\"'`,;:.!?"
_HEXWORD = re.compile(r"^[0-9a-fA-F]{8,}$")
_TLD = re.compile(
    r"^[a-z0-9-]+(?:\.[a-z0-9-]+)+\.(?:com|net|org|edu|gov|io|local|internal|lan|cluster|svc|hk|cn|de|uk|jp|fr|ru)$"
)
# Names of what fired keep their value: the alert's name is the identity, not a parameter.
IDENTITY_KEYS = frozenset(
    ["alertname", "alert_name", "alert", "rule", "rule_name", "check", "monitor", "job", "service", "namespace",
     "app", "component", "event_type"]
)
# Words written in CamelCase with a digit inside ("Service3HighErrorRate") are names, not ids.
_CAMEL_NAME = re.compile(r"^(?=(?:.*[A-Z][a-z]{2,}){2})(?:[A-Z][a-z]+|[A-Z]+(?![a-z])|\d{1,3}[a-z]{0,3})+$")


_NAME_WORD = re.compile(r"[A-Z][a-z]{2,}")


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


def _is_param(core: str) -> bool:
    if any(c.isdigit() for c in core):
        return not (len(core) <= 40 and _CAMEL_NAME.match(core))
    if "-" in core and any(_RANDOM_SEGMENT.match(seg) for seg in core.split("-")[1:]):
        return True
    if core.startswith(("/", "~/", "\\\\")) and len(core) > 1:
        return True
    if len(core) > 2 and core[1] == ":" and core[2] == "\\":
        return True
    return bool(_HEXWORD.match(core) or _TLD.match(core))


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
    pair = _KEYVALUE.match(core) if ("=" in core or ":" in core) else None
    if pair is not None and (pair.group(2) == "=" or not any(c.isdigit() for c in pair.group(1))):
        key, sep, value = pair.groups()
        if sep == ":" and (value.startswith("/") or "." in key):
            pair = None  # host:port, scheme-less paths: the whole token is the value
        elif key.lower() in IDENTITY_KEYS:
            return token[:start] + key + sep + _mask_segments(value) + token[end:]
        else:
            return token[:start] + key + sep + PARAM + token[end:]
    if _is_param(core):
        return token[:start] + PARAM + token[end:]
    return token


def mask_tokens(text: str) -> list[str]:
    """The message body (header stripped) as tokens, parameters masked, runs of parameters folded."""
    body = _SPANS.sub(PARAM, strip_header(text))
    out: list[str] = []
    for token in body.split():
        masked = mask_token(token)
        if masked == PARAM and out and out[-1] == PARAM:
            continue  # a parameter spelled with a varying number of words is still one parameter
        out.append(masked)
    return out


def canonical(text: str) -> str:
    """The text with what varies between repeats replaced by placeholders (no learning)."""
    return " ".join(mask_tokens(status_prefix(text)[1]))
