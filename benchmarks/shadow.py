"""Shadow overhead: Slack ack and card latency of the gateway with a shadow candidate on every triage, against
the same gateway without one, in the same run.

Run: .venv/bin/python benchmarks/shadow.py [--requests N] [--rounds R] [--concurrency C] [--latency SECONDS]

Processes: this caller; two gateways (`triage-bot serve`, Slack enabled, model engine on one fake OpenAI server
with a fixed latency), one with TRIAGE_SHADOW_MODEL and TRIAGE_SHADOW_RATE=1.0 so every live triage is also sent
to the candidate, one without; the fake Slack Web API both talk to. Both get the same signed /triage commands in
alternating rounds; after each round the benchmark waits for that gateway's cards (and, for the shadowed one,
its shadow results), so one gateway's leftover work never lands in the other's round. Card latency is measured
from the start of the triage to the card's post, from each gateway's own database.
Target: ack p99 ratio (shadow / plain) <= 1.2, card p50 ratio <= 1.2, every command a card. The candidate has
2 calls in flight and 32 waiting at most: past that a triage is skipped, not queued (`shadow_skipped_busy`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.ack import CHANNEL, SECRET, WARM_UP_BASE, load, posted_cards, summary
from benchmarks.common import QUIET, Processes, free_port, percentile, wait_ready


def count(db_path: str, sql: str) -> int:
    with sqlite3.connect(db_path, timeout=10) as conn:
        try:
            return int(conn.execute(sql).fetchone()[0])
        except sqlite3.OperationalError:  # the table is created on first open
            return 0


def settle(db_path: str, expected: int, shadow: bool, timeout: float = 60.0) -> None:
    """Wait for the round's cards and, with a shadow, until its shadow results stop coming (a candidate that
    is busy skips triages rather than queue them, so not every triage gets one)."""
    posted_cards(db_path, expected, timeout)
    deadline = time.monotonic() + timeout
    last, still_since = -1, time.monotonic()
    while shadow and time.monotonic() < deadline:
        now = count(db_path, "select count(*) from shadow_results")
        if now >= expected:
            break
        if now != last:
            last, still_since = now, time.monotonic()
        elif time.monotonic() - still_since > 1.5:
            break
        time.sleep(0.2)


def card_latencies(db_path: str) -> list[float]:
    """Per card: from the start of its triage (recorded time minus the triage's latency) to its post, in ms."""
    with sqlite3.connect(db_path, timeout=10) as conn:
        rows = conn.execute(
            "select (p.created_at - t.created_at) * 1000 + t.latency_ms"
            " from posts p join triages t on t.id = p.triage_id"
        ).fetchall()
    return [float(row[0]) for row in rows]


async def compare(urls: dict[str, str], dbs: dict[str, str], opts: argparse.Namespace) -> dict[str, list[float]]:
    acks: dict[str, list[float]] = {name: [] for name in urls}
    timeout = aiohttp.ClientTimeout(total=10)
    sessions = {
        name: aiohttp.ClientSession(base_url=url, timeout=timeout,
                                    connector=aiohttp.TCPConnector(limit=opts.concurrency))
        for name, url in urls.items()
    }
    try:
        warm = range(WARM_UP_BASE, WARM_UP_BASE + opts.warm_up)
        for name, session in sessions.items():
            await load(session, warm, opts.concurrency)
            await asyncio.to_thread(settle, dbs[name], opts.warm_up, name == "shadow")
        per_round = max(1, opts.requests // opts.rounds)
        order = list(sessions)
        for r in range(opts.rounds):
            numbers = range(r * per_round, (r + 1) * per_round)
            for name in order if r % 2 == 0 else reversed(order):
                acks[name] += await load(sessions[name], numbers, opts.concurrency)
                await asyncio.to_thread(settle, dbs[name], opts.warm_up + len(acks[name]), name == "shadow")
    finally:
        for session in sessions.values():
            await session.close()
    return acks


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--requests", type=int, default=1000, help="per gateway (split into rounds)")
    args.add_argument("--concurrency", type=int, default=20)
    args.add_argument("--rounds", type=int, default=10)
    args.add_argument("--warm-up", type=int, default=40, help="per gateway, not measured")
    args.add_argument("--latency", type=float, default=0.2, help="fake model latency in seconds")
    opts = args.parse_args()
    with Processes() as procs:
        slack_url, model_url = procs.fakes(opts.latency)
        with tempfile.TemporaryDirectory() as tmp:
            common = {"SLACK_API_URL": slack_url, "SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": SECRET,
                      "OPENAI_API_KEY": "k", "OPENAI_BASE_URL": model_url, "TRIAGE_ALERT_CHANNELS": CHANNEL}
            candidate = {"TRIAGE_SHADOW_MODEL": "candidate-model", "TRIAGE_SHADOW_RATE": "1.0"}
            urls: dict[str, str] = {}
            dbs: dict[str, str] = {}
            for name, extra in (("plain", {}), ("shadow", candidate)):
                port = free_port()
                dbs[name] = f"{tmp}/{name}.db"
                procs.start([sys.executable, "-m", "bot.cli", "serve", "--port", str(port)],
                            {**common, **extra, "TRIAGE_DB": dbs[name]}, **QUIET)
                urls[name] = f"http://127.0.0.1:{port}"
            for url in urls.values():
                wait_ready(f"{url}/healthz", timeout=60)
            acks = asyncio.run(compare(urls, dbs, opts))
            cards = {name: card_latencies(db) for name, db in dbs.items()}
            shadowed = count(dbs["shadow"], "select count(*) from shadow_results where error is null")
            live_triages = count(dbs["shadow"], "select count(*) from triages")
            posted = {name: count(db, "select count(*) from posts") for name, db in dbs.items()}
            stray = count(dbs["plain"], "select count(*) from shadow_results")

    expected = opts.warm_up + len(acks["plain"])
    result = {
        "requests_per_gateway": len(acks["plain"]),
        "concurrency": opts.concurrency,
        "model_latency_ms": opts.latency * 1000,
        "ack": {name: summary(values) for name, values in acks.items()},
        "card": {name: summary(values) for name, values in cards.items()},
        "ack_ratio_p50": round(percentile(acks["shadow"], 50) / percentile(acks["plain"], 50), 3),
        "ack_ratio_p99": round(percentile(acks["shadow"], 99) / percentile(acks["plain"], 99), 3),
        "card_ratio_p50": round(percentile(cards["shadow"], 50) / percentile(cards["plain"], 50), 3),
        "card_ratio_p99": round(percentile(cards["shadow"], 99) / percentile(cards["plain"], 99), 3),
        "cards_expected": expected,
        "cards_posted": posted,
        "shadow_results": shadowed,
        "shadow_skipped_busy": live_triages - shadowed,
        "shadow_results_without_a_candidate": stray,
        "target": {"ack_ratio_p99": 1.2, "card_ratio_p50": 1.2},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
