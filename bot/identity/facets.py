"""What keeps two alongside alerts apart: severity label, environment, status and the size of the impact.

Masking turns every number and id into a parameter so that repeats of one alert coalesce. A few facts must
never be masked away, because a benign alert and a severe one differ only in them:

- the **severity label** the sender wrote (`severity=critical`, `*Severity:* warning`, `Priority: P1`, a log
  level in the header or at the start of the message);
- the **environment** (`env=staging`, `environment: production`, a `prod`/`staging` part of a name);
- the **status** the alert states beyond firing and resolved (`state: INSUFFICIENT_DATA`, `status: pending`;
  a resolved notice has its own fingerprint already and keeps its incident's key, see status.py);
- the **size of the impact** carried by a number: zero or not beside an impact word (`0 errors` vs
  `912 errors`), a share (`0.1%` vs `100%`), how many of a whole (`0 of 4 healthy` vs `4 of 4`).

Each becomes one short facet (`sev:critical`, `env:prod`, `n:errors=some`, `pct:all`); the sorted facets lead
the identity tokens, so two messages with different facets never share a template. Values that do not change
the class (93 % vs 97 %, 12 vs 912 errors, a different host) still coalesce.
"""

from __future__ import annotations

import re

FACET_MARK = "\u2991"  # opens the facet token: no log or alert writes it
_SCAN_CHARS = 2000
_DIGIT = re.compile(r"\d")
# `key: value`, `key=value`, `*Key:* value`, on the lower-cased text
_KEYED = re.compile(
    r"(?<![\w.-])(severity|sev|priority|prio|urgency|log[._]?level|level|env|environment|deployment[._]environment"
    r"|deploy[._]env|stage|tier|status|state|alert[._ ]?state)[\s*_\"'`]*[:=][\s*_\"'`]*([a-z0-9][\w.-]{0,30})"
)
_KEY_KIND = {
    "severity": "sev", "sev": "sev", "priority": "sev", "prio": "sev", "urgency": "sev", "loglevel": "sev",
    "log_level": "sev", "log.level": "sev", "level": "sev",
    "env": "env", "environment": "env", "deployment.environment": "env", "deployment_environment": "env",
    "deploy.env": "env", "deploy_env": "env", "stage": "env", "tier": "env",
    "status": "status", "state": "status", "alert_state": "status", "alert.state": "status",
    "alert state": "status", "alertstate": "status",
}
_SEVERITY = {
    "debug": "debug", "trace": "debug", "verbose": "debug", "dbg": "debug",
    "info": "info", "information": "info", "informational": "info", "notice": "info", "low": "low",
    "minor": "low", "ok": "info",
    "warn": "warning", "warning": "warning", "medium": "warning", "moderate": "warning", "average": "warning",
    "error": "error", "err": "error", "severe": "error", "high": "high", "major": "high",
    "critical": "critical", "crit": "critical", "fatal": "critical", "emerg": "critical",
    "emergency": "critical", "panic": "critical", "disaster": "critical", "alert": "critical",
    "page": "critical", "blocker": "critical",
}
_SEVERITY_CODE = re.compile(r"(?i)^(?:p|sev|s)?([0-5])$")
_ENV = {
    "prod": "prod", "production": "prod", "prd": "prod", "live": "prod",
    "staging": "staging", "stage": "staging", "stg": "staging", "preprod": "staging", "pre-prod": "staging",
    "dev": "dev", "development": "dev", "test": "test", "testing": "test", "qa": "test", "uat": "test",
    "sandbox": "dev", "sbx": "dev",
}
# In names and prose only unambiguous spellings count (`dev` is also /dev, `stage` a Spark stage).
_ENV_IN_NAMES = re.compile(r"(?<![a-z0-9/])(prod|production|prd|staging|stg|preprod|sandbox|uat)(?![a-z0-9])")
_ENV_HINTS = ("prod", "prd", "stag", "stg", "sandbox", "uat")
# Firing and resolved are not facets: a resolved notice gets its own fingerprint but closes its incident
# (see status.py). These other states are alerts of their own.
_STATUS = {
    "insufficient_data": "nodata", "no_data": "nodata", "nodata": "nodata", "pending": "pending",
    "acknowledged": "ack", "suppressed": "silenced", "silenced": "silenced", "unknown": "unknown",
}
# Words that make the number beside them the size of a failure: 0 of them is benign, any is not.
# Nouns count failures wherever a number stands before them (`912 errors`); states (`3 failed`, `2 down`) only
# when the number is not an id that names a thing (`job 12345 failed`).
_IMPACT_NOUNS = (
    r"errors?|errs?|failures?|fails|exceptions?|timeouts?|crash(?:es)?|restarts?|panics?|5xx|4xx|violations|"
    r"retries|drops|rejections|incidents|alerts"
)
_IMPACT_STATES = (
    r"failed|failing|timed[ -]out|crashed|unhealthy|healthy|down|unavailable|unreachable|lost|dropped|rejected|"
    r"denied|refused|missing|corrupt(?:ed)?|offline|degraded|broken"
)
_IMPACT_WORDS = _IMPACT_NOUNS + "|" + _IMPACT_STATES
_COUNT_LEAD = r"(?:^|[^\w\s.:/-]\s*|\b(?:with|and|are|were|is|has|had|have|of|saw|found|got|see)\s+)"
_NUM = r"(\d+(?:\.\d+)?)"
_COUNT = re.compile(rf"(?<![\w.:/-]){_NUM}\s+(?:\w+\s+)?({_IMPACT_NOUNS})\b")
_STATE_COUNT = re.compile(rf"{_COUNT_LEAD}{_NUM}\s+(?:\w+\s+)?({_IMPACT_STATES})\b")
_KEYED_COUNT = re.compile(rf"\b(\w*?(?:{_IMPACT_WORDS})\w*)[\s*_\"'`]*[:=][\s\"'`]*{_NUM}(?![\d.%])")
_PERCENT = re.compile(rf"(?<![\w.]){_NUM}\s?%")
_PORTION = re.compile(r"(?<![\w./:-])(\d+)\s*(?:/|of|out of)\s*(\d+)(?![\w./:-])")


