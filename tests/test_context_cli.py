"""`triage-bot runbooks` and `triage-bot mcp`, run as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from mcp import Client, StdioServerParameters

BIN = Path(sys.executable).parent / "triage-bot"


def env(tmp_path: Path, **extra: str) -> dict[str, str]:
    values = {k: v for k, v in os.environ.items() if not k.startswith(("TRIAGE_", "OPENAI_", "SLACK_"))}
    values.update(TRIAGE_DB=str(tmp_path / "triage.db"), **extra)
    return values


def test_runbooks_lists_the_index_and_the_files_it_cannot_use(tmp_path: Path) -> None:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "disk.md").write_text("---\nservices: [orders-db]\n---\n# Disk full\n## Steps\n- Free space\n- Grow it\n")
    (folder / "prose.md").write_text("# Only prose\nNothing to do.\n")
    (folder / "bad.md").write_bytes(b"\xff\xfe\x00garbage")
    (folder / "open.md").write_text("---\nalerts: [A]\n# never closed\n## Steps\n- a step\n- b step\n")
    run = subprocess.run([str(BIN), "runbooks"], env=env(tmp_path, TRIAGE_RUNBOOKS=str(folder)),
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1, run.stderr
    assert "1 runbook indexed" in run.stdout and "disk.md  Disk full  (2 steps)" in run.stdout
    assert "prose.md: needs a \"Steps\" heading" in run.stdout
    assert "bad.md: not UTF-8" in run.stdout and "open.md: front matter" in run.stdout
    as_json = subprocess.run([str(BIN), "runbooks", "--json"], env=env(tmp_path, TRIAGE_RUNBOOKS=str(folder)),
                             capture_output=True, text=True, timeout=60)
    body = json.loads(as_json.stdout)
    assert [b["path"] for b in body["runbooks"]] == ["disk.md"] and len(body["unusable"]) == 3
    unset = subprocess.run([str(BIN), "runbooks"], env=env(tmp_path), capture_output=True, text=True, timeout=60)
    assert unset.returncode == 2 and "TRIAGE_RUNBOOKS" in unset.stderr


async def test_the_gateway_serves_triage_over_mcp(tmp_path: Path) -> None:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "crash.md").write_text("---\nalerts: [KubePodCrashLooping]\n---\n# Crash loop\n## Steps\n"
                                     "- Read the previous container logs\n- Roll back the last deploy\n")
    params = StdioServerParameters(command=str(BIN), args=["mcp"], env=env(tmp_path, TRIAGE_RUNBOOKS=str(folder)))
    async with Client(params) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert names == {"triage", "similar_incidents", "feedback"}
        result = await client.call_tool("triage", {"text": "[FIRING:1] KubePodCrashLooping payments-api-0 prod"})
        assert not result.is_error
        card = json.loads(result.content[0].text)  # type: ignore[union-attr]
        assert card["meta"]["source"] == "mcp" and card["meta"]["runbook"]["path"] == "crash.md"
        assert card["steps"][0] == "Read the previous container logs"
        judged = await client.call_tool("feedback", {"triage_id": card["meta"]["triage_id"], "verdict": "override",
                                                     "severity": "P1", "by": "agent"})
        assert not judged.is_error
        precedent = json.loads(judged.content[0].text)["precedent"]  # type: ignore[union-attr]
        # Given through the MCP tool: its author is a name, recorded with where it came from.
        assert precedent["severity"] == "P1" and precedent["origin"] == "mcp"
        similar = await client.call_tool("similar_incidents", {"text": "KubePodCrashLooping payments-api-0"})
        assert not similar.is_error
        bad = await client.call_tool("feedback", {"triage_id": "nope", "verdict": "confirm", "by": "agent"})
        assert bad.is_error and "no triage" in bad.content[0].text  # type: ignore[union-attr]
        empty = await client.call_tool("triage", {"text": "   "})
        assert empty.is_error
