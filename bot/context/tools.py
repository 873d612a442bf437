"""The model's tools: what it may look up during a triage, bounded in count, time and size, and audited.

Tools come from providers (MCP servers, and the gateway's own context under the server name `triage`).
A ToolSession belongs to one triage: it offers the definitions to the model, runs the calls it asks for
within the triage's deadline, fences and redacts what comes back, and keeps a record of every call.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from bot.context.model import ToolUse
from bot.redaction import redact

log = structlog.get_logger("bot.context.tools")

RESULT_CHARS = 4000
ARGUMENT_CHARS = 500
ERROR_CHARS = 200
CALL_TIMEOUT = 10.0
# Left for the model's final answer when a tool call is given time out of the triage's deadline.
ANSWER_RESERVE = 0.3
MIN_CALL_SECONDS = 0.2
TOOL_OPEN = "<<<TOOL"
TOOL_CLOSE = "TOOL>>>"
_FUNCTION_NAME = re.compile(r"[^A-Za-z0-9_-]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class ToolFailure(Exception):
    """A tool could not answer; the message says why (shown to the model and kept in the audit)."""


@dataclass(frozen=True)
class ToolSpec:
    """One tool as offered to the model."""

    server: str
    name: str
    description: str
    parameters: dict[str, Any]

    @property
    def function_name(self) -> str:
        """`server__tool`, in the characters and length Chat Completions accepts."""
        return _FUNCTION_NAME.sub("_", f"{self.server}__{self.name}")[:64]

    @property
    def label(self) -> str:
        return f"{self.server}.{self.name}"

    def definition(self) -> dict[str, Any]:
        params = self.parameters if self.parameters.get("type") == "object" else {"type": "object", "properties": {}}
        return {
            "type": "function",
            "function": {"name": self.function_name, "description": self.description[:1000], "parameters": params},
        }


class ToolProvider(Protocol):
    """Something that lists tools and runs them (an MCP server, the gateway's own context)."""

    name: str

    async def list_tools(self) -> list[ToolSpec]: ...

    async def call(self, tool: str, arguments: dict[str, Any], timeout: float) -> str: ...


def fence(label: str, text: str) -> str:
    """Tool output as data for the model: its delimiters broken inside, so it cannot end its own block."""
    text = text.replace(TOOL_OPEN, "<< <TOOL").replace(TOOL_CLOSE, "TOOL> >>")
    text = text.replace("<<<ALERT", "<< <ALERT").replace("ALERT>>>", "ALERT> >>")
    return f"{TOOL_OPEN} {label}\n{text}\n{TOOL_CLOSE}"


def clean_output(text: str) -> str:
    """Redacted and without control characters: tool output is untrusted, like alert text."""
    masked, _ = redact(_CONTROL.sub("", text))
    return masked


def redacted_arguments(arguments: dict[str, Any]) -> str:
    """The arguments as stored in the audit: JSON, secrets masked, cut to a bounded size."""
    text = json.dumps(arguments, ensure_ascii=False, sort_keys=True, default=str)
    masked, _ = redact(text)
    return masked if len(masked) <= ARGUMENT_CHARS else masked[: ARGUMENT_CHARS - 1] + "…"


@dataclass
class ToolSession:
    """The look-ups of one triage: at most `limit` calls, each within the deadline, each recorded."""

    specs: dict[str, tuple[ToolSpec, ToolProvider]]
    limit: int
    monotonic: Callable[[], float] = time.monotonic
    call_timeout: float = CALL_TIMEOUT
    result_chars: int = RESULT_CHARS
    uses: list[ToolUse] = field(default_factory=list)
    unavailable: list[str] = field(default_factory=list)

    @property
    def remaining(self) -> int:
        return max(self.limit - len(self.uses), 0)

    def definitions(self) -> list[dict[str, Any]]:
        return [spec.definition() for spec, _ in self.specs.values()]

    async def run(self, function: str, raw_arguments: str | None, deadline: float) -> str:
        """Run one call the model asked for; always returns the text to hand back, never raises."""
        found = self.specs.get(function)
        server, tool = found[0].server if found else "?", found[0].name if found else function[:64]
        label = f"{server}.{tool}"
        try:
            arguments = json.loads(raw_arguments or "{}")
        except (ValueError, RecursionError):
            arguments = None
        if not isinstance(arguments, dict):
            return self._record(server, tool, {}, "error", 0.0, 0, "arguments are not a JSON object")
        if found is None:
            return self._record(server, tool, arguments, "refused", 0.0, 0, "no such tool")
        if self.remaining <= 0:
            return self._record(server, tool, arguments, "refused", 0.0, 0,
                                f"the limit of {self.limit} look-ups per triage is reached")
        spec, provider = found
        timeout = min(self.call_timeout, (deadline - self.monotonic()) * (1 - ANSWER_RESERVE))
        if timeout < MIN_CALL_SECONDS:
            return self._record(server, tool, arguments, "refused", 0.0, 0, "no time left before the deadline")
        began = self.monotonic()
        try:
            async with asyncio.timeout(timeout):
                output = await provider.call(spec.name, arguments, timeout)
        except TimeoutError:
            return self._record(server, tool, arguments, "timeout", self._ms(began), 0,
                                f"no answer within {timeout:.1f} s")
        except ToolFailure as exc:
            return self._record(server, tool, arguments, "error", self._ms(began), 0, str(exc))
        except Exception as exc:  # a tool server's own failure must never break the card
            log.warning("tool_call_failed", tool=label, error=repr(exc)[:300])
            return self._record(server, tool, arguments, "error", self._ms(began), 0, type(exc).__name__)
        size = len(output)
        outcome = "ok"
        if size > self.result_chars:
            output = output[: self.result_chars] + f"\n[cut: {size - self.result_chars} more characters]"
            outcome = "cut"
        content = fence(label, clean_output(output))
        self._record(server, tool, arguments, outcome, self._ms(began), size, None)
        return content

    def _ms(self, began: float) -> float:
        return round((self.monotonic() - began) * 1000, 3)

    def _record(
        self, server: str, tool: str, arguments: dict[str, Any], outcome: str, latency_ms: float, size: int,
        error: str | None,
    ) -> str:
        error_text = clean_output(error)[:ERROR_CHARS] if error else None
        self.uses.append(ToolUse(server=server, tool=tool, arguments=redacted_arguments(arguments),
                                 outcome=outcome, latency_ms=latency_ms, result_chars=size,  # type: ignore[arg-type]
                                 error=error_text))
        if error_text:
            return fence(f"{server}.{tool}", f"[look-up failed: {outcome}: {error_text}]")
        return ""


class ToolBox:
    """Every tool provider of the gateway; lists their tools once and opens a session per triage."""

    def __init__(
        self,
        providers: Sequence[ToolProvider],
        *,
        limit: int,
        monotonic: Callable[[], float] = time.monotonic,
        list_timeout: float = 10.0,
        call_timeout: float = CALL_TIMEOUT,
    ) -> None:
        self.providers = list(providers)
        self.limit = limit
        self._monotonic = monotonic
        self._list_timeout = list_timeout
        self.call_timeout = call_timeout
        self._listed: dict[str, list[ToolSpec]] = {}
        # when a provider that failed to list may be asked again
        self._retry_at: dict[str, float] = {}
        self._listing: dict[str, asyncio.Task[list[ToolSpec]]] = {}

    async def session(self, deadline: float | None = None) -> ToolSession | None:
        """A session for one triage, or None when look-ups are off (limit 0) or no tool is offered."""
        if self.limit <= 0 or not self.providers:
            return None
        specs: dict[str, tuple[ToolSpec, ToolProvider]] = {}
        unavailable: list[str] = []
        for provider in self.providers:
            tools = await self._tools(provider, deadline)
            if tools is None:
                unavailable.append(provider.name)
                continue
            for spec in tools:
                specs.setdefault(spec.function_name, (spec, provider))
        if not specs:
            return None
        return ToolSession(specs, self.limit, self._monotonic, self.call_timeout, unavailable=unavailable)

    def warm(self) -> None:
        """Start listing every provider's tools now (MCP servers take a moment to start), without waiting."""
        for provider in self.providers:
            self._listing_task(provider)

    def _listing_task(self, provider: ToolProvider) -> asyncio.Task[list[ToolSpec]] | None:
        task = self._listing.get(provider.name)
        if task is None:
            if self._retry_at.get(provider.name, 0.0) > self._monotonic():
                return None
            task = asyncio.get_running_loop().create_task(provider.list_tools(), name=f"tools-{provider.name}")
            self._listing[provider.name] = task
        return task

    async def _tools(self, provider: ToolProvider, deadline: float | None) -> list[ToolSpec] | None:
        """The provider's tools; None when it is not ready within this triage's share of the deadline.

        A slow start goes on in the background, so a later triage finds the server ready.
        """
        if provider.name in self._listed:
            return self._listed[provider.name]
        task = self._listing_task(provider)
        if task is None:
            return None
        now = self._monotonic()
        timeout = self._list_timeout if deadline is None else min(self._list_timeout, (deadline - now) / 4)
        await asyncio.wait({task}, timeout=max(timeout, 0.01))
        if not task.done():
            return None
        self._listing.pop(provider.name, None)
        error = task.exception()
        if error is not None:  # an unreachable server is left out, and asked again a little later
            log.warning("tool_server_unavailable", server=provider.name, error=repr(error)[:300])
            self._retry_at[provider.name] = self._monotonic() + 30.0
            return None
        self._listed[provider.name] = task.result()
        return self._listed[provider.name]

    async def aclose(self) -> None:
        for task in self._listing.values():
            task.cancel()
        for provider in self.providers:
            close = getattr(provider, "aclose", None)
            if close is not None:
                try:
                    await close()
                except Exception:
                    log.warning("tool_server_close_failed", server=provider.name, exc_info=True)
