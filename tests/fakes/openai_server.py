"""A fake OpenAI-compatible server: real HTTP on 127.0.0.1, port 0, scripted answers and faults."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

VALID_CARD: dict[str, Any] = {
    "category": "infra",
    "severity": "P1",
    "summary": "Checkout API returns 502s through the load balancer.\nAbout a third of requests fail in eu-west.",
    "steps": [
        "Check the load balancer target health for the checkout pool",
        "Roll back the last checkout deploy if errors started with it",
        "Post a status update in the incident channel",
    ],
    "confidence": 0.86,
}


@dataclass
class Reply:
    """One scripted answer: a card, raw content, an HTTP error, a hang or garbage."""

    status: int = 200
    content: str | None = None
    body: Any = None
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    usage: tuple[int, int] = (420, 96)
    # function calls the "model" asks for instead of answering: [(name, arguments), ...]
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @classmethod
    def card(cls, **changes: Any) -> Reply:
        return cls(content=json.dumps({**VALID_CARD, **changes}))

    @classmethod
    def text(cls, content: str) -> Reply:
        return cls(content=content)

    @classmethod
    def error(cls, status: int, message: str = "error", headers: dict[str, str] | None = None) -> Reply:
        body = {"error": {"message": message, "type": "server_error" if status >= 500 else "invalid_request_error"}}
        return cls(status=status, body=body, headers=headers or {})

    @classmethod
    def call_tools(cls, *calls: tuple[str, dict[str, Any]]) -> Reply:
        """An answer that asks to call tools (Chat Completions function calling) before the card."""
        return cls(tool_calls=list(calls))

    @classmethod
    def hang(cls, seconds: float) -> Reply:
        return cls(delay=seconds, content=json.dumps(VALID_CARD))

    @classmethod
    def garbage(cls) -> Reply:
        return cls(raw=b"<html>502 Bad Gateway</html>", headers={"Content-Type": "application/json"})


class FakeOpenAI:
    """Serves /v1/chat/completions from a script; records every request it receives."""

    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency
        self.requests: list[dict[str, Any]] = []
        self.default: Reply | Callable[[dict[str, Any]], Reply] = Reply.card()
        # Status to answer when a request asks for json_schema (None: accept it).
        self.reject_json_schema: int | None = None
        self._script: list[Reply] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-openai", daemon=True)
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._script.extend(replies)

    @property
    def calls(self) -> int:
        with self._lock:
            return len(self.requests)

    def start(self) -> FakeOpenAI:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def _next(self, request: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(request)
            if self._script:
                return self._script.pop(0)
        return self.default(request["json"]) if callable(self.default) else self.default

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        record = {"json": body, "headers": dict(request.headers), "raw": raw.decode("utf-8", "replace"),
                  "at": time.monotonic()}
        fmt = (body or {}).get("response_format") or {}
        if self.reject_json_schema and fmt.get("type") == "json_schema":
            with self._lock:
                self.requests.append(record)
            message = "response_format: Input should be 'text' or 'json_object'"
            return web.json_response({"error": {"message": message}}, status=self.reject_json_schema)
        reply = self._next(record)
        if self.latency:
            await asyncio.sleep(self.latency)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.raw is not None:
            return web.Response(body=reply.raw, status=reply.status, headers=reply.headers)
        if reply.status != 200:
            return web.json_response(reply.body, status=reply.status, headers=reply.headers)
        return web.json_response(self._completion(body or {}, reply), headers=reply.headers)

    def _completion(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        prompt_tokens, completion_tokens = reply.usage
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        finish = "stop"
        if reply.tool_calls:
            finish = "tool_calls"
            message["tool_calls"] = [
                {"id": f"call_{next(self._ids)}", "type": "function",
                 "function": {"name": name, "arguments": json.dumps(arguments)}}
                for name, arguments in reply.tool_calls
            ]
        return {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "unknown"),
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": finish,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }


def main() -> None:
    """Run the fake on its own (benchmarks): prints its base URL, serves valid cards until killed."""
    import argparse
    import signal

    args = argparse.ArgumentParser(description="fake OpenAI-compatible server")
    args.add_argument("--latency", type=float, default=0.0)
    opts = args.parse_args()
    fake = FakeOpenAI(latency=opts.latency).start()
    print(fake.base_url, flush=True)
    signal.sigwait({signal.SIGINT, signal.SIGTERM})
    fake.stop()


if __name__ == "__main__":
    main()
