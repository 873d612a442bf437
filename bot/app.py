"""create_app: the HTTP face of the gateway (/v1/triage, /healthz, /metrics, and Slack when enabled)."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.memory.judge import Judge, UnknownTriage
from bot.memory.verdicts import VerdictError, VerdictRequest
from bot.settings import Settings
from bot.triage.errors import InputError
from bot.triage.normalize import HARD_LIMIT_CHARS
from bot.triage.service import TriageService

# Bodies beyond this are refused before parsing (the text itself is capped lower and truncated).
MAX_BODY_BYTES = 4 * HARD_LIMIT_CHARS


class TriageRequest(BaseModel):
    text: str = Field(description="The alert, ticket, log excerpt or stack trace to triage")
    source: str | None = Field(default=None, max_length=64)
    engine: str | None = Field(default=None, pattern="^(auto|model|heuristic)$")


class GuardV1:
    """ASGI middleware for /v1/*: the bearer token when one is configured, then a body size limit."""

    def __init__(self, app: ASGIApp, token: str | None, max_bytes: int) -> None:
        self.app = app
        self.token = token
        self.max_bytes = max_bytes
        self.own_auth = frozenset({"/v1/alerts/alertmanager"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/"):
            headers = Headers(scope=scope)
            refusal: JSONResponse | None = None
            # The Alertmanager route checks its own shared token.
            checks_token = self.token and scope["path"] not in self.own_auth
            if checks_token and not bearer_ok(headers.get("authorization"), self.token or ""):
                refusal = JSONResponse(
                    {"error": "missing or invalid bearer token"}, 401, {"WWW-Authenticate": "Bearer"}
                )
            elif (length := headers.get("content-length", "")).isdigit() and int(length) > self.max_bytes:
                refusal = _error(413, f"request body over {self.max_bytes} bytes")
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


def bearer_ok(header: str | None, token: str) -> bool:
    """Constant-time check of an `Authorization: Bearer <token>` header."""
    if not header or not header.lower().startswith("bearer "):
        return False
    return hmac.compare_digest(header[7:].strip().encode(), token.encode())


def create_app(
    settings: Settings,
    service: TriageService,
    *,
    slack_handler: Callable[[Request], Awaitable[Response]] | None = None,
    extra_routes: Callable[[FastAPI], None] | None = None,
    judge: Judge | None = None,
) -> FastAPI:
    app = FastAPI(title="Triage Gateway", version="0.1.0", docs_url=None, redoc_url=None)
    app.state.service = service

    app.add_middleware(GuardV1, token=settings.api_token, max_bytes=MAX_BODY_BYTES)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            "body is not valid JSON" if e["type"] == "json_invalid"
            else f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}"
            for e in exc.errors()
        )
        return _error(422, problems or "invalid request")

    @app.exception_handler(InputError)
    async def bad_input(_: Request, exc: InputError) -> JSONResponse:
        return _error(exc.status_code, str(exc))

    @app.post("/v1/triage")
    async def triage(body: TriageRequest) -> Response:
        engine = None if body.engine in (None, "auto") else body.engine
        result = await service.triage(body.text, source=body.source or "api", engine=engine)
        # Serialised once by pydantic; FastAPI's generic encoder would walk the model again.
        return Response(result.model_dump_json(), media_type="application/json")

    verdicts = judge or Judge(service.store)

    @app.post("/v1/triage/{triage_id}/feedback")
    async def feedback(triage_id: str, body: VerdictRequest) -> Response:
        """A verdict on a card, with the same effect as a click in Slack."""
        try:
            answer = await verdicts.judge(triage_id, body)
        except UnknownTriage:
            return _error(404, f"no triage with id {triage_id}")
        except VerdictError as exc:
            return _error(422, str(exc))
        return JSONResponse(answer)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {
            "status": "ok",
            "engine": "model" if service.model else "heuristic",
            "circuit": service.breaker.state,
            "prompt_version": service.prompt_version,
            "slack": slack_handler is not None,
        }

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    if slack_handler is not None:
        handler = slack_handler

        @app.post("/slack/events")
        async def slack_events(request: Request) -> Response:
            return await handler(request)

    if extra_routes is not None:
        extra_routes(app)
    return app


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)
