"""Secret redaction: mask credentials before text leaves the process, reaches a log or is stored."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

# Every variable-length part of every pattern is bounded, so no pattern can backtrack more than a
# constant amount per position: redaction stays linear in the input, whatever the input.
_VALUE_MAX = 512


@dataclass(frozen=True)
class _Rule:
    kind: str
    pattern: re.Pattern[str]
    # cheap lowercase substrings; the pattern only runs when one of them occurs
    hints: tuple[str, ...] = ()
    # decides whether a matched value really is a secret (False: leave it)
    accept: Callable[[str], bool] | None = None


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
_PLACEHOLDER = re.compile(r"\$\{?\w{1,64}\}?|\*{3,}|x{3,}|<[^>]{1,64}>|\{\{[^}]{1,64}\}\}|%\(?\w{1,64}\)?s?")


def _looks_secret(value: str) -> bool:
    """A value worth hiding: not a status word, a small number, a placeholder, a path or an earlier mask."""
    if value.startswith("[REDACTED") or value.casefold() in _NOT_SECRETS:
        return False
    return not (_NUMBER.fullmatch(value) or _PLACEHOLDER.fullmatch(value) or _PATH.fullmatch(value))


def _entropy(value: str) -> float:
    counts: dict[str, int] = {}
    for char in value:
        counts[char] = counts.get(char, 0) + 1
    size = len(value)
    return -sum(n / size * math.log2(n / size) for n in counts.values())


def _high_entropy(value: str) -> bool:
    """Random-looking: letters and digits mixed, and many distinct symbols for its length."""
    if not _looks_secret(value) or not any(c.isdigit() for c in value) or not any(c.isalpha() for c in value):
        return False
    hexadecimal = all(c in "0123456789abcdefABCDEF" for c in value)
    return _entropy(value) >= (3.0 if hexadecimal else 3.5)


def _quoted_or_bare(minimum: int = 1, tag: str = "") -> str:
    """A value: double-quoted, single-quoted, quoted with escaped quotes (JSON in a log), or bare.

    Group names end in 'q' for quoted values and 'b' for bare ones; `tag` keeps them unique.
    """
    return (
        rf'"(?P<v{tag}1q>[^"\n]{{{minimum},{_VALUE_MAX}}})"'
        rf"|'(?P<v{tag}2q>[^'\n]{{{minimum},{_VALUE_MAX}}})'"
        rf'|\\"(?P<v{tag}3q>[^"\\\n]{{{minimum},{_VALUE_MAX}}})\\"'
        rf"|(?P<v{tag}4b>[^\s\"'`<>\\]{{{minimum},{_VALUE_MAX}}})"
    )


_SECRET_WORD = (
    r"pass(?:word|wd|phrase|code)?|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key"
    r"|account[_-]?key|signing[_-]?key|encryption[_-]?key|master[_-]?key|auth|credentials?|session"
    r"|sessid|signature|sig"
)
_KEY_SUFFIX = r"(?:[_.-]?(?:key|id|value|token|secret|string|b64|base64)){0,2}"

_RULES: tuple[_Rule, ...] = (
    _Rule(
    "jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,4096}\.[A-Za-z0-9_-]{8,4096}\.[A-Za-z0-9_-]{0,4096}"), ("eyj",)
    ),
    _Rule("slack_token", re.compile(r"\bx(?:ox[abposre]|app)-[A-Za-z0-9-]{10,256}"), ("xox", "xapp-")),
    _Rule(
    "slack_webhook",
        re.compile(r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]{1,256}"),
        ("hooks.slack",),
    ),
    _Rule(
    "aws_access_key",
        re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA)[0-9A-Z]{16}\b"),
        ("akia", "asia", "abia", "acca", "agpa", "aida", "aipa", "anpa", "anva", "apka", "aroa"),
    ),
    _Rule(
    "github_token",
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{30,255})"),
        ("gh", "github_pat_"),
    ),
    _Rule(
    "gitlab_token",
        re.compile(
            r"\b(?:gl(?:pat|dt|rt|ptt|soat|ft|imt|cbt|oas|agent)-[A-Za-z0-9_-]{20,255}|GR1348941[A-Za-z0-9_-]{20,64})"
        ),
        ("gl", "gr1348941"),
    ),
    _Rule(
    "stripe_key",
        re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{10,255}|\bwhsec_[A-Za-z0-9]{20,255}"),
        ("_live_", "_test_", "whsec_"),
    ),
    _Rule("sendgrid_key", re.compile(r"\bSG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{30,64}"), ("sg.",)),
    _Rule("twilio_key", re.compile(r"\b(?:SK|AC)[0-9a-fA-F]{32}\b"), ("sk", "ac")),
    _Rule(
    "google_api_key",
        re.compile(r"\bAIza[0-9A-Za-z_-]{30,40}|\bGOCSPX-[A-Za-z0-9_-]{20,64}|\bya29\.[A-Za-z0-9_-]{20,2048}"),
        ("aiza", "gocspx-", "ya29."),
    ),
    _Rule(
    "openai_key",
        re.compile(r"\bsk-(?:proj-|svcacct-|admin-|ant-(?:api|admin)\d\d-)?[A-Za-z0-9_-]{20,255}"),
        ("sk-",),
    ),
    _Rule("npm_token", re.compile(r"\bnpm_[A-Za-z0-9]{36}\b"), ("npm_",)),
    _Rule("pypi_token", re.compile(r"\bpypi-AgE[A-Za-z0-9_-]{40,512}"), ("pypi-",)),
    _Rule(
    "api_token",
        re.compile(
            r"\b(?:hvs\.[A-Za-z0-9_-]{24,255}|dop_v1_[a-f0-9]{64}|shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}"
            r"|hf_[A-Za-z0-9]{30,64}|glc_[A-Za-z0-9+/=_-]{32,400}|xkeysib-[a-f0-9]{64}-[A-Za-z0-9]{16}"
            r"|dapi[a-f0-9]{32}|AGE-SECRET-KEY-1[0-9A-Z]{58})"
        ),
        ("hvs.", "dop_v1_", "shp", "hf_", "glc_", "xkeysib-", "dapi", "age-secret-key-"),
    ),
    _Rule(
    "url_password",
        # user-info runs to the last '@' before the host, so a password may hold '@', ':' and '/'
        re.compile(
            r"\b[A-Za-z][A-Za-z0-9+.-]{0,20}://[^\s/@:'\"<>]{0,128}:(?P<vb>[^\s'\"<>]{1,256})@(?=[\w\[])"
        ),
        ("://",),
    ),
    _Rule(
    "bearer_token",
        re.compile(
            r"(?i)(?:\bauthorization\\?[\"']?[ \t]{0,5}[:=][ \t]{0,5}\\?[\"']?"
            r"(?:(?:bearer|basic|token|digest|negotiate|apikey|sso-key)[ \t]{1,5})?|\bbearer[ \t]{1,5})"
            r"(?P<vb>[A-Za-z0-9\-._~+/=:]{8,4096})"
        ),
        ("authorization", "bearer"),
    ),
    _Rule(
    "cookie",
        re.compile(r"(?i)\b(?:set-)?cookie\\?[\"']?[ \t]{0,5}:[ \t]{0,5}\\?[\"']?(?P<vq>[^\n\"\\]{1,4096})"),
        ("cookie",),
        _looks_secret,
    ),
    _Rule(
    "cli_password",
        re.compile(
            r"(?i)(?<![\w-])--?(?:[\w-]{0,30}[_-])?(?:password|passwd|pass|token|secret|api-?key|apikey"
            r"|auth-token|access-key|secret-key|private-key)(?:[ \t]{1,5}|=)(?:" + _quoted_or_bare() + ")"
        ),
        ("--", "-pass", "-token", "-secret", "-key"),
        lambda value: _looks_secret(value) and not value.startswith("-"),
    ),
    _Rule(
    "cli_password",
        re.compile(
            r"\b(?:mysql|mysqldump|mysqladmin|mysqlimport|mysqlcheck|mysqlsh|mariadb(?:-dump)?)\b[^\n]{0,200}?"
            r"(?<=\s)-p(?:" + _quoted_or_bare(tag="m") + ")"
            r"|\bsshpass[ \t]{1,5}-p[ \t]{0,5}(?:" + _quoted_or_bare(tag="s") + ")"
            r"|\bredis-cli\b[^\n]{0,200}?(?<=\s)-a[ \t]{1,5}(?:" + _quoted_or_bare(tag="r") + ")"
            r"|(?<![\w-])(?:-u|--user)[ \t]{1,5}['\"]?[^\s:'\"]{1,64}:(?P<vb>[^\s'\"]{1,256})"
        ),
        ("mysql", "mariadb", "sshpass", "redis-cli", "-u", "--user"),
        _looks_secret,
    ),
    _Rule(
    "key_value",
        re.compile(
            rf"(?i)(?:{_SECRET_WORD}){_KEY_SUFFIX}\\?[\"']?[ \t]{{0,5}}(?:=>|:=|[:=])[ \t]{{0,5}}"
            r"(?:" + _quoted_or_bare() + ")"
        ),
        ("pass", "pwd", "secret", "token", "key", "auth", "credential", "session", "sessid", "sig"),
        _looks_secret,
    ),
    _Rule(
    "prose_password",
        re.compile(
            r"(?i)\b(?:password|passwd|passphrase|passcode|pwd|secret|api key|token)\b"
            r"(?:[ \t]{1,3}(?:for|of)[ \t]{1,3}[\w@.-]{1,64})?[ \t]{1,3}"
            r"(?:is(?:[ \t]{1,3}now)?|was|(?:set|changed|reset)[ \t]{1,3}to)[ \t]{1,3}(?:" + _quoted_or_bare(3) + ")"
        ),
        ("pass", "pwd", "secret", "api key", "token"),
        _looks_secret,
    ),
    _Rule(
    "high_entropy",
        re.compile(
            r"(?i)\b(?:secret|token|key|password|passwd|credentials?|apikey|auth|signature|leaked|exposed)\w{0,24}"
            r"(?:[ \t]{0,3}[:=][ \t]{0,3}|[ \t]{1,3})[\"']?(?:(?:is|was|of|for)[ \t]{1,3})?"
            r"(?P<vb>[A-Za-z0-9+/_=.-]{16,1024})"
        ),
        ("secret", "token", "key", "pass", "credential", "auth", "signature", "leaked", "exposed"),
        _high_entropy,
    ),
)

_PEM_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----")
_PEM_END = re.compile(r"-----END [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----")
_TRAILING = ".,;:!?)]}"


def _mask_private_keys(text: str) -> tuple[str, int]:
    """Mask every private-key block up to its END line, or to the end of a text cut short."""
    if "PRIVATE KEY" not in text:
        return text, 0
    pieces: list[str] = []
    position = count = 0
    while (begin := _PEM_BEGIN.search(text, position)) is not None:
        end = _PEM_END.search(text, begin.end())
        pieces.append(text[position : begin.start()])
        pieces.append("[REDACTED:private_key]")
        count += 1
        position = end.end() if end is not None else len(text)
    pieces.append(text[position:])
    return "".join(pieces), count


def _replacer(rule: _Rule, found: list[int]) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        whole = match.group(0)
        name = next((n for n in match.re.groupindex if n.startswith("v") and match.group(n) is not None), None)
        if name is None:  # the whole match is the secret
            found[0] += 1
            return f"[REDACTED:{rule.kind}]"
        start, end = match.span(name)
        value = match.group(name)
        if name.endswith("b"):  # a bare value: sentence punctuation after it is not part of it
            kept = value.rstrip(_TRAILING)
            end -= len(value) - len(kept)
            value = kept
        if not value or (rule.accept is not None and not rule.accept(value)):
            return whole
        found[0] += 1
        offset = match.start()
        return f"{whole[: start - offset]}[REDACTED:{rule.kind}]{whole[end - offset :]}"

    return replace


def redact(text: str) -> tuple[str, list[str]]:
    """Return the text with secrets masked and the sorted kinds that were found."""
    kinds: set[str] = set()
    text, keys = _mask_private_keys(text)
    if keys:
        kinds.add("private_key")
    lowered = text.lower()
    for rule in _RULES:
        if rule.hints and not any(hint in lowered for hint in rule.hints):
            continue
        found = [0]
        replaced = rule.pattern.sub(_replacer(rule, found), text)
        if found[0]:
            kinds.add(rule.kind)
            text = replaced
            lowered = text.lower()
    return text, sorted(kinds)
