"""What a run was made from: the commit, the settings that shape answers, and where the held-out sets are."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bot.settings import Settings

# Case files whose name says "holdout" were never tuned on: their figures are shown beside the dev figures.
HOLDOUT_MARK = "holdout"
_REPO = Path(__file__).resolve().parents[2]


def current_commit(directory: Path = _REPO) -> str:
    """`git rev-parse HEAD` (with "+dirty" for uncommitted changes) or, outside a checkout, the package version."""
    try:
        head = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(directory), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        head, dirty = "", ""
    if head:
        return head + ("+dirty" if dirty else "")
    try:
        return f"triage-gateway {metadata.version('triage-gateway')}"
    except metadata.PackageNotFoundError:
        return "unknown"


def answer_settings(settings: Settings, prompt_version: str | None) -> dict[str, Any]:
    """The settings that change what the engines answer (never a secret): two runs differ where these do."""
    return {
        "model_enabled": settings.model_enabled,
        "openai_base_url": _without_credentials(settings.openai_base_url),
        "model_fast": settings.model_fast,
        "model_strong": settings.model_strong,
        "prompt_version": prompt_version,
        "min_confidence": settings.min_confidence,
        "review_confidence": settings.review_confidence,
        "strong_input_chars": settings.strong_input_chars,
        "max_input_chars": settings.max_input_chars,
        "model_attempts": settings.model_attempts,
        "deadline": settings.deadline,
        "daily_budget_usd": settings.daily_budget_usd,
    }


def _without_credentials(url: str | None) -> str | None:
    """A URL fit for a file others read: any user and password in it are dropped."""
    if not url:
        return url
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]))


def is_holdout(file: str) -> bool:
    return HOLDOUT_MARK in Path(file).name.lower()


def holdout_files(given: Sequence[str]) -> list[str]:
    """The held-out case files beside the given ones (same directories) that were not given themselves."""
    names = {Path(file).resolve() for file in given}
    found: list[str] = []
    for directory in dict.fromkeys(Path(file).resolve().parent for file in given):
        for candidate in sorted(directory.glob(f"*{HOLDOUT_MARK}*.jsonl")):
            if candidate.resolve() not in names and str(candidate) not in found:
                found.append(str(candidate))
    return found


def split_figures(cases: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Dev figures (files tuned on) beside held-out figures (files never tuned on), from a run's cases."""
    def figures(subset: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
        if not subset:
            return None
        total = len(subset)

        def share(key: str) -> float:
            return round(sum(bool(case.get(key)) for case in subset) / total, 4)

        return {
            "cases": total,
            "files": list(dict.fromkeys(str(case.get("file", "")) for case in subset)),
            "schema_valid": share("schema_valid"),
            "category_accuracy": share("category_ok"),
            "severity_accuracy": share("severity_ok"),
            "both_correct": round(
                sum(bool(case.get("category_ok")) and bool(case.get("severity_ok")) for case in subset) / total, 4
            ),
            "degraded": share("degraded"),
        }

    dev = [case for case in cases if not is_holdout(str(case.get("file", "")))]
    held = [case for case in cases if is_holdout(str(case.get("file", "")))]
    return {"dev": figures(dev), "holdout": figures(held)}


def degraded_cases(cases: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """How many cases fell back to the heuristic engine, and why."""
    reasons: dict[str, int] = {}
    for case in cases:
        if case.get("degraded"):
            reason = str(case.get("degraded_reason") or "unknown")
            reasons[reason] = reasons.get(reason, 0) + 1
    count = sum(reasons.values())
    return {"count": count, "share": round(count / len(cases), 4) if cases else 0.0, "reasons": reasons}
