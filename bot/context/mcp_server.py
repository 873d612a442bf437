"""`triage-bot mcp`: the gateway as an MCP server over stdio, so assistants and agents triage through it.

The tools call the same TriageService as HTTP and Slack: validation, redaction, cache, budget, the audit.
"""

from __future__ import annotations

import json
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import ValidationError

from bot.memory.judge import UnknownTriage
from bot.memory.verdicts import VerdictError, VerdictRequest
from bot.triage.errors import InputError
from bot.wiring import Gateway

INSTRUCTIONS = (
    "Triage Gateway: turns an alert, log excerpt or stack trace into a validated triage card (category, "
    "severity P0-P3, summary, three next steps, confidence), with the team's runbook, recent changes and "
    "earlier similar incidents. Record whether a card was right with feedback."
)


def build_server(gateway: Gateway) -> MCPServer:
    server = MCPServer("triage-gateway", instructions=INSTRUCTIONS)
    service = gateway.service
    judge = gateway.judge

    @server.tool()
    async def triage(text: str) -> dict[str, Any]:
        """Triage one alert, ticket, log excerpt or stack trace; returns the card and its meta."""
        try:
            result = await service.triage(text, source="mcp")
        except InputError as exc:
            raise ToolError(str(exc)) from None
        return dict(json.loads(result.model_dump_json()))

    @server.tool()
    async def similar_incidents(text: str) -> list[dict[str, Any]]:
        """Earlier incidents whose text resembles this one, with the team's verdicts, most relevant first."""
        recalled = await service.store.run(service.store.recall, "", text[:16_000])
        keys = ("triage_id", "at", "severity", "category", "verdict", "by", "summary")
        return [{k: item.get(k) for k in keys} for item in recalled.get("similar") or ()]

    @server.tool()
    async def feedback(
        triage_id: str, verdict: str, by: str, severity: str | None = None, category: str | None = None
    ) -> dict[str, Any]:
        """Record a verdict on a card: verdict "confirm" or "override" (with the right severity and/or
        category), and who gives it. Later cards of the same incident follow it."""
        if judge is None:
            raise ToolError("feedback is not available")
        try:
            request = VerdictRequest(verdict=verdict, severity=severity, category=category, by=by)  # type: ignore[arg-type]
            return await judge.judge(triage_id, request, origin="mcp")
        except ValidationError as exc:
            raise ToolError("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from None
        except UnknownTriage:
            raise ToolError(f"no triage with id {triage_id}") from None
        except VerdictError as exc:
            raise ToolError(str(exc)) from None

    return server


async def serve_stdio(gateway: Gateway) -> None:
    await gateway.start()
    try:
        await build_server(gateway).run_stdio_async()
    finally:
        await gateway.aclose()
