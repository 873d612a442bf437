"""What keeps two look-alike alerts apart: severity label, environment, status and the size of the impact.

Masking turns every number and id into a parameter so that repeats of one alert coalesce. A few facts must
never be masked away, because a benign alert and a severe one differ only in them:

- the **severity label** the sender wrote (`severity=critical`, `*Severity:* warning`, `Priority: P1`, a log
  level in the header or at the start of the message);
- the **environment** (`env=staging`, `environment: production`, a `prod`/`staging` part of a name);
- the **status** the alert states beyond firing and resolved (`state: INSUFFICIENT_DATA`, `status: pending`;
  a resolved notice has its own fingerprint already and keeps its incident's key, see status.py);
- the **size of the impact** carried by a number: zero or not beside an impact word (`0 errors` vs
  `912 errors`), a share's class (none, under 1 %, part, 100 % or more: `0.1%` vs `100%`), how many of a
  whole (none, some or all: `0 of 4 healthy` vs `4 of 4`).

Each becomes one short facet (`sev:critical`, `env:prod`, `n:errors=some`, `pct:all`); the sorted facets lead
the identity tokens, so two messages with different facets never share a template. Values that do not change
the class (12 % vs 57 %, 12 vs 912 errors, a different host) still coalesce.
"""

from __future__ import annotations

import re

