"""The gateway's own context as tools (server `triage`): recent_changes, similar_incidents, runbook_search."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from bot.context.library import RunbookLibrary
from bot.context.mcp_config import BUILTIN_SERVER
from bot.context.tools import ToolFailure, ToolSpec
from bot.store import Store

_TEXT = {"type": "string", "maxLength": 2000}
SPECS = (
    ToolSpec(BUILTIN_SERVER, "recent_changes",
             "Deploys and config changes recorded for a service in the change window, newest first.",
             {"type": "object", "properties": {"service": {**_TEXT, "description": "service name"}},
              "required": ["service"]}),
    ToolSpec(BUILTIN_SERVER, "similar_incidents",
             "Earlier incidents whose text resembles the given text: their severity, category and the team's "
             "verdicts.",
             {"type": "object", "properties": {"text": {**_TEXT, "description": "alert text or key words"}},
              "required": ["text"]}),
    ToolSpec(BUILTIN_SERVER, "runbook_search",
             "The team's runbooks matching a query: title, path and steps.",
             {"type": "object", "properties": {"query": {**_TEXT, "description": "words to search for"}},
              "required": ["query"]}),
)


def _argument(arguments: dict[str, Any], name: str) -> str:
    value = arguments.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ToolFailure(f"{name}: expected a non-empty string")
    return value.strip()[:2000]


class BuiltinTools:
    """The same look-ups the card shows, offered to the model for questions the card did not ask."""

    name = BUILTIN_SERVER

    def __init__(
        self, store: Store, library: RunbookLibrary, *, change_window: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.library = library
        self.change_window = change_window
        self._clock = clock

    async def list_tools(self) -> list[ToolSpec]:
        return [spec for spec in SPECS if spec.name != "runbook_search" or self.library.enabled]

    async def call(self, tool: str, arguments: dict[str, Any], timeout: float) -> str:
        if tool == "recent_changes":
            service = _argument(arguments, "service")
            rows = await self.store.run(
                self.store.recent_changes, self._clock() - self.change_window, service, 10
            )
            return json.dumps({"changes": rows}, default=str)
        if tool == "similar_incidents":
            text = _argument(arguments, "text")
            recalled = await self.store.run(self.store.recall, "", text)
            # Labels and verdicts only: the card this answer feeds may be posted where another incident's
            # channel is private, so no summary or text of it is handed to the model.
            similar = [
                {k: item.get(k) for k in ("triage_id", "at", "severity", "category", "verdict")}
                for item in recalled.get("similar") or ()
            ]
            return json.dumps({"similar": similar}, default=str)
        if tool == "runbook_search":
            query = _argument(arguments, "query")
            books = await self.library.search(query)
            found = [{"title": b.title, "path": b.path, "steps": list(b.steps)} for b in books]
            return json.dumps({"runbooks": found})
        raise ToolFailure(f"no tool {tool!r}")
