"""Slack ack latency: signed /triage commands at 20 concurrent requests, the gateway against a bare Bolt app.

Run: .venv/bin/python benchmarks/ack.py [--requests N] [--rounds R] [--concurrency C] [--latency SECONDS]

Processes, as in production: this caller; the gateway (`triage-bot serve`, Slack enabled, model engine on a
fake OpenAI server with a fixed latency); a bare Bolt app on the same framework and server whose only listener
acks; the fake Slack Web API both talk to. Both apps get the same number of requests in alternating rounds of
the same run, so drift on the machine hits both alike. Every gateway command starts a triage and a card post;
that work yields to requests in flight (at most 1 s, see bot/slack/background.py), and the benchmark waits for
all of a round's cards before the next round, so one app's leftover work never lands in the other's round.
`cards_posted` must equal `cards_expected`. Target: p99 ratio (gateway / bare) <= 1.2.

On a shared machine a scheduler stall delays all 20 requests in flight at once, so p99 needs thousands of
samples per app to compare like with like (default 3000 in 30 rounds, under a minute).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from fastapi import FastAPI, Request
from fastapi.responses import Response
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import QUIET, Processes, free_port, percentile, wait_ready

SECRET = "bench-signing-secret"
CHANNEL = "CBENCH"
WARM_UP_BASE = 10_000_000


def bare_app() -> FastAPI:
    """The baseline: a Bolt AsyncApp whose /triage listener only acks, mounted the same way."""
    client = AsyncWebClient(token="xoxb-bench", base_url=os.environ["SLACK_API_URL"])
    bolt = AsyncApp(client=client, signing_secret=SECRET, process_before_response=False)

    @bolt.command("/triage")
    async def only_ack(ack: Any) -> None:
        await ack()

    handler = AsyncSlackRequestHandler(bolt)
    app = FastAPI()

    @app.post("/slack/events")
    async def events(request: Request) -> Response:
        return await handler.handle(request)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def signed_command(n: int) -> tuple[bytes, dict[str, str]]:
    body = urlencode(
        {
            "team_id": "T0001", "team_domain": "bench", "channel_id": CHANNEL, "channel_name": "alerts",
            "user_id": "UBENCH", "user_name": "bench", "command": "/triage", "api_app_id": "A0001",
            "text": f"[FIRING:1] HighErrorRate api-{n} 5xx ratio {5 + n % 20}% for 10m",
            "response_url": "http://127.0.0.1:9/unused", "trigger_id": f"{n}.1.bench",
            "is_enterprise_install": "false", "token": "legacy",
        }
    )
    ts = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
    }
    return body.encode(), headers


async def load(client: aiohttp.ClientSession, numbers: range, concurrency: int) -> list[float]:
    """Send the commands with `concurrency` in flight; return each ack's latency in ms."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in numbers:
        queue.put_nowait(n)
    out: list[float] = []

    async def worker() -> None:
        while not queue.empty():
            body, headers = signed_command(queue.get_nowait())
            started = time.perf_counter()
            async with client.post("/slack/events", data=body, headers=headers) as response:
                await response.read()
            out.append((time.perf_counter() - started) * 1000)
            if response.status != 200:
                raise SystemExit(f"unexpected ack: {response.status}")

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return out


