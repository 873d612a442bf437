"""The thinnest possible gateway, as a baseline: same framework, same server, same model request, no pipeline.

Served by benchmarks/overhead.py as `uvicorn --factory benchmarks.passthrough:create`.
"""

from __future__ import annotations

import os

import openai
from fastapi import FastAPI, Request
from fastapi.responses import Response

from bot.triage.model import _response_format as response_format
from bot.triage.prompt import load_prompt


def create() -> FastAPI:
    app = FastAPI()
    client = openai.AsyncOpenAI(api_key="k", base_url=os.environ["OPENAI_BASE_URL"], max_retries=0, timeout=10)
    prompt = load_prompt()

    @app.post("/v1/triage")
    async def triage(request: Request) -> Response:
        body = await request.json()
        answer = await client.chat.completions.create(
            model="gpt-4o-mini", messages=prompt.messages(body["text"]), temperature=0,  # type: ignore[arg-type]
            max_tokens=800, response_format=response_format("json_schema"),  # type: ignore[arg-type]
        )
        content = answer.choices[0].message.content or "{}"
        return Response('{"meta": {"engine": "model"}, "card": ' + content + "}", media_type="application/json")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
