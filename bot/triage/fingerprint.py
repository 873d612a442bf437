"""Alert fingerprints: what stays the same when the same problem fires again."""

from __future__ import annotations

import hashlib
import re

# Order matters: specific shapes before the generic number rule.
_VOLATILE: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^\s*(?:\[(?:firing|resolved)(?::\d+)?\]|:fire:|:white_check_mark:|:rotating_light:)\s*", re.I), ""),
    (
        re.compile(r"\b\d{4}-\d{2}-\d{2}[t ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:z|[+-]\d{2}:?\d{2}| ?utc)?", re.I),
        "<ts>",
    ),
    (re.compile(r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec) +\d{1,2} \d{2}:\d{2}:\d{2}\b", re.I), "<ts>"),
    (re.compile(r"\b\d{2}:\d{2}:\d{2}(?:[.,]\d+)?\b"), "<ts>"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<uuid>"),
    (re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{12,}\b", re.I), "<hex>"),
    # Kubernetes pod names: deployment-<replicaset hash>-<pod suffix>, statefulset pods keep their ordinal.
    # A match may only start where a name starts: starting inside `a-a-a-...` at every letter was quadratic.
    (re.compile(r"(?<![\w-])([a-z][a-z0-9-]*?)-[a-z0-9]{8,10}-[a-z0-9]{5}\b"), r"\1-<pod>"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), "<ip>"),
    (re.compile(r"(?i)\b(?:request|req|trace|span|correlation|txn)[_-]?id[=:\s]+\S+"), "<id>"),
    (
        re.compile(r"(?<![\w.-])[-+]?\d+(?:[.,]\d+)*(?:e[-+]?\d+)?(?:%|ms|s|m|h|d|b|kb|mb|gb|tb|x)?(?![\w-])", re.I),
        "<n>",
    ),
]
_SPACE = re.compile(r"\s+")


def canonical(text: str) -> str:
    """The text with what varies between repeats replaced by placeholders."""
    out = text.strip()
    for pattern, repl in _VOLATILE:
        out = pattern.sub(repl, out)
    return _SPACE.sub(" ", out).strip().casefold()


def fingerprint(text: str) -> str:
    """A short stable id of the problem an alert describes."""
    return hashlib.sha256(canonical(text).encode("utf-8")).hexdigest()[:16]
