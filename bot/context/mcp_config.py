"""TRIAGE_MCP_CONFIG: the MCP servers the model may call, in the usual `mcpServers` JSON format."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.context.links import safe_url
from bot.settings import ConfigError

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
# The gateway's own tools are offered under this server name.
BUILTIN_SERVER = "triage"


class McpConfigError(ConfigError):
    """The MCP configuration cannot be used; the message names the server and the field."""


@dataclass(frozen=True)
class ServerSpec:
    """One MCP server: a command started over stdio, or a streamable HTTP endpoint."""

    name: str
    command: str | None = None
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # tools of this server the model may call; empty means all of them
    allow: tuple[str, ...] = ()


def _strings(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise McpConfigError(f"{what} must be an object of strings")
    return dict(value)


def parse_config(data: Any) -> list[ServerSpec]:
    """The servers of an `{"mcpServers": {name: {...}}}` document; raises McpConfigError on anything else."""
    if not isinstance(data, dict) or not isinstance(data.get("mcpServers"), dict):
        raise McpConfigError('expected a JSON object with an "mcpServers" object')
    specs = []
    for name, entry in data["mcpServers"].items():
        where = f"mcpServers.{name}"
        if not _NAME.match(name):
            raise McpConfigError(f"{where}: a server name is 1-32 letters, digits, '_' or '-'")
        if name == BUILTIN_SERVER:
            raise McpConfigError(f"{where}: the name {BUILTIN_SERVER!r} is the gateway's own tools")
        if not isinstance(entry, dict):
            raise McpConfigError(f"{where}: expected an object")
        if entry.get("disabled") is True:
            continue
        allow = entry.get("allow", entry.get("tools", []))
        if not isinstance(allow, list) or not all(isinstance(t, str) for t in allow):
            raise McpConfigError(f"{where}.allow: expected a list of tool names")
        command, url = entry.get("command"), entry.get("url")
        if command is not None:
            args = entry.get("args", [])
            if not isinstance(command, str) or not command.strip():
                raise McpConfigError(f"{where}.command: expected the program to start")
            if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
                raise McpConfigError(f"{where}.args: expected a list of strings")
            cwd = entry.get("cwd")
            if cwd is not None and not isinstance(cwd, str):
                raise McpConfigError(f"{where}.cwd: expected a path")
            env = _strings(entry.get("env"), where + ".env")
            specs.append(ServerSpec(name, command=command, args=tuple(args), env=env, cwd=cwd, allow=tuple(allow)))
        elif url is not None:
            if safe_url(url) is None:
                raise McpConfigError(f"{where}.url: expected an http(s) URL")
            specs.append(ServerSpec(name, url=url, headers=_strings(entry.get("headers"), where + ".headers"),
                                    allow=tuple(allow)))
        else:
            raise McpConfigError(f"{where}: needs a command (stdio) or a url (streamable HTTP)")
    return specs


def load_config(path: str) -> list[ServerSpec]:
    """Read and parse the file TRIAGE_MCP_CONFIG names."""
    try:
        raw = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise McpConfigError(f"{path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise McpConfigError(f"{path}: not valid JSON ({exc})") from None
    try:
        return parse_config(data)
    except McpConfigError as exc:
        raise McpConfigError(f"{path}: {exc}") from None