def _share(value: float) -> str:
    """A percentage's class: none, a trace, part, most, all. Values within a class are one incident."""
    if value <= 0:
        return "none"
    if value < 1:
        return "trace"
    if value < 50:
        return "part"
    if value < 100:
        return "most"
    return "all"


def _severity(value: str) -> str | None:
    low = value.lower()
    if low in _SEVERITY:
        return _SEVERITY[low]
    code = _SEVERITY_CODE.match(low)
    return f"p{code.group(1)}" if code else None


def _impact_word(word: str) -> str:
    low = word.replace(" ", "-")
    return low[:-1] if low.endswith("s") and low not in ("crashes", "retries") else low


def _impact_facets(head: str, out: set[str]) -> None:
    if "%" in head:
        for match in _PERCENT.finditer(head):
            out.add(f"pct:{_share(float(match.group(1)))}")
    for match in _PORTION.finditer(head) if "/" in head or "of" in head else ():
        part, whole = int(match.group(1)), int(match.group(2))
        if whole > 0 and part <= whole:
            out.add("of:" + ("none" if part == 0 else "all" if part == whole else "some"))
    for counted in (_COUNT, _STATE_COUNT):
        for match in counted.finditer(head):
            out.add(f"n:{_impact_word(match.group(2))}={'none' if float(match.group(1)) <= 0 else 'some'}")
    for match in _KEYED_COUNT.finditer(head):
        out.add(f"n:{match.group(1).lower()}={'none' if float(match.group(2)) <= 0 else 'some'}")


def facets(text: str, header: str = "") -> tuple[str, ...]:
    """The sorted facets of a message; `header` is its log header (where a level word sits), if any."""
    low = text[:_SCAN_CHARS].lower()
    out: set[str] = set()
    for word in header.lower().split():
        word = word.strip("[]<>:(),")
        if word in _SEVERITY and word not in ("ok", "alert", "page", "low", "high"):
            # info and below is what a line without a level means too: only a raised level sets it apart
            if _SEVERITY[word] not in ("debug", "info"):
                out.add(f"sev:{_SEVERITY[word]}")
            break
    for match in _KEYED.finditer(low):
        kind, value = _KEY_KIND.get(match.group(1)), match.group(2)
        if kind == "sev":
            level = _severity(value)
            if level is not None:
                out.add(f"sev:{level}")
        elif kind == "env" and value in _ENV:
            out.add(f"env:{_ENV[value]}")
        elif kind == "status" and value in _STATUS:
            out.add(f"status:{_STATUS[value]}")
    if any(hint in low for hint in _ENV_HINTS) and not any(f.startswith("env:") for f in out):
        for match in _ENV_IN_NAMES.finditer(low):
            out.add(f"env:{_ENV[match.group(1)]}")
    if _DIGIT.search(low):
        _impact_facets(low, out)
    return tuple(sorted(out))


def facet_token(found: tuple[str, ...]) -> str | None:
    """The one token that leads a message's identity tokens, or None when it has no facets."""
    return FACET_MARK + ",".join(found) if found else None


_IMPACT_KINDS = ("pct:", "of:", "n:")
ANY_IMPACT = "|*"


def is_facet_token(token: str) -> bool:
    return token.startswith(FACET_MARK)


def facet_shape(token: str) -> str:
    """A facet token without its size-of-impact facets: what a resolved notice shares with its firing."""
    found = token[len(FACET_MARK) :].removesuffix(ANY_IMPACT).split(",")
    kept = [f for f in found if f and not f.startswith(_IMPACT_KINDS)]
    return FACET_MARK + ",".join(kept)


def resolved_token(token: str) -> str:
    """The facet token of a resolved notice: its numbers tell the recovery, so any impact class matches."""
    return facet_shape(token) + ANY_IMPACT


def facets_agree(template: str, message: str) -> bool:
    """Does a message's facet token fit a template's (equal, or a resolved notice's shape)?"""
    if template == message:
        return True
    return message.endswith(ANY_IMPACT) and facet_shape(template) == facet_shape(message)
