"""Replicas: alert-storm throughput and Slack ack p99 for one and two replicas on PostgreSQL and one on SQLite.

Run: .venv/bin/python benchmarks/replicas.py [--events N] [--incidents K] [--concurrency C] [--database-url URL]

Each setup gets a fresh database and its own `triage-bot serve` processes (Slack on, the model on a fake
OpenAI server with a fixed latency, the fake Slack Web API). A storm of N signed alert events from K incidents
is sent by C concurrent senders as fast as the gateway acks, round robin over the replicas. Reported per
setup: events/s acked, ack p50/p99, seconds until every incident's card is posted with its final counter,
model calls and cards (both must equal K). Baseline, in the same run: one replica on SQLite, the embedded
default. PostgreSQL is TRIAGE_TEST_DATABASE_URL / --database-url, else a throwaway server started here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import percentile  # noqa: E402
from tests import pg  # noqa: E402
from tests.fakes import slack_requests as sr  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI  # noqa: E402
from tests.fakes.slack import FakeSlack  # noqa: E402
from tests.replicas import query, replica_env, replicas  # noqa: E402

CHANNEL = "CREPLICA"


def alert(run: int, incident: int, repeat: int) -> str:
    return (
        f"[FIRING:{repeat % 5 + 1}] Run{run}Service{incident}Errors (api-{incident}:8080 api) | 5xx rate "
        f"{10 + repeat % 40}.{repeat % 10}% at 2024-09-22T21:{repeat % 60:02d}:03Z"
    )


async def storm(urls: list[str], run: int, events: int, incidents: int, concurrency: int) -> dict[str, Any]:
    """Send `events` alerts with `concurrency` senders, round robin over `urls`; ack latencies and rate."""
    latencies: list[float] = []
    failures = 0
    queue = iter(range(events))
    limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency * 2)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def sender() -> None:
            nonlocal failures
            for n in queue:
                body, _ = sr.message_event(
                    f"Ev{run:02d}{n:07d}", user="U1", channel=CHANNEL, text=alert(run, n % incidents, n),
                    ts=f"{1_700_000_000 + run * 100_000 + n / 1000:.6f}",
                )
                started = time.perf_counter()
                try:
                    answer = await client.post(f"{urls[n % len(urls)]}/slack/events", content=body.encode(),
                                               headers=sr.signed_headers(body, "application/json"))
                    failures += answer.status_code != 200
                except httpx.HTTPError:
                    failures += 1
                latencies.append((time.perf_counter() - started) * 1000)

        began = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    return {"events": events, "failures": failures, "events_per_s": round(events / elapsed, 1),
            "ack_p50_ms": round(percentile(latencies, 50), 1), "ack_p99_ms": round(percentile(latencies, 99), 1)}


def wait_until(done: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return True
        time.sleep(0.1)
    return False


def run_setup(
    name: str, database: dict[str, str], count: int, opts: argparse.Namespace, run: int, tmp: Path,
    settled: Callable[[], bool],
) -> dict[str, Any]:
    with FakeSlack() as slack, FakeOpenAI(latency=opts.latency) as model:
        env = replica_env(database, slack, model, CHANNEL, TRIAGE_LOG_LEVEL="warning")
        with replicas(count, env, tmp / name) as started:
            began = time.perf_counter()
            outcome = asyncio.run(storm([r.url for r in started], run, opts.events, opts.incidents,
                                        opts.concurrency))
            finished = wait_until(settled, timeout=120)
            outcome["cards_settled_s"] = round(time.perf_counter() - began, 2) if finished else None
            outcome["model_calls"] = model.calls
            outcome["cards"] = len(slack.posts())
    return {"setup": name, "replicas": count, **outcome}


@contextlib.contextmanager
def postgres_server(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    bindir = pg.server_bin()
    if bindir is None:
        raise SystemExit("PostgreSQL: set TRIAGE_TEST_DATABASE_URL / --database-url or install the server binaries")
    with pg.throwaway_server(bindir) as admin_url:
        yield admin_url


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--events", type=int, default=500)
    args.add_argument("--incidents", type=int, default=10)
    args.add_argument("--concurrency", type=int, default=32)
    args.add_argument("--latency", type=float, default=0.5, help="seconds the fake model takes per call")
    args.add_argument("--database-url", default=os.environ.get(pg.ENV_URL))
    args.add_argument("--logs", help="keep the replicas' logs in this directory")
    opts = args.parse_args()
    done_sql = "select count(*), coalesce(sum(count), 0) from incidents where post_state = 'posted' and dirty = 0"
    expected = (opts.incidents, opts.events)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as scratch, postgres_server(opts.database_url) as admin_url:
        tmp = Path(opts.logs or scratch)
        for run, (name, count) in enumerate((("sqlite", 1), ("postgres", 1), ("postgres", 2))):
            (tmp / f"{name}-{count}").mkdir(parents=True, exist_ok=True)
            if name == "sqlite":
                db = str(Path(scratch) / "bench.db")

                def sqlite_settled(path: str = db) -> bool:
                    with contextlib.closing(sqlite3.connect(path, timeout=10)) as conn:
                        return tuple(conn.execute(done_sql).fetchone()) == expected

                results.append(run_setup(f"{name}-{count}", {"TRIAGE_DB": db}, count, opts, run, tmp, sqlite_settled))
                continue
            with pg.fresh_database(admin_url) as url:
                results.append(run_setup(
                    f"{name}-{count}", {"TRIAGE_DATABASE_URL": url}, count, opts, run, tmp,
                    lambda url=url: tuple(query(url, done_sql)[0]) == expected,  # type: ignore[misc]
                ))
    baseline = results[0]
    for row in results:
        row["events_per_s_vs_sqlite"] = round(row["events_per_s"] / baseline["events_per_s"], 3)
        p99 = baseline["ack_p99_ms"]
        row["ack_p99_vs_sqlite"] = round(row["ack_p99_ms"] / p99, 3) if p99 else None
    print(json.dumps({"model_latency_ms": opts.latency * 1000, "incidents": opts.incidents, "setups": results},
                     indent=2))


if __name__ == "__main__":
    main()
