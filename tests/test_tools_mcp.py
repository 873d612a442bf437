"""The model's tools: a real MCP server over stdio and the fake OpenAI server scripted to call tools."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bot.context.mcp_config import McpConfigError, load_config, parse_config
from bot.context.slack import tools_line
from bot.wiring import Gateway
from tests.conftest import GatewayFactory
from tests.fakes.openai_server import FakeOpenAI, Reply

FAKE_MCP = Path(__file__).parent / "fakes" / "mcp_server.py"
ALERT = "alertname=PostgresReplicationLag service=orders-db replica db-2 is 300 s behind"


def mcp_config(tmp_path: Path) -> tuple[str, Path]:
    log = tmp_path / "mcp-calls.jsonl"
    config = tmp_path / "mcp.json"
    config.write_text(json.dumps({"mcpServers": {
        "prometheus": {"command": sys.executable, "args": [str(FAKE_MCP)], "env": {"FAKE_MCP_LOG": str(log)}},
    }}))
    return str(config), log


async def ready(gateway: Gateway) -> None:
    """Start the MCP server before the first triage, as `serve` does at start-up."""
    assert gateway.service.tools is not None
    gateway.service.tools.warm()
    session = await gateway.service.tools.session()
    assert session is not None and "prometheus__query" in session.specs


def calls_made(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def tool_messages(fake: FakeOpenAI) -> list[dict[str, Any]]:
    return [m for r in fake.requests for m in (r["json"] or {}).get("messages", []) if m.get("role") == "tool"]


async def test_the_model_looks_things_up_and_every_call_is_audited(
    tmp_path: Path, fake_openai: FakeOpenAI, gateways: GatewayFactory
) -> None:
    config, log = mcp_config(tmp_path)
    gateway = gateways.build(fake_openai, mcp_config=config, deadline=20.0)
    gateway.store.add_change({"service": "orders-db", "summary": "raised max_wal_senders", "at": time.time()},
                             time.time())
    fake_openai.script(
        Reply.call_tools(("prometheus__query", {"expr": "pg_replication_lag{instance='db-2'}"}),
                         ("triage__recent_changes", {"service": "orders-db"})),
        Reply.call_tools(("prometheus__query", {"expr": "up{job='postgres'}", "password": "hunter2hunter2"})),
        Reply.card(),
    )
    try:
        await ready(gateway)
        result = await gateway.service.triage(ALERT, engine="model")
    finally:
        await gateway.service.tools.aclose()  # type: ignore[union-attr]

    assert result.meta.engine == "model" and not result.meta.degraded
    assert [(u.label, u.outcome) for u in result.meta.tools] == [
        ("prometheus.query", "ok"), ("triage.recent_changes", "ok"), ("prometheus.query", "ok"),
    ]
    assert [c["tool"] for c in calls_made(log)] == ["query", "query"]
    # The first request offered the tools; the answers went back fenced and redacted.
    offered = {t["function"]["name"] for t in fake_openai.requests[0]["json"]["tools"]}
    assert {"prometheus__query", "prometheus__slow", "triage__recent_changes", "triage__runbook_search"} - {
        "triage__runbook_search"} <= offered
    answers = tool_messages(fake_openai)
    assert answers[0]["content"].startswith("<<<TOOL prometheus.query\n") and answers[0]["content"].endswith("TOOL>>>")
    assert "ghp_" not in json.dumps(fake_openai.requests) and "[REDACTED" in answers[0]["content"]
    assert "raised max_wal_senders" in answers[1]["content"]
    audit = gateway.store.tool_calls_for(result.meta.triage_id)
    assert [(a["server"], a["tool"], a["outcome"]) for a in audit] == [
        ("prometheus", "query", "ok"), ("triage", "recent_changes", "ok"), ("prometheus", "query", "ok"),
    ]
    assert "hunter2" not in json.dumps(audit) and "pg_replication_lag" in audit[0]["arguments"]
    assert all(a["latency_ms"] >= 0 and a["result_chars"] > 0 for a in audit)
    assert tools_line(result) == ":mag: Looked up: prometheus.query ×2, triage.recent_changes"
    assert gateway.metrics.tool_calls.labels("prometheus", "query", "ok")._value.get() == 2


async def test_slow_huge_and_failing_tools_never_break_the_card(
    tmp_path: Path, fake_openai: FakeOpenAI, gateways: GatewayFactory
) -> None:
    config, _ = mcp_config(tmp_path)
    gateway = gateways.build(fake_openai, mcp_config=config, deadline=20.0)
    assert gateway.service.tools is not None
    gateway.service.tools.call_timeout = 1.0
    fake_openai.script(
        Reply.call_tools(("prometheus__slow", {"seconds": 30}), ("prometheus__huge", {}),
                         ("prometheus__broken", {})),
        Reply.card(),
    )
    began = time.monotonic()
    try:
        await ready(gateway)
        result = await gateway.service.triage(ALERT, engine="model")
    finally:
        await gateway.service.tools.aclose()
    assert time.monotonic() - began < 15
    assert result.meta.engine == "model"
    outcomes = [(u.tool, u.outcome) for u in result.meta.tools]
    assert outcomes == [("slow", "timeout"), ("huge", "cut"), ("broken", "error")]
    huge = tool_messages(fake_openai)[1]["content"]
    assert len(huge) < 5000 and "[cut: 996000 more characters]" in huge
    assert result.meta.tools[1].result_chars == 1_000_000
    assert "backend is down" in (result.meta.tools[2].error or "")
    line = tools_line(result) or ""
    assert "Looked up: prometheus.huge" in line
    assert "could not look up: prometheus.slow (timeout), prometheus.broken (error)" in line


async def test_calls_beyond_the_limit_are_refused(
    tmp_path: Path, fake_openai: FakeOpenAI, gateways: GatewayFactory
) -> None:
    config, log = mcp_config(tmp_path)
    gateway = gateways.build(fake_openai, mcp_config=config, deadline=20.0, tool_calls=2)
    fake_openai.script(
        Reply.call_tools(*[("prometheus__query", {"expr": f"q{i}"}) for i in range(5)]),
        Reply.call_tools(("prometheus__query", {"expr": "again"})),
        Reply.card(),
    )
    try:
        await ready(gateway)
        result = await gateway.service.triage(ALERT, engine="model")
    finally:
        await gateway.service.tools.aclose()  # type: ignore[union-attr]
    assert [u.outcome for u in result.meta.tools] == ["ok", "ok", "refused", "refused", "refused", "refused"]
    assert len(calls_made(log)) == 2
    # Once the calls are spent the model is told not to call any more.
    assert fake_openai.requests[1]["json"]["tool_choice"] == "none"
    assert len(tool_messages(fake_openai)) == 5 + 6  # each request carries the conversation so far


async def test_a_server_without_function_calling_is_asked_without_tools(
    fake_openai: FakeOpenAI, gateways: GatewayFactory
) -> None:
    gateway = gateways.build(fake_openai)
    fake_openai.script(Reply.error(400, "tools are not supported by this model"), Reply.card())
    result = await gateway.service.triage(ALERT, engine="model")
    assert result.meta.engine == "model" and not result.meta.degraded
    assert "tools" in fake_openai.requests[0]["json"] and "tools" not in fake_openai.requests[1]["json"]


async def test_an_unreachable_mcp_server_leaves_the_card_alone(
    tmp_path: Path, fake_openai: FakeOpenAI, gateways: GatewayFactory
) -> None:
    config = tmp_path / "mcp.json"
    config.write_text(json.dumps({"mcpServers": {"gone": {"command": str(tmp_path / "no-such-program")}}}))
    gateway = gateways.build(fake_openai, mcp_config=str(config))
    try:
        result = await gateway.service.triage(ALERT, engine="model")
    finally:
        await gateway.service.tools.aclose()  # type: ignore[union-attr]
    assert result.meta.engine == "model" and not result.meta.degraded
    offered = {t["function"]["name"] for t in fake_openai.requests[0]["json"]["tools"]}
    assert offered == {"triage__recent_changes", "triage__similar_incidents"}


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ({}, "mcpServers"),
        ({"mcpServers": {"a b": {"command": "x"}}}, "server name"),
        ({"mcpServers": {"triage": {"command": "x"}}}, "gateway's own"),
        ({"mcpServers": {"p": {}}}, "command"),
        ({"mcpServers": {"p": {"command": "x", "args": "--flag"}}}, "args"),
        ({"mcpServers": {"p": {"url": "file:///etc/passwd"}}}, "url"),
        ({"mcpServers": {"p": {"command": "x", "env": {"A": 1}}}}, "env"),
    ],
)
def test_mcp_config_errors_name_the_field(document: dict[str, Any], reason: str) -> None:
    with pytest.raises(McpConfigError, match=reason):
        parse_config(document)


def test_mcp_config_reads_stdio_and_http_servers(tmp_path: Path) -> None:
    path = tmp_path / "mcp.json"
    path.write_text(json.dumps({"mcpServers": {
        "prom": {"command": "npx", "args": ["-y", "prometheus-mcp"], "env": {"PROMETHEUS_URL": "http://prom:9090"}},
        "grafana": {"url": "https://grafana.example.com/mcp", "allow": ["query_range"]},
        "off": {"command": "x", "disabled": True},
    }}))
    specs = load_config(str(path))
    assert [(s.name, s.command, s.url, s.allow) for s in specs] == [
        ("prom", "npx", None, ()), ("grafana", None, "https://grafana.example.com/mcp", ("query_range",)),
    ]
    with pytest.raises(McpConfigError, match="not valid JSON"):
        path.write_text("{")
        load_config(str(path))


async def test_a_streamable_http_server_with_headers(
    tmp_path: Path, fake_openai: FakeOpenAI, gateways: GatewayFactory
) -> None:
    from tests.fakes.mcp_server import server as prometheus
    from tests.servers import serve

    config = tmp_path / "mcp.json"
    with serve(prometheus.streamable_http_app(json_response=True)) as url:
        config.write_text(json.dumps({"mcpServers": {
            "prometheus": {"url": f"{url}/mcp", "headers": {"X-Team": "ops"}, "allow": ["query"]},
        }}))
        gateway = gateways.build(fake_openai, mcp_config=str(config), deadline=20.0)
        fake_openai.script(Reply.call_tools(("prometheus__query", {"expr": "up"})), Reply.card())
        try:
            await ready(gateway)
            result = await gateway.service.triage(ALERT, engine="model")
        finally:
            await gateway.service.tools.aclose()  # type: ignore[union-attr]
    assert [(u.label, u.outcome) for u in result.meta.tools] == [("prometheus.query", "ok")]
    offered = {t["function"]["name"] for t in fake_openai.requests[0]["json"]["tools"]}
    assert "prometheus__query" in offered and "prometheus__huge" not in offered
    assert "up => 0.97" in tool_messages(fake_openai)[0]["content"]
