"""create_app: the HTTP face of the gateway (/v1/triage, /healthz, /metrics, and Slack when enabled)."""

from __future__ import annotations

import contextlib
import hmac
import json
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field, ValidationError
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.card import TriageResult
from bot.context.api import add_change_route
from bot.health import RETRY_AFTER_SECONDS, DatabaseGate, DatabaseUnavailable
from bot.limits import BodyLimit, BodyTooLarge, drain, refuse
from bot.memory.judge import Judge, UnknownTriage
from bot.memory.verdicts import VerdictError, VerdictRequest
from bot.observability import Metrics, version
from bot.settings import Settings, reveal
from bot.triage.errors import InputError
from bot.triage.markup import decode_markup
from bot.triage.normalize import HARD_LIMIT_CHARS, decode
from bot.triage.service import TriageService

log = structlog.get_logger("bot.app")

# Bodies beyond this are refused while reading (the text itself is capped lower and truncated).
MAX_BODY_BYTES = 4 * HARD_LIMIT_CHARS
# Slack's own payloads are a few kilobytes; this is read unauthenticated, before the signature check.
SLACK_MAX_BODY_BYTES = 1024 * 1024
SLACK_PATH = "/slack/events"
# Alertmanager sends a whole group in one notification (20,000 alerts is about 16 MB); `max_alerts` caps it.
ALERTMANAGER_PATH = "/v1/alerts/alertmanager"
ALERTMANAGER_MAX_BODY_BYTES = 32 * 1024 * 1024
# The agreement dashboard (bot/dashboard.py), behind the API token like /v1/*.
REPORT_PATH = "/report"


FEEDBACK_PATH = re.compile(r"/v1/triage/[^/]+/feedback/?")
FEEDBACK_NEEDS_TOKEN = (
    "verdicts over HTTP need the API token: set TRIAGE_API_TOKEN on the gateway and send it as "
    "Authorization: Bearer <token>"
)


class ErrorBody(BaseModel):
    error: str = Field(description="What was wrong with the request")


class UnavailableBody(BaseModel):
    error: str = Field(description="Which dependency is down; nothing was recorded, send the request again")
    retry_after: int = Field(description="Seconds to wait before retrying (also in the Retry-After header)")


# Somewhere in the text there has to be something other than blanks and control characters.
NOT_BLANK = r"[^\s\x00-\x1f\x7f]"


class TriageRequest(BaseModel):
    # The pattern only documents that blank text is refused; the service itself says why (422 "empty").
    text: str = Field(
        description="The alert, ticket, log excerpt or stack trace to triage",
        json_schema_extra={"pattern": NOT_BLANK},
    )
    source: str | None = Field(default=None, max_length=64)
    engine: str | None = Field(default=None, pattern="^(auto|model|heuristic)$")


TRIAGE_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {"schema": TriageRequest.model_json_schema()},
        "text/plain": {"schema": {"type": "string", "pattern": NOT_BLANK, "description": "The text to triage"}},
    },
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": reason}
    for status, reason in (
        (401, "missing or invalid bearer token"),
        (413, "body over the limit"),
        (415, "neither JSON nor text/plain"),
        (422, "unusable input"),
    )
}
UNAVAILABLE_RESPONSE: dict[int | str, dict[str, Any]] = {
    503: {"model": UnavailableBody, "description": "the database is unavailable: nothing was recorded, retry later"}
}


