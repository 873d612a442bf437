"""Incident memory's cost: precedent + similar lookup with 100,000 past incidents, against a whole triage.

Run: .venv/bin/python benchmarks/memory.py [--incidents N] [--judged N] [--queries N] [--json]

In one process, on SQLite files in a temporary directory, the three timed back to back for each query:
(a) baseline: a whole triage (heuristic engine, through TriageService, recorded) with an empty store;
(b) the memory lookup alone, `store.recall(fingerprint, text)` — the precedent and up to 3 similar incidents
    (identity index + FTS5 bm25) — with N past incidents of distinct identities in the store, `--judged` of
    them judged; queries are new variants of judged incidents, of unjudged ones, and alerts never seen;
(c) the same whole triage as (a) with the N incidents in the store.
Reported: p50/p95 of each, the lookup as a share of the empty-store triage, and (c)/(a).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import percentile  # noqa: E402
from bot.card import TriageMeta, TriageResult  # noqa: E402
from bot.identity import fingerprint as text_fingerprint  # noqa: E402
from bot.observability import Metrics, configure_logging  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.store import SQLStore  # noqa: E402
from bot.triage.front import prepare  # noqa: E402
from bot.triage.service import TriageService  # noqa: E402

KINDS = [
    ("CrashLooping", "pod is crash looping, restarted {n} times"),
    ("FilesystemAlmostFull", "filesystem has {n}% space left"),
    ("ReplicationLag", "replica is {n} seconds behind the primary"),
    ("HighErrorRate", "5xx rate at {n}% for 10m"),
    ("MemoryHigh", "memory usage at {n}% of the limit"),
    ("ConsumerGroupLag", "consumer group lags behind by {n} messages"),
    ("CertificateExpiry", "TLS certificate expires in {n} days"),
    ("ShellInContainer", "a shell was spawned in a container, {n} times"),
    ("LatencyHigh", "p99 latency of the endpoint is {n} ms"),
    ("BackupFailed", "backup failed with exit code {n}"),
]
_SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "ta", "vi", "zo", "pe", "sh", "dr", "qu", "bel", "cor", "fin", "gal")


def pseudo_word(number: int) -> str:
    """Distinct made-up words: service, team and component names of a large estate."""
    letters = []
    for _ in range(3):
        letters.append(_SYLLABLES[number % len(_SYLLABLES)])
        number //= len(_SYLLABLES)
    return "".join(letters)


def incident_text(number: int, value: int) -> str:
    """A distinct incident identity per number. Names follow a long tail, as in a real estate: some
    components fire often, most rarely; values vary between repeats."""
    rng = random.Random(number)
    name, description = KINDS[number % len(KINDS)]
    component = pseudo_word(int(rng.paretovariate(0.6)) % 4096).capitalize()
    service = f"{pseudo_word(rng.randrange(4096))}-{pseudo_word(int(rng.paretovariate(0.8)) % 4096)}"
    return (f"[FIRING:1] {component}{name} ({service}-node{number} prod) | {service} {description.format(n=value)}"
            f" owner team {pseudo_word(rng.randrange(300))}")


def settings(path: str) -> Settings:
    return Settings(db_path=path, openai_api_key=None)


async def triage_latencies(service: TriageService, texts: list[str]) -> list[float]:
    latencies = []
    for text in texts:
        started = time.perf_counter()
        await service.triage(text, source="bench")
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def fill(store: SQLStore, incidents: int, judged: int) -> float:
    """Record `incidents` past triages of distinct identities as the service records them; judge `judged`.

    Cards are the heuristic card of each alert kind and texts need no redaction (they are synthetic), so
    filling costs the store's own work only.
    """
    started = time.perf_counter()
    cards = {kind: prepare(incident_text(number, 50), 16_000).prescreen for number, kind in enumerate(KINDS)}
    now = time.time() - incidents
    for number in range(incidents):
        text = incident_text(number, 40 + number % 50)
        card = cards[KINDS[number % len(KINDS)]]
        meta = TriageMeta(triage_id=f"past-{number}", engine="heuristic", prompt_version="heuristic",
                          fingerprint=text_fingerprint(text), source="history", created_at=now + number)
        store.record_triage(TriageResult(**card.model_dump(), meta=meta), text)
        if number < judged:
            store.record_feedback(meta.triage_id, "U0BENCH", "severity", card.severity,
                                  "P1" if card.severity != "P1" else "P0")
    return time.perf_counter() - started


async def interleaved(
    empty: TriageService, full: TriageService, store: SQLStore, queries: list[str]
) -> tuple[list[float], list[float], list[float], dict[str, int]]:
    """Per query, back to back so that both stores see the same machine load: a triage on the empty store,
    the lookup alone on the full store, a triage on the full store."""
    baseline, lookups, loaded = [], [], []
    found = {"precedent": 0, "similar": 0}
    for text in queries:
        started = time.perf_counter()
        await empty.triage(text, source="bench")
        baseline.append((time.perf_counter() - started) * 1000)
        prepared = prepare(text, 16_000, text_fingerprint)
        started = time.perf_counter()
        recalled = store.recall(prepared.fingerprint, prepared.text)
        lookups.append((time.perf_counter() - started) * 1000)
        found["precedent"] += recalled["precedent"] is not None
        found["similar"] += bool(recalled["similar"])
        started = time.perf_counter()
        await full.triage(text, source="bench")
        loaded.append((time.perf_counter() - started) * 1000)
    return baseline, lookups, loaded, found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--judged", type=int, default=1_000)
    parser.add_argument("--queries", type=int, default=600)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    configure_logging("warning")
    rng = random.Random(7)

    with tempfile.TemporaryDirectory(prefix="triage-bench-memory-") as scratch:
        queries: list[str] = []
        for index in range(args.queries):
            if index % 3 == 0:  # a new variant of a judged incident
                queries.append(incident_text(rng.randrange(args.judged), 1000 + index))
            elif index % 3 == 1:  # a new variant of an unjudged one
                queries.append(incident_text(rng.randrange(args.judged, args.incidents), 1000 + index))
            else:  # an alert never seen
                queries.append(incident_text(args.incidents + index, 1000 + index))

        empty = SQLStore.open(f"{scratch}/empty.db")
        full = SQLStore.open(f"{scratch}/full.db")
        fill_seconds = fill(full, args.incidents, args.judged)
        empty_service = TriageService(settings(f"{scratch}/empty.db"), empty, Metrics())
        full_service = TriageService(settings(f"{scratch}/full.db"), full, Metrics())
        warm = [incident_text(args.incidents * 3 + n, 1) for n in range(20)]
        asyncio.run(interleaved(empty_service, full_service, full, warm))
        baseline, lookups, loaded, found = asyncio.run(interleaved(empty_service, full_service, full, queries))
        stored = full.count_triages()
        empty.close()
        full.close()

    def figures(values: list[float]) -> dict[str, float]:
        return {"p50": round(percentile(values, 50), 3), "p95": round(percentile(values, 95), 3)}

    result: dict[str, Any] = {
        "incidents_in_store": stored,
        "judged": args.judged,
        "queries": len(queries),
        "fill_seconds": round(fill_seconds, 1),
        "triage_empty_store_ms": figures(baseline),
        "lookup_ms": figures(lookups),
        "triage_full_store_ms": figures(loaded),
        "lookup_share_of_empty_triage_p50": round(percentile(lookups, 50) / percentile(baseline, 50), 3),
        "full_over_empty_triage_p50": round(percentile(loaded, 50) / percentile(baseline, 50), 3),
        "queries_with_precedent": found["precedent"],
        "queries_with_similar": found["similar"],
        "python": platform.python_version(),
    }
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"incident memory with {stored:,} past incidents ({args.judged:,} judged), {len(queries)} queries, "
          f"Python {result['python']} (store filled in {result['fill_seconds']} s)")
    print(f"  (a) whole triage, empty store:      p50 {result['triage_empty_store_ms']['p50']:7.3f} ms  "
          f"p95 {result['triage_empty_store_ms']['p95']:7.3f} ms")
    print(f"  (b) precedent + similar lookup:     p50 {result['lookup_ms']['p50']:7.3f} ms  "
          f"p95 {result['lookup_ms']['p95']:7.3f} ms")
    print(f"  (c) whole triage, {stored:,} in store: p50 {result['triage_full_store_ms']['p50']:7.3f} ms  "
          f"p95 {result['triage_full_store_ms']['p95']:7.3f} ms")
    print(f"  lookup = {result['lookup_share_of_empty_triage_p50']:.2f} x an empty-store triage (p50); "
          f"(c)/(a) = {result['full_over_empty_triage_p50']:.2f}")
    print(f"  queries with a precedent: {found['precedent']}, with similar incidents: {found['similar']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
