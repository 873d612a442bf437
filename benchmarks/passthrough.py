"""The thinnest possible gateway, as a baseline: same framework, same server, same model request, no pipeline.

Served by benchmarks/overhead.py as `uvicorn --factory benchmarks.passthrough:create`.
"""

from __future__ import annotations

import os

import openai
from fastapi import FastAPI, Request
from fastapi.responses import Response

from benchmarks.common import model_request
from bot.triage.prompt import load_prompt


def create() -> FastAPI:
    app = FastAPI()
    client = openai.AsyncOpenAI(api_key="k", base_url=os.environ["OPENAI_BASE_URL"], max_retries=0, timeout=10)
    prompt = load_prompt()

    @app.post("/v1/triage")
    async def triage(request: Request) -> Response:
        body = await request.json()
        answer = await client.chat.completions.create(**model_request(prompt, body["text"]))
        content = answer.choices[0].message.content or "{}"
        return Response('{"meta": {"engine": "model"}, "card": ' + content + "}", media_type="application/json")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