class GuardV1:
    """ASGI middleware for /v1/* and the /report dashboard: the bearer token when one is configured."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token
        self.own_auth = frozenset({"/v1/alerts/alertmanager"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (scope["path"].startswith("/v1/") or scope["path"] == REPORT_PATH):
            if not self.token and FEEDBACK_PATH.fullmatch(scope["path"]):
                with contextlib.suppress(BodyTooLarge):
                    await drain(receive)
                await refuse(send, 403, FEEDBACK_NEEDS_TOKEN)
                return
            # The Alertmanager route checks its own shared token.
            checks_token = self.token and scope["path"] not in self.own_auth
            if checks_token and not bearer_ok(Headers(scope=scope).get("authorization"), self.token or ""):
                with contextlib.suppress(BodyTooLarge):
                    await drain(receive)
                await refuse(send, 401, "missing or invalid bearer token", {"WWW-Authenticate": "Bearer"})
                return
        await self.app(scope, receive, send)


class HTTPMetrics:
    """ASGI middleware: requests by method, route template (never the raw path) and status, with duration."""

    def __init__(self, app: ASGIApp, metrics: Metrics, routes: Callable[[], Sequence[BaseRoute]] = list) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = route_template(scope, self.routes())
            method = str(scope.get("method", "GET"))
            self.metrics.http_requests.labels(method, route, str(status)).inc()
            self.metrics.http_latency.labels(method, route).observe(time.perf_counter() - started)


def route_template(scope: Scope, routes: Sequence[BaseRoute] = ()) -> str:
    """The route's path template (`/v1/triage/{triage_id}/feedback`); `unmatched` for a path no route has.

    A request refused before routing (a missing token, a body over the limit) is matched here.
    """
    route = scope.get("route")
    if route is None:
        route = next((r for r in routes if r.matches(scope)[0] != Match.NONE), None)
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else "unmatched"


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
    gate: DatabaseGate | None = None,
) -> FastAPI:
    app = FastAPI(title="Triage Gateway", version=version(), docs_url=None, redoc_url=None)
    app.state.service = service

    app.add_middleware(GuardV1, token=reveal(settings.api_token))
    # No route, token check or parser ever holds more than its route's limit.
    app.add_middleware(
        BodyLimit, default=MAX_BODY_BYTES,
        limits={SLACK_PATH: SLACK_MAX_BODY_BYTES, ALERTMANAGER_PATH: ALERTMANAGER_MAX_BODY_BYTES},
    )
    # Outermost: every answer is counted, refusals by the middlewares above included.
    app.add_middleware(HTTPMetrics, metrics=service.metrics, routes=lambda: app.routes)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, describe_errors(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": http_reason(request, exc)}, exc.status_code, exc.headers)

    @app.exception_handler(InputError)
    async def bad_input(_: Request, exc: InputError) -> JSONResponse:
        return _error(exc.status_code, str(exc))

    @app.exception_handler(DatabaseUnavailable)
    async def database_down(_: Request, exc: DatabaseUnavailable) -> JSONResponse:
        return unavailable(exc)

    database = gate or DatabaseGate(service.store, timeout=settings.database_timeout)

    @app.post(
        "/v1/triage",
        openapi_extra={"requestBody": TRIAGE_BODY},
        responses={200: {"model": TriageResult}, **ERROR_RESPONSES, **UNAVAILABLE_RESPONSE},
    )
    async def triage(request: Request) -> Response:
        body = parse_triage_body(request.headers.get("content-type"), await request.body())
        engine = None if body.engine in (None, "auto") else body.engine
        # A card that could not be recorded is not given out: its id would lead nowhere, and the client retries.
        text = decode_markup(body.text)
        # Its metrics and log line are made once this response is written: the record is durable before.
        result = await service.triage(
            text, source=body.source or "api", engine=engine, must_record=True, count_after=True
        )
        # Serialised once by pydantic; FastAPI's generic encoder would walk the model again.
        return Response(result.model_dump_json(), media_type="application/json")

    verdicts = judge or Judge(service.store)

    @app.post(
        "/v1/triage/{triage_id}/feedback",
        responses={403: {"model": ErrorBody}, 404: {"model": ErrorBody}, **ERROR_RESPONSES, **UNAVAILABLE_RESPONSE},
    )
    async def feedback(triage_id: str, body: VerdictRequest) -> Response:
        """A verdict on a card, with the same effect as a click in Slack; only with the API token."""
        if not reveal(settings.api_token):
            # Verdicts teach later cards: with no token there is no way to know a reviewer sent this one.
            return _error(403, FEEDBACK_NEEDS_TOKEN)
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
            # What the gate last saw, without asking the database: /readyz asks.
            "database": "up" if database.available else "down",
        }

    @app.get("/readyz", responses=UNAVAILABLE_RESPONSE)
    async def readyz() -> JSONResponse:
        """Readiness for load balancers and orchestrators: 200 while the database answers, else 503."""
        problem = await database.check()
        if problem is None:
            return JSONResponse({"status": "ready", "checks": {"database": "ok"}})
        body = {
            "status": "unavailable",
            "error": f"database unavailable: {problem}",
            "retry_after": RETRY_AFTER_SECONDS,
            "down": ["database"],
            "checks": {"database": problem},
        }
        return JSONResponse(body, 503, {"Retry-After": str(RETRY_AFTER_SECONDS)})

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics() -> Response:
        # Queue gauges are read from the store at scrape time, so they are true whoever did the work.
        try:
            stats = await service.store.run(service.store.queue_stats)
            service.metrics.set_queues(stats, time.time())
        except Exception:  # a busy or failing store must not take the other metrics down with it
            log.warning("queue_stats_unavailable", exc_info=True)
        return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get(REPORT_PATH, include_in_schema=False)
    async def report(since: float | None = None) -> Response:
        """The agreement dashboard, the page `triage-bot report --html` writes; ?since=DAYS narrows it."""
        from bot.dashboard import dashboard_page
        from bot.report.figures import read_report

        if since is not None and not since > 0:
            return _error(422, "since: a positive number of days")
        start = time.time() - since * 86400 if since is not None else 0.0
        figures = await service.store.run(read_report, service.store, start)
        figures["since"] = start if since is not None else None
        return Response(dashboard_page(figures), media_type="text/html; charset=utf-8")

    add_change_route(app, service.store)

    if slack_handler is not None:
        handler = slack_handler

        @app.post(SLACK_PATH, include_in_schema=False)
        async def slack_events(request: Request) -> Response:
            # Unsigned requests are refused before their body is read; signed ones are read within the
            # small Slack limit and then verified by Bolt.
            if not request.headers.get("x-slack-signature") or not request.headers.get("x-slack-request-timestamp"):
                await request.body()
                return _error(401, "invalid request")
            return await handler(request)

    if extra_routes is not None:
        extra_routes(app)
    return app


def parse_triage_body(content_type: str | None, raw: bytes) -> TriageRequest:
    """The request of POST /v1/triage: JSON, or the text itself when sent as text/plain."""
    media = (content_type or "application/json").split(";", 1)[0].strip().lower()
    if media == "text/plain":
        return TriageRequest(text=decode(raw))
    if media != "application/json" and not media.endswith("+json"):
        raise StarletteHTTPException(415, 'send JSON ({"text": "..."}) or the text itself as text/plain')
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser's stack
        raise StarletteHTTPException(422, "body is not valid JSON") from None
    try:
        return TriageRequest.model_validate(data)
    except ValidationError as exc:
        raise StarletteHTTPException(422, describe_errors(exc.errors())) from None


def describe_errors(errors: Sequence[Any]) -> str:
    """One readable line from pydantic's error list: `field: problem; ...`."""
    problems = "; ".join(
        "body is not valid JSON" if e["type"] == "json_invalid"
        else f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}"
        for e in errors
    )
    return problems or "invalid request"


def http_reason(request: Request, exc: StarletteHTTPException) -> str:
    """The `error` text of an HTTP error: routing errors name the method and path."""
    if exc.status_code == 404 and exc.detail == "Not Found":
        return f"no such route: {request.url.path}"
    if exc.status_code == 405 and exc.detail == "Method Not Allowed":
        return f"method {request.method} not allowed on {request.url.path}"
    return str(exc.detail)


def unavailable(exc: DatabaseUnavailable) -> JSONResponse:
    """503 with Retry-After: the sender should try again; nothing of the request was kept."""
    body = {"error": f"{exc.reason}; nothing was recorded, retry later", "retry_after": exc.retry_after}
    return JSONResponse(body, 503, {"Retry-After": str(exc.retry_after)})


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)
