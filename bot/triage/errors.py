"""Typed errors of the pipeline, mapped to HTTP status or a degraded card at the edges."""

from __future__ import annotations


class TriageError(Exception):
    """Base of every error the pipeline raises on purpose."""


class InputError(TriageError):
    """The input cannot be triaged (empty, not text); the caller gets a clear message."""

    status_code = 422


class InputTooLarge(InputError):
    """The input is beyond what the gateway accepts at all (before truncation)."""

    status_code = 413


class ModelError(TriageError):
    """The model did not give a usable card; `kind` names why (timeout, rate_limited, invalid_output...)."""

    def __init__(self, kind: str, model: str, detail: str = "", retries: int = 0) -> None:
        super().__init__(f"{kind} from {model}: {detail}" if detail else f"{kind} from {model}")
        self.kind = kind
        self.model = model
        self.detail = detail
        self.retries = retries
        self.tokens_in = 0
        self.tokens_out = 0