FACET_MARK = "\u2991"  # opens the facet token: no log or alert writes it
_SCAN_CHARS = 2000
_DIGIT = re.compile(r"\d")
# `key: value`, `key=value`, `*Key:* value`, on the lower-cased text
# (the character before the key is checked in Python: a leading lookbehind would slow every search)
_KEYED = re.compile(
    r"(severity|sev|priority|prio|urgency|log[._]?level|level|env|environment|deployment[._]environment"
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
# Firing and resolved are not facets: a resolved notice gets its own fingerprint but closes its incident
# (see status.py). These other states are alerts of their own.
_STATUS = {
    "insufficient_data": "nodata", "no_data": "nodata", "nodata": "nodata", "pending": "pending",
    "acknowledged": "ack", "suppressed": "silenced", "silenced": "silenced", "unknown": "unknown",
}
# Words that make the number beside them the size of a failure: 0 of them is benign, any is not.
# Nouns count failures wherever a number stands before them (`912 errors`); states (`3 failed`, `2 down`) only
# when the number is not an id that names a thing (`job 12345 failed`).
_IMPACT_NOUNS = frozenset(
    ["error", "errors", "err", "errs", "failure", "failures", "fails", "exception", "exceptions", "timeout",
     "timeouts", "crash", "crashes", "restart", "restarts", "panic", "panics", "5xx", "4xx", "violations",
     "retries", "drops", "rejections", "incidents", "alerts"]
)
_IMPACT_STATES = frozenset(
    ["failed", "failing", "timed-out", "crashed", "unhealthy", "healthy", "down", "unavailable", "unreachable",
     "lost", "dropped", "rejected", "denied", "refused", "missing", "corrupt", "corrupted", "offline",
     "degraded", "broken"]
)
# Keys whose number is a count of failures: `errors=0`, `failed_jobs: 12`, `error_count=3`.
_IMPACT_ROOTS = ("error", "fail", "exception", "timeout", "crash", "restart", "unhealthy", "lost", "drop", "reject",
                 "denied", "refused", "missing", "corrupt", "panic", "5xx", "4xx", "violation", "retr", "offline")
_IMPACT_ROOT = re.compile("|".join(_IMPACT_ROOTS))
# Words before a number that make it a count (`with 3 failed`), not an id (`job 12345 failed`).
_COUNT_LEAD = frozenset(["with", "and", "are", "were", "is", "has", "had", "have", "of", "saw", "found", "got", "see"])
# A number, then one or two words: checked against the impact words in Python (cheaper than alternations).


def _share(value: float) -> str:
    """A percentage's class: none, a trace (under 1 %), part, all. Values within a class are one incident:
    an alert re-fired at 12 % and at 57 % is one problem above one threshold; 0.1 % and 100 % are not."""
    if value <= 0:
        return "none"
    if value < 1:
        return "trace"
    if value < 100:
        return "part"
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


_EDGE = "()[]{},;\"'`*_|<>!?"
_NUMERIC = re.compile(r"^[~≈]?(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(%?)$")
_PAIR = re.compile(r"^([a-z_][\w.-]*?)[*_\"'`]*[:=][\"'`]*(\d+(?:\.\d+)?)(%?)$")


def _value(token: str) -> tuple[float, bool] | None:
    """(number, is a percentage) of a token that is only a number, else None."""
    match = _NUMERIC.match(token)
    return (float(match.group(1).replace(",", "")), bool(match.group(2))) if match else None


def _impact_facets(low: str, out: set[str]) -> None:
    """One pass over the words: only those that hold a digit are looked at."""
    words = low.split()
    for index, raw in enumerate(words):
        if _DIGIT.search(raw):
            impact_at(words, index, out)


def impact_at(words: list[str], index: int, out: set[str]) -> None:
    """The impact facet a word holding a digit gives, with the words around it (any case)."""
    raw = words[index]
    lead = raw[0]
    if not (lead.isdigit() or lead in "([~≈"):
        if ("=" in raw or ":" in raw) and (raw[-1].isdigit() or "%" in raw or raw[-2:-1].isdigit()):
            pair = _PAIR.match(raw.lower().strip(_EDGE).rstrip(".:"))
            if pair is not None:
                key, number, pct = pair.group(1), float(pair.group(2)), pair.group(3)
                if pct:
                    out.add(f"pct:{_share(number)}")
                elif _IMPACT_ROOT.search(key):
                    out.add(f"n:{key}={'none' if number <= 0 else 'some'}")
        return
    word = raw.strip(_EDGE).rstrip(".:")
    if not word or not word[0].isdigit() or (raw[-1] in "]:)>" and raw[0] in "[(<"):
        return  # `[97389]`, `(42)`: a pid or an id in brackets, not a count
    if not (word[-1].isdigit() or word[-1] == "%"):
        return  # `0x1f`, `12ms`, `blk_3`: an id or a measure, not a count
    size = len(words)
    following = words[index + 1].strip(_EDGE).lower() if index + 1 < size else ""
    if "/" in word:
        part, _, whole = word.partition("/")
        healthy = part.isdigit() and whole.isdigit() and 0 < int(whole) >= int(part) and _about_health(words, index)
        if healthy:
            out.add("of:" + ("none" if int(part) == 0 else "all" if part == whole else "some"))
        return
    value = _value(word)
    if value is None:
        return
    number, pct = value
    if pct or following == "%":
        out.add(f"pct:{_share(number)}")
        return
    if following in ("of", "out") and index + 2 < size:
        whole_at = index + 2 if following == "of" else index + 3
        total = _value(words[whole_at].strip(_EDGE)) if whole_at < size else None
        if total is not None and total[0] > 0 and number <= total[0] and _about_health(words, index):
            out.add("of:" + ("none" if number == 0 else "all" if number == total[0] else "some"))
            return
    if index > 0 and words[index - 1].endswith((":", "=")):
        key = words[index - 1].lower().strip(_EDGE).rstrip(":=").strip(_EDGE)
        if key and _IMPACT_ROOT.search(key):
            out.add(f"n:{key}={'none' if number <= 0 else 'some'}")
            return
    # `912 http errors`, `3 unhealthy targets`: one plain word may stand between the number and its noun
    middle = words[index + 1] if index + 1 < size else ""
    after = words[index + 2].strip(_EDGE).lower() if index + 2 < size and middle.isalpha() else ""
    for noun in (following, after):
        noun = noun.rstrip(".:")
        if noun in _IMPACT_NOUNS or (noun in _IMPACT_STATES and _counts(words, index)):
            out.add(f"n:{_impact_word(noun)}={'none' if number <= 0 else 'some'}")
            break


# How many of a whole are healthy, failed, up…: a part of a whole says something only about such a state
# (`0 of 4 healthy`, `2/3 replicas down`), not about progress (`Finished task 3.0 … (4/4)`).
_HEALTH = _IMPACT_NOUNS | _IMPACT_STATES | frozenset(
    ["up", "available", "ready", "running", "online", "passing", "passed", "succeeded", "ok", "reachable",
     "alive", "dead", "in-sync", "synced", "active", "inactive", "serving", "responding", "replicas", "nodes",
     "targets", "members", "brokers", "instances", "pods", "hosts", "backends", "endpoints", "checks"]
)


def _about_health(words: list[str], index: int) -> bool:
    near = words[max(0, index - 2) : index + 5]
    return any(word.strip(_EDGE).rstrip(".:;,").lower() in _HEALTH for word in near)


def _counts(words: list[str], index: int) -> bool:
    """Is the number at `index` a count rather than an id? First, after punctuation, or after `with`-like words."""
    if index == 0:
        return True
    before = words[index - 1]
    if before[-1] in ",;:()[]|>-=" or words[index][0] in "([":
        return True
    return before.strip(_EDGE).lower() in _COUNT_LEAD


def facets(text: str, header: str = "", impact: set[str] | None = None) -> tuple[str, ...]:
    """The sorted facets of a message; `header` is its log header (where a level word sits), if any, and
    `impact` the size-of-impact facets when the masking pass found them already (see mask_body)."""
    low = text[:_SCAN_CHARS].lower()
    out: set[str] = set()
    for word in header.lower().split():
        word = word.strip("[]<>:(),")
        # info and below is what a line without a level means too: only a raised level sets it apart,
        # and the message's own level after an info header counts (`Info  CBS  Warning: …`)
        if (
            word in _SEVERITY and word not in ("ok", "alert", "page", "low", "high")
            and _SEVERITY[word] not in ("debug", "info")
        ):
            out.add(f"sev:{_SEVERITY[word]}")
            break
    keyed = (
        "sev" in low or "prio" in low or "urgen" in low or "level" in low or "env" in low or "stage" in low
        or "tier" in low or "stat" in low
    )  # every key _KEYED knows holds one of these: most log lines hold none
    for match in _KEYED.finditer(low) if keyed else ():
        at = match.start()
        if at and (low[at - 1].isalnum() or low[at - 1] in "_.-"):
            continue  # the end of another word (`subenv=`, `my.state:`)
        kind, value = _KEY_KIND.get(match.group(1)), match.group(2)
        if kind == "sev":
            # a bare number is a priority only under a priority's name (`level=3` is often a volume or a depth)
            level = None if value.isdigit() and "level" in match.group(1) else _severity(value)
            if level is not None:
                out.add(f"sev:{level}")
        elif kind == "env" and value in _ENV:
            out.add(f"env:{_ENV[value]}")
        elif kind == "status" and value in _STATUS:
            out.add(f"status:{_STATUS[value]}")
    named = "prod" in low or "prd" in low or "stag" in low or "stg" in low or "sandbox" in low or "uat" in low
    if named and not any(f.startswith("env:") for f in out):
        for match in _ENV_IN_NAMES.finditer(low):
            out.add(f"env:{_ENV[match.group(1)]}")
    if impact is not None:
        out |= impact
    elif _DIGIT.search(low):
        # a header's numbers are clocks and pids, never the size of an impact
        _impact_facets(low[len(header) :] if header and low.startswith(header[:64].lower()) else low, out)
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
