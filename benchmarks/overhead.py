"""Gateway overhead: the same fake model (fixed 100 ms) called directly and through POST /v1/triage.

Run: .venv/bin/python benchmarks/overhead.py [--requests N] [--latency SECONDS]

Three processes as in production: this caller, the gateway, the model server. Measured in one run:
(a) the caller sends the gateway's model request straight to the model server with the openai client;
(b) a bare pass-through app (benchmarks/passthrough.py: same framework and server, no pipeline);
(c) POST /v1/triage on the real gateway with distinct texts, then again with repeated texts (cache hits).
Overhead = (c) - (a); the pipeline's own share = (c) - (b).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import openai

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import free_port, model_request, percentile, wait_ready
from bot.triage.prompt import load_prompt


def alert(n: int) -> str:
    return f"[FIRING:1] HostHighCpuLoad (node-{n}:9100 node) | CPU load is above 80% | VALUE = {50 + n % 40}"


async def direct(base_url: str, count: int) -> list[float]:
    """The baseline: the same request the gateway makes, sent straight to the model server."""
    client = openai.AsyncOpenAI(api_key="k", base_url=base_url, max_retries=0, timeout=10)
    prompt = load_prompt()
    out = []
    for n in range(count):
        started = time.perf_counter()
        await client.chat.completions.create(**model_request(prompt, alert(n)))
        out.append((time.perf_counter() - started) * 1000)
    await client.close()
    return out


def through_gateway(url: str, texts: list[str]) -> list[float]:
    out = []
    with httpx.Client(base_url=url, timeout=10) as client:
        for text in texts:
            started = time.perf_counter()
            response = client.post("/v1/triage", json={"text": text})
            out.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200 or response.json()["meta"]["engine"] != "model":
                raise SystemExit(f"unexpected answer: {response.status_code} {response.text[:200]}")
    return out


def main() -> int:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--requests", type=int, default=300)
    args.add_argument("--latency", type=float, default=0.1)
    opts = args.parse_args()
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}

    # Three processes, as in production: the caller (this one), the gateway, the model server.
    fake = subprocess.Popen([sys.executable, "-m", "tests.fakes.openai_server", "--latency", str(opts.latency)],
                            stdout=subprocess.PIPE, text=True, env=env, cwd=root)
    assert fake.stdout is not None
    base_url = fake.stdout.readline().strip()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        gateway_env = {**env, "OPENAI_API_KEY": "k", "OPENAI_BASE_URL": base_url, "TRIAGE_DB": f"{tmp}/bench.db"}
        gateway = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--port", str(port)],
                                   env=gateway_env, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        bare_port = free_port()
        bare = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "benchmarks.passthrough:create", "--port", str(bare_port),
             "--log-level", "warning", "--no-access-log"],
            env={**env, "OPENAI_BASE_URL": base_url}, cwd=root)
        bare_url = f"http://127.0.0.1:{bare_port}"
        try:
            wait_ready(f"{url}/healthz")
            wait_ready(f"{bare_url}/healthz")
            through_gateway(bare_url, [f"warm-up {n}" for n in range(10)])
            # Warm both paths (connections, first-call costs) before measuring.
            asyncio.run(direct(base_url, 10))
            through_gateway(url, [f"warm-up {n}" for n in range(10)])
            texts = [alert(n) for n in range(opts.requests)]
            base = asyncio.run(direct(base_url, opts.requests))
            passthrough = through_gateway(bare_url, texts)
            gate = through_gateway(url, texts)
            hits = through_gateway(url, texts[: max(50, opts.requests // 2)])
        finally:
            bare.terminate()
            bare.wait(10)
            gateway.terminate()
            fake.terminate()
            gateway.wait(10)
            fake.wait(10)

    result: dict[str, Any] = {
        "requests": opts.requests,
        "model_latency_ms": opts.latency * 1000,
        "direct_p50_ms": round(percentile(base, 50), 2),
        "direct_p95_ms": round(percentile(base, 95), 2),
        "passthrough_p50_ms": round(percentile(passthrough, 50), 2),
        "passthrough_p95_ms": round(percentile(passthrough, 95), 2),
        "gateway_p50_ms": round(percentile(gate, 50), 2),
        "gateway_p95_ms": round(percentile(gate, 95), 2),
        "overhead_p50_ms": round(percentile(gate, 50) - percentile(base, 50), 2),
        "overhead_p95_ms": round(percentile(gate, 95) - percentile(base, 95), 2),
        "overhead_mean_ms": round(statistics.mean(gate) - statistics.mean(base), 2),
        "pipeline_overhead_p50_ms": round(percentile(gate, 50) - percentile(passthrough, 50), 2),
        "pipeline_overhead_p95_ms": round(percentile(gate, 95) - percentile(passthrough, 95), 2),
        "hop_overhead_p50_ms": round(percentile(passthrough, 50) - percentile(base, 50), 2),
        "ratio_p50": round(percentile(gate, 50) / percentile(base, 50), 3),
        "cache_hit_p50_ms": round(percentile(hits, 50), 2),
        "cache_hit_p95_ms": round(percentile(hits, 95), 2),
        "targets": {"overhead_p50_ms": 2, "overhead_p95_ms": 8, "cache_hit_p50_ms": 3},
    }
    result["meets_targets"] = all(result[name] <= limit for name, limit in result["targets"].items())
    print(json.dumps(result, indent=2))
    return 0 if result["meets_targets"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
