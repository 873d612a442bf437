"""A real MCP server over stdio (the `mcp` SDK's MCPServer, formerly FastMCP) with tools that misbehave.

Run as `python tests/fakes/mcp_server.py`; each call is appended to the file named by FAKE_MCP_LOG.
"""

from __future__ import annotations

import asyncio
import json
import os

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("prometheus")


def _log(tool: str, arguments: dict[str, object]) -> None:
    path = os.environ.get("FAKE_MCP_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps({"tool": tool, "arguments": arguments}) + "\n")


@server.tool()
def query(expr: str) -> str:
    """Evaluate a PromQL expression and return the current value."""
    _log("query", {"expr": expr})
    # A credential in a tool's output must be masked before it is stored or sent on.
    return f"{expr} => 0.97 on db-2 (scraped with token ghp_abcdefghijklmnopqrstuvwxyz0123456789)"


@server.tool()
async def slow(seconds: float) -> str:
    """Answer after the given number of seconds."""
    _log("slow", {"seconds": seconds})
    await asyncio.sleep(seconds)
    return "late answer"


@server.tool()
def huge() -> str:
    """Return a megabyte of text."""
    _log("huge", {})
    return "x" * 1_000_000


@server.tool()
def broken() -> str:
    """Always fail."""
    _log("broken", {})
    raise ToolError("backend is down")


if __name__ == "__main__":
    server.run("stdio")
