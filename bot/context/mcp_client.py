"""An MCP server as a tool provider: one connection kept open by its own task, reopened when it drops."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog
from mcp import Client, StdioServerParameters
from mcp.types import TextContent

from bot.context.mcp_config import ServerSpec
from bot.context.tools import ToolFailure, ToolSpec

log = structlog.get_logger("bot.context.mcp")

CONNECT_TIMEOUT = 15.0


def target_of(spec: ServerSpec) -> Any:
    """What `mcp.Client` connects to: stdio parameters, or a streamable HTTP transport."""
    if spec.command is not None:
        return StdioServerParameters(command=spec.command, args=list(spec.args), env=dict(spec.env) or None,
                                     cwd=spec.cwd)
    assert spec.url is not None
    if spec.headers:
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        return streamable_http_client(spec.url, http_client=httpx2.AsyncClient(headers=dict(spec.headers)))
    return spec.url


def text_of(result: Any) -> str:
    """The text blocks of a tool result; other blocks (images, resources) are named, not inlined."""
    parts = []
    for block in getattr(result, "content", None) or []:
        if isinstance(block, TextContent):
            parts.append(block.text)
        else:
            parts.append(f"[{getattr(block, 'type', 'content')} omitted]")
    if not parts and getattr(result, "structured_content", None) is not None:
        parts.append(str(result.structured_content))
    return "\n".join(parts)


class McpProvider:
    """Tools of one configured MCP server. The connection lives in a task of its own (the SDK's streams
    must be opened and closed by one task); calls from any triage go through it."""

    def __init__(self, spec: ServerSpec, *, connect_timeout: float = CONNECT_TIMEOUT) -> None:
        self.name = spec.name
        self.spec = spec
        self.connect_timeout = connect_timeout
        self._client: Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._lock = asyncio.Lock()

    async def _keep(self, ready: asyncio.Event, stop: asyncio.Event) -> None:
        try:
            client = Client(target_of(self.spec))
            async with client:
                self._client = client
                ready.set()
                await stop.wait()
        except Exception as exc:  # reported to the caller waiting on `ready`
            self._error = exc
            log.warning("mcp_server_down", server=self.name, error=repr(exc)[:300])
        finally:
            self._client = None
            ready.set()

    async def _connected(self) -> Client:
        async with self._lock:
            if self._client is not None and self._task is not None and not self._task.done():
                return self._client
            self._error = None
            ready, stop = asyncio.Event(), asyncio.Event()
            self._ready, self._stop = ready, stop
            self._task = asyncio.get_running_loop().create_task(self._keep(ready, stop), name=f"mcp-{self.name}")
            try:
                async with asyncio.timeout(self.connect_timeout):
                    await ready.wait()
            except TimeoutError:
                stop.set()
                raise ToolFailure(f"{self.name}: no connection within {self.connect_timeout:.0f} s") from None
            if self._client is None:
                raise ToolFailure(f"{self.name}: cannot connect ({type(self._error).__name__})")
            return self._client

    async def list_tools(self) -> list[ToolSpec]:
        client = await self._connected()
        listed = await client.list_tools()
        allow = set(self.spec.allow)
        return [
            ToolSpec(self.name, tool.name, tool.description or "", dict(tool.input_schema or {}))
            for tool in listed.tools
            if not allow or tool.name in allow
        ]

    async def call(self, tool: str, arguments: dict[str, Any], timeout: float) -> str:
        client = await self._connected()
        result = await client.call_tool(tool, arguments, read_timeout_seconds=timeout)
        text = text_of(result)
        if result.is_error:
            raise ToolFailure(text[:300] or "the tool reported an error")
        return text

    async def aclose(self) -> None:
        if self._stop is not None:
            self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                async with asyncio.timeout(5.0):
                    await self._task
