"""The redaction the gateway shipped before, kept as the benchmark baseline for benchmarks/redact.py."""

from __future__ import annotations

import re
from collections.abc import Callable

_SECRET_KEYS = (
    r"password|passwd|pwd|pass|secret|client_secret|secret_key|token|access_token|refresh_token|auth_token"
    r"|api_key|apikey|api-key|x-api-key|access_key|aws_secret_access_key|private_key|credentials?"
)

# (kind, pattern, replacement builder); order matters: whole blocks first, generic key=value last.
_Rule = tuple[str, re.Pattern[str], Callable[[re.Match[str]], str]]


def _mask(kind: str) -> Callable[[re.Match[str]], str]:
    return lambda m: f"[REDACTED:{kind}]"


def _keep_prefix(kind: str) -> Callable[[re.Match[str]], str]:
    return lambda m: f"{m.group(1)}[REDACTED:{kind}]"


_RULES: list[_Rule] = [
    (
        "private_key",
        re.compile(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.S
        ),
        _mask("private_key"),
    ),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), _mask("jwt")),
    ("slack_token", re.compile(r"\bx(?:ox[abposr]|app)-[A-Za-z0-9-]{10,}"), _mask("slack_token")),
    (
        "slack_webhook",
        re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]+"),
        _mask("slack_webhook"),
    ),
    ("aws_access_key", re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b"), _mask("aws_access_key")),
    (
        "api_token",
        re.compile(
            r"\b(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}"
            r"|glpat-[A-Za-z0-9_-]{20,}|AIza[0-9A-Za-z_-]{35}|(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"
            r"|npm_[A-Za-z0-9]{36})"
        ),
        _mask("api_token"),
    ),
    (
        "bearer_token",
        re.compile(
            r"(?i)(\bbearer\s+|\bauthorization[\"']?\s*[:=]\s*[\"']?(?:basic\s+|token\s+)?)"
            r"(?!\[REDACTED)[A-Za-z0-9\-._~+/]{12,}=*"
        ),
        _keep_prefix("bearer_token"),
    ),
    (
        "url_password",
        re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]+:)(?!\[REDACTED)[^\s@/]+(?=@)"),
        _keep_prefix("url_password"),
    ),
    (
        "key_value",
        re.compile(
            rf"""(?i)(\b(?:{_SECRET_KEYS})["']?\s*[=:]\s*["']?)(?!\[REDACTED)[^\s"',;&)}}\]]{{3,}}"""
        ),
        _keep_prefix("key_value"),
    ),
]


def redact(text: str) -> tuple[str, list[str]]:
    """Return the text with secrets masked and the sorted kinds that were found."""
    kinds: set[str] = set()
    for kind, pattern, replace in _RULES:
        text, count = pattern.subn(replace, text)
        if count:
            kinds.add(kind)
    return text, sorted(kinds)
