"""Request body limits enforced while the body is read, chunked bodies included (ASGI middleware)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Before a body is refused, the rest of it is read and thrown away (up to this much, for this long): most
# clients read the answer only once they have sent everything, and would see a reset instead of the 413.
DRAIN_MAX_BYTES = 64 * 1024 * 1024
DRAIN_MAX_SECONDS = 10.0


class BodyTooLarge(HTTPException):
    """Raised from `receive` the moment a body passes its route's limit; answered 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over the limit of {limit} bytes")


class BodyLimit:
    """Caps every request body: by Content-Length before reading, and by counting bytes as they arrive.

    `limits` maps exact paths to their own cap (a small one for Slack, whose payloads are small and
    arrive unauthenticated until the signature is checked); every other path gets `default`.
    """

    def __init__(self, app: ASGIApp, default: int, limits: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.default = default
        self.limits = dict(limits or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.get(scope["path"], self.default)
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await drain(receive)
            await refuse(send, 413, BodyTooLarge(limit).detail)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    if message.get("more_body", False):
                        await drain(receive)
                    raise BodyTooLarge(limit)
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLarge as exc:
            # Reached only when the app did not turn the error into a response itself.
            if started:
                raise
            await refuse(send, 413, str(exc.detail))


async def refuse(send: Send, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
    """Send a complete `{"error": message}` response."""
    body = json.dumps({"error": message}).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


async def drain(receive: Receive) -> None:
    """Read and discard what is left of a refused body, within DRAIN_MAX_BYTES and DRAIN_MAX_SECONDS."""
    deadline = time.monotonic() + DRAIN_MAX_SECONDS
    dropped = 0
    while dropped <= DRAIN_MAX_BYTES and time.monotonic() < deadline:
        message = await receive()
        if message["type"] != "http.request":
            return
        dropped += len(message.get("body", b""))
        if not message.get("more_body", False):
            return