async def compare(
    gateway_url: str, bare_url: str, db_path: str, opts: argparse.Namespace
) -> tuple[list[float], list[float]]:
    """Warm both apps, then alternate rounds between them; connections stay open across rounds.

    After each gateway round the benchmark waits until its cards are posted, so the gateway's background
    work never spills into the bare app's round (it does count against the gateway's own acks).
    """
    gateway: list[float] = []
    bare: list[float] = []
    timeout = aiohttp.ClientTimeout(total=10)

    def session(url: str) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=opts.concurrency)
        return aiohttp.ClientSession(base_url=url, timeout=timeout, connector=connector)

    async with session(gateway_url) as to_gateway, session(bare_url) as to_bare:
        warm = range(WARM_UP_BASE, WARM_UP_BASE + opts.warm_up)
        await load(to_gateway, warm, opts.concurrency)
        await asyncio.to_thread(posted_cards, db_path, opts.warm_up)
        await load(to_bare, warm, opts.concurrency)
        per_round = max(1, opts.requests // opts.rounds)
        for r in range(opts.rounds):
            numbers = range(r * per_round, (r + 1) * per_round)
            pair = [(to_gateway, gateway), (to_bare, bare)]
            for client, out in pair if r % 2 == 0 else reversed(pair):
                out += await load(client, numbers, opts.concurrency)
                if client is to_gateway:
                    await asyncio.to_thread(posted_cards, db_path, opts.warm_up + len(gateway))
    return gateway, bare


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(values, 50), 2),
        "p90_ms": round(percentile(values, 90), 2),
        "p99_ms": round(percentile(values, 99), 2),
        "max_ms": round(max(values), 2),
    }


def main() -> int:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--requests", type=int, default=3000, help="per app (bounded; split into rounds)")
    args.add_argument("--concurrency", type=int, default=20)
    args.add_argument("--rounds", type=int, default=30)
    args.add_argument("--warm-up", type=int, default=60, help="per app, not measured")
    args.add_argument("--latency", type=float, default=0.2, help="fake model latency in seconds")
    opts = args.parse_args()
    with Processes() as procs:
        slack_url, model_url = procs.fakes(opts.latency)
        with tempfile.TemporaryDirectory() as tmp:
            slack_env = {"SLACK_API_URL": slack_url, "SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": SECRET}
            port, bare_port = free_port(), free_port()
            procs.start([sys.executable, "-m", "bot.cli", "serve", "--port", str(port)],
                        {**slack_env, "OPENAI_API_KEY": "k", "OPENAI_BASE_URL": model_url,
                         "TRIAGE_DB": f"{tmp}/ack.db", "TRIAGE_ALERT_CHANNELS": CHANNEL}, **QUIET)
            procs.start([sys.executable, "-m", "uvicorn", "--factory", "benchmarks.ack:bare_app",
                         "--port", str(bare_port), "--log-level", "warning", "--no-access-log"], slack_env, **QUIET)
            gateway_url, bare_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{bare_port}"
            wait_ready(f"{gateway_url}/healthz", timeout=60)
            wait_ready(f"{bare_url}/healthz", timeout=60)
            gateway, bare = asyncio.run(compare(gateway_url, bare_url, f"{tmp}/ack.db", opts))
            cards = posted_cards(f"{tmp}/ack.db", expected=opts.warm_up + len(gateway))

    result = {
        "requests_per_app": len(gateway),
        "concurrency": opts.concurrency,
        "model_latency_ms": opts.latency * 1000,
        "gateway": summary(gateway),
        "bare_bolt": summary(bare),
        "ratio_p50": round(percentile(gateway, 50) / percentile(bare, 50), 3),
        "ratio_p99": round(percentile(gateway, 99) / percentile(bare, 99), 3),
        "cards_expected": opts.warm_up + len(gateway),
        "cards_posted": cards,
        "target": {"ratio_p99": 1.2},
    }
    result["meets_target"] = result["ratio_p99"] <= 1.2 and cards == result["cards_expected"]
    print(json.dumps(result, indent=2))
    return 0 if result["meets_target"] else 1


def posted_cards(db_path: str, expected: int, timeout: float = 60.0) -> int:
    """Cards the gateway posted once its background work settles (every command should get one)."""
    deadline = time.monotonic() + timeout
    count = 0
    while time.monotonic() < deadline:
        with sqlite3.connect(db_path, timeout=10) as conn:
            count = int(conn.execute("select count(*) from posts").fetchone()[0])
        if count >= expected:
            break
        time.sleep(0.2)
    return count


if __name__ == "__main__":
    raise SystemExit(main())
