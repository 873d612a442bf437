"""POST /v1/events/change: deploys and config changes, recorded for the cards of the service that changed."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from bot.context.changes import ChangeError, ChangeRequest, change_row
from bot.store import Store

CHANGE_PATH = "/v1/events/change"
CHANGE_BODY: dict[str, Any] = {
    "required": True,
    "content": {"application/json": {"schema": ChangeRequest.model_json_schema()}},
}


def describe(errors: Sequence[Any]) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in errors) or "invalid body"


def parse_change(raw: bytes, now: float) -> tuple[int, dict[str, Any]]:
    """(status, body): 200 and the row to record, or the error status and its reason."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return 400, {"error": "body is not valid JSON"}
    if not isinstance(data, dict):
        return 400, {"error": 'expected a JSON object like {"service": "checkout-api", "summary": "deploy v2.4.1"}'}
    try:
        request = ChangeRequest.model_validate(data)
        return 200, change_row(request, now)
    except ValidationError as exc:
        return 422, {"error": describe(exc.errors())}
    except ChangeError as exc:
        return 422, {"error": str(exc)}


def add_change_route(app: FastAPI, store: Store, clock: Callable[[], float] = time.time) -> None:
    @app.post(
        CHANGE_PATH,
        status_code=201,
        openapi_extra={"requestBody": CHANGE_BODY},
        responses={400: {"description": "not a JSON object"}, 401: {"description": "missing or invalid bearer token"},
                   422: {"description": "a field is missing or wrong; the reason is in `error`"}},
    )
    async def record_change(request: Request) -> JSONResponse:
        """Record a deploy or config change; cards of that service list it for TRIAGE_CHANGE_WINDOW."""
        media = (request.headers.get("content-type") or "application/json").split(";", 1)[0].strip().lower()
        if media != "application/json" and not media.endswith("+json"):
            return JSONResponse({"error": "send the change as JSON (Content-Type: application/json)"}, 415)
        status, body = parse_change(await request.body(), clock())
        if status != 200:
            return JSONResponse(body, status)
        change_id = await store.run(store.add_change, body, clock())
        return JSONResponse({"id": change_id, "service": body["service"], "at": body["at"]}, 201)
