"""Alert storm: how many alert events per second the gateway accepts with ack p99 under 300 ms.

Run: .venv/bin/python benchmarks/storm.py [--seconds S] [--incidents N] [--rates R1,R2,...]

Processes, as in production: this load generator; the gateway (`triage-bot serve` with Slack on and the model
engine on a fake OpenAI server with a fixed 500 ms latency); the fake Slack Web API and the fake model server
(threads here). Open-loop load: signed `event_callback` messages posted at a fixed rate in each step, rising
until ack p99 passes 300 ms. Each step's events belong to its own `--incidents` distinct incidents (repeats
differ in counts, values, timestamps and pod names). Reported per step: ack p50/p99, model calls per distinct
incident (target exactly 1), cards posted; and the gateway's peak RSS (VmHWM). Baseline in the same run: the
same load against a bare Bolt app that only acks, same framework and server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import free_port, percentile, wait_ready  # noqa: E402
from tests.fakes import slack_requests as sr  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI  # noqa: E402
from tests.fakes.slack import FakeSlack  # noqa: E402

CHANNEL = "CSTORM"
ACK_LIMIT_MS = 300.0


def alert(step: int, incident: int, repeat: int) -> str:
    return (
        f"[FIRING:{repeat % 5 + 1}] Step{step}Service{incident}Errors (api-{incident}:8080 api) | 5xx rate "
        f"{10 + repeat % 40}.{repeat % 10}% at 2024-09-22T21:{repeat % 60:02d}:03Z pod api-{incident}-"
        f"7a2acd{repeat % 9}96-pdb{repeat % 10}4"
    )


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def step_load(url: str, rate: int, seconds: float, step: int, incidents: int) -> dict[str, Any]:
    """Post `rate` events/s for `seconds`, open loop; return ack latencies and failures."""
    total = int(rate * seconds)
    latencies: list[float] = []
    failures = 0
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=url, timeout=10, limits=limits) as client:

        async def one(n: int) -> None:
            nonlocal failures
            body, _ = sr.message_event(
                f"Ev{step:03d}{n:07d}", user="U1", channel=CHANNEL, text=alert(step, n % incidents, n),
                ts=f"{1_700_000_000 + step * 10_000 + n / 1000:.6f}",
            )
            started = time.perf_counter()
            try:
                answer = await client.post("/slack/events", content=body.encode(),
                                           headers=sr.signed_headers(body, "application/json"))
                if answer.status_code != 200:
                    failures += 1
            except httpx.HTTPError:
                failures += 1
            latencies.append((time.perf_counter() - started) * 1000)

        began = time.perf_counter()
        tasks = []
        for n in range(total):
            delay = began + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(n)))
        await asyncio.gather(*tasks)
    return {"sent": total, "failures": failures, "p50_ms": round(percentile(latencies, 50), 1),
            "p99_ms": round(percentile(latencies, 99), 1)}


def bare_bolt_script() -> str:
    return (
        "import os\n"
        "from fastapi import FastAPI, Request\n"
        "from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler\n"
        "from slack_bolt.async_app import AsyncApp\n"
        "from slack_sdk.web.async_client import AsyncWebClient\n"
        "def create():\n"
        "    bolt = AsyncApp(client=AsyncWebClient(token='xoxb-bench', base_url=os.environ['SLACK_API_URL']),\n"
        "                   signing_secret=os.environ['SLACK_SIGNING_SECRET'])\n"
        "    @bolt.event('message')\n"
        "    async def ignore(): pass\n"
        "    handler = AsyncSlackRequestHandler(bolt)\n"
        "    app = FastAPI()\n"
        "    @app.post('/slack/events')\n"
        "    async def events(request: Request): return await handler.handle(request)\n"
        "    @app.get('/healthz')\n"
        "    async def healthz(): return {'ok': True}\n"
        "    return app\n"
    )


def main() -> int:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--seconds", type=float, default=4.0)
    args.add_argument("--incidents", type=int, default=10)
    args.add_argument("--rates", default="50,100,200,400,800")
    args.add_argument("--latency", type=float, default=0.5)
    opts = args.parse_args()
    rates = [int(r) for r in opts.rates.split(",")]

    with FakeSlack() as slack, FakeOpenAI(latency=opts.latency) as model, tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SLACK_", "TRIAGE_"))}
        env.update(
            PYTHONPATH=str(ROOT), TRIAGE_DB=f"{tmp}/storm.db", OPENAI_API_KEY="k", OPENAI_BASE_URL=model.base_url,
            SLACK_BOT_TOKEN="xoxb-bench", SLACK_SIGNING_SECRET=sr.SECRET, SLACK_API_URL=slack.base_url,
            TRIAGE_ALERT_CHANNELS=CHANNEL, TRIAGE_LOG_LEVEL="warning", TRIAGE_SLACK_POST_INTERVAL="0.05",
        )
        Path(f"{tmp}/bare_bolt.py").write_text(bare_bolt_script())
        results: dict[str, Any] = {"model_latency_ms": opts.latency * 1000, "incidents_per_step": opts.incidents}
        for name in ("bare_bolt", "gateway"):
            port = free_port()
            if name == "gateway":
                command = [sys.executable, "-m", "bot.cli", "serve", "--port", str(port)]
            else:
                command = [sys.executable, "-m", "uvicorn", "--factory", "bare_bolt:create", "--app-dir", tmp,
                           "--port", str(port), "--log-level", "warning", "--no-access-log"]
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
            url = f"http://127.0.0.1:{port}"
            steps = []
            try:
                wait_ready(f"{url}/healthz")
                for index, rate in enumerate(rates):
                    calls_before, posts_before = model.calls, len(slack.posts())
                    outcome = asyncio.run(step_load(url, rate, opts.seconds, index, opts.incidents))
                    if name == "gateway":
                        deadline = time.monotonic() + 30
                        while len(slack.posts()) - posts_before < opts.incidents and time.monotonic() < deadline:
                            time.sleep(0.1)
                        time.sleep(opts.latency + 0.5)
                        outcome["model_calls_per_incident"] = round((model.calls - calls_before) / opts.incidents, 3)
                        outcome["cards"] = len(slack.posts()) - posts_before
                    steps.append({"rate": rate, **outcome})
                    if outcome["p99_ms"] > ACK_LIMIT_MS or outcome["failures"]:
                        break
                if name == "gateway":
                    results["gateway_peak_rss_mb"] = round(peak_rss_mb(process.pid), 1)
                    db = sqlite3.connect(f"{tmp}/storm.db")
                    results["alerts_recorded"] = db.execute("select count(*) from alerts").fetchone()[0]
                    db.close()
            finally:
                process.terminate()
                process.wait(30)
            ok = [s["rate"] for s in steps if s["p99_ms"] <= ACK_LIMIT_MS and not s["failures"]]
            results[name] = {"steps": steps, "accepted_events_per_s": max(ok) if ok else 0}
        results["events_sent_to_gateway"] = sum(s["sent"] for s in results["gateway"]["steps"])
        bare = results["bare_bolt"]["accepted_events_per_s"]
        gateway_rate = results["gateway"]["accepted_events_per_s"]
        results["accepted_ratio_vs_bare_bolt"] = round(gateway_rate / bare, 3) if bare else None
        # The target: one model call and one card per incident at every rate the gateway was given.
        measured = results["gateway"]["steps"]
        results["meets_target"] = bool(measured) and all(
            s.get("model_calls_per_incident") == 1.0 and s.get("cards") == opts.incidents for s in measured
        )
    print(json.dumps(results, indent=2))
    return 0 if results["meets_target"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
