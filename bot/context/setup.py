"""Builds the context stage and the model's tool box from Settings."""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.context.builtin import BuiltinTools
from bot.context.gather import ContextStage
from bot.context.library import RunbookLibrary
from bot.context.mcp_config import load_config
from bot.context.tools import ToolBox, ToolProvider
from bot.settings import Settings
from bot.store import Store


def build_context(settings: Settings, store: Store, clock: Callable[[], float] = time.time) -> ContextStage:
    library = RunbookLibrary(settings.runbooks, store, base_url=settings.runbook_url)
    return ContextStage(store, library, change_window=settings.change_window, clock=clock)


def build_toolbox(settings: Settings, store: Store, context: ContextStage) -> ToolBox | None:
    """The gateway's own tools plus those of TRIAGE_MCP_CONFIG; None when TRIAGE_TOOL_CALLS is 0.

    Raises McpConfigError (a ConfigError) when the MCP configuration cannot be used.
    """
    if settings.tool_calls <= 0:
        return None
    providers: list[ToolProvider] = [
        BuiltinTools(store, context.library, change_window=settings.change_window)
    ]
    if settings.mcp_config:
        from bot.context.mcp_client import McpProvider

        providers.extend(McpProvider(spec) for spec in load_config(settings.mcp_config))
    return ToolBox(providers, limit=settings.tool_calls)
