"""The context stage's cost and its runbook relevance: a triage with 200 runbooks and 2,000 changes.

Run: .venv/bin/python benchmarks/context.py [--runbooks N] [--changes N] [--json]

On SQLite files in a temporary directory, in one process, timed back to back for each input:
(a) baseline: a whole heuristic triage (TriageService, recorded) with no runbook folder and no changes;
(b) the context look-up alone (`ContextStage.gather`: runbook match by front matter, then full text, and the
    changes of the alert's service) with N runbooks indexed and M changes in the window;
(c) the same whole triage as (a) with that context.
Inputs are the texts of evals/dev.jsonl. Relevance on labelled pairs: alerts written for one of ten topic
runbooks (found, and the right one?) and alerts on topics no runbook covers (found nothing?).
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
from bot.context.gather import ContextStage  # noqa: E402
from bot.context.library import RunbookLibrary  # noqa: E402
from bot.observability import Metrics, configure_logging  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.store import open_store  # noqa: E402
from bot.triage.service import TriageService  # noqa: E402

TOPICS = {
    "disk-full": ("Disk almost full", "A filesystem fills up with logs, WAL archives or images.",
                  ["Find the largest directories with du", "Remove rotated logs and old archives",
                   "Grow the volume"]),
    "replication-lag": ("PostgreSQL replication lag", "A streaming replica falls behind the primary.",
                        ["Check pg_stat_replication on the primary", "Look for long transactions on the replica",
                         "Rebuild the replica if WAL is gone"]),
    "cert-expiry": ("TLS certificate expiry", "A certificate served by an endpoint expires soon.",
                    ["Renew the certificate with cert-manager", "Deploy it everywhere it is served"]),
    "kafka-lag": ("Kafka consumer lag", "A consumer group lags behind the partitions it reads.",
                  ["Describe the consumer group", "Scale the consumers", "Find the slow handler"]),
    "redis-memory": ("Redis memory full", "Redis reaches maxmemory and evicts keys or refuses writes.",
                     ["Check used_memory and evicted_keys", "Raise maxmemory or scale the cache"]),
    "dns": ("DNS resolution failures", "Resolvers answer SERVFAIL or NXDOMAIN for internal names.",
            ["Query the resolver directly with dig", "Check the upstream forwarders"]),
    "oom": ("Container killed for memory", "A container is OOMKilled when it exceeds its memory limit.",
            ["Compare usage with the limit", "Raise the limit or fix the leak"]),
    "backup": ("Backup job failed", "A nightly database backup job exits with an error.",
               ["Read the job's log", "Rerun the backup by hand", "Check the bucket's credentials"]),
    "latency": ("Endpoint latency high", "The p99 latency of an HTTP endpoint is above its objective.",
                ["Find the slow dependency in traces", "Check saturation of the pods"]),
    "node-notready": ("Kubernetes node not ready", "A node stops reporting Ready to the control plane.",
                      ["Describe the node for conditions", "Check kubelet on the node", "Drain it if needed"]),
}
MATCHING = [
    ("disk-full", "Filesystem /var on web-3 is 96% full, logs growing fast"),
    ("disk-full", "disk almost full on db-1: /var/lib/postgresql"),
    ("replication-lag", "replica db-2 is 300 seconds behind the primary, streaming replication lag"),
    ("cert-expiry", "TLS certificate for shop.example.com expires in 5 days"),
    ("kafka-lag", "consumer group orders lags 120000 messages behind on topic payments"),
    ("redis-memory", "redis sessions-1 used memory at maxmemory, evicting keys"),
    ("dns", "SERVFAIL from resolver 10.0.0.2 for api.internal, DNS resolution failing"),
    ("oom", "container api in pod api-7f9c was OOMKilled, memory limit 512Mi"),
    ("backup", "nightly backup job for orders-db failed with exit code 2"),
    ("latency", "p99 latency of /checkout endpoint is 2.3 s"),
    ("node-notready", "node ip-10-0-3-7 is NotReady, kubelet stopped posting status"),
]
UNRELATED = [
    "User jane@example.com signed in from a new device in Lisbon",
    "Falco: a shell was spawned in container payments-api (user=root)",
    "HighErrorRate checkout-api 5xx ratio at 12% for 10m",
    "Stripe webhook signature verification failed 14 times",
    "CPU throttling of pod search-2 at 85%",
    "GitHub Actions workflow deploy.yml failed on main",
    "Load balancer target group tg-web has 0 healthy hosts",
    "S3 bucket logs-archive made public by user ops-bot",
]


def write_runbooks(folder: Path, count: int, rng: random.Random) -> None:
    for name, (title, about, steps) in TOPICS.items():
        body = "\n".join(f"{n}. {step}" for n, step in enumerate(steps, 1))
        (folder / f"{name}.md").write_text(f"# {title}\n\n{about}\n\n## Steps\n{body}\n")
    words = ["service", "queue", "cache", "gateway", "worker", "scheduler", "proxy", "ledger", "invoice", "search"]
    for n in range(count - len(TOPICS)):
        a, b = rng.sample(words, 2)
        (folder / f"team-{n:04d}.md").write_text(
            f"---\nservices: [{a}-{n}]\n---\n# {a.title()} {b} procedure {n}\n\nInternal notes for {a}-{n}.\n\n"
            f"## Steps\n- Open the {a}-{n} console\n- Page the {b} owners of {a}-{n}\n"
        )


async def run(runbooks: int, changes: int) -> dict[str, Any]:
    rng = random.Random(7)
    texts = [json.loads(line)["text"] for line in (ROOT / "evals" / "dev.jsonl").read_text().splitlines()][:120]
    with tempfile.TemporaryDirectory(prefix="bench-context-") as scratch:
        folder = Path(scratch) / "runbooks"
        folder.mkdir()
        write_runbooks(folder, runbooks, rng)
        plain = open_store(f"{scratch}/plain.db")
        rich = open_store(f"{scratch}/rich.db")
        now = time.time()
        for n in range(changes):
            rich.add_change({"service": f"svc-{n % 300}", "summary": "deploy", "at": now - rng.random() * 7000}, now)
        base = Settings(db_path=f"{scratch}/plain.db")
        library = RunbookLibrary(str(folder), rich)
        stage = ContextStage(rich, library)
        began = time.perf_counter()
        await library.refresh(force=True)
        index_ms = (time.perf_counter() - began) * 1000
        without = TriageService(base, plain, Metrics())
        with_context = TriageService(base.model_copy(update={"db_path": f"{scratch}/rich.db"}), rich, Metrics(),
                                     context=stage)
        timings: dict[str, list[float]] = {"baseline": [], "lookup": [], "triage": []}
        for text in texts * 2:
            for key, work in (("baseline", lambda t=text: without.triage(t, engine="heuristic")),
                              ("lookup", lambda t=text: stage.gather(t)),
                              ("triage", lambda t=text: with_context.triage(t, engine="heuristic"))):
                start = time.perf_counter()
                await work()
                timings[key].append((time.perf_counter() - start) * 1000)
        right = wrong = 0
        for topic, text in MATCHING:
            found = await stage.gather(text)
            if found.runbook is None:
                continue
            if found.runbook.path == f"{topic}.md":
                right += 1
            else:
                wrong += 1
        false = sum([(await stage.gather(text)).runbook is not None for text in UNRELATED])
        plain.close()
        rich.close()
    summary = {key: {"p50_ms": round(percentile(v, 50), 3), "p95_ms": round(percentile(v, 95), 3)}
               for key, v in timings.items()}
    return {
        "runbooks": runbooks, "changes": changes, "inputs": len(texts) * 2, "index_ms": round(index_ms, 1),
        **summary,
        "lookup_share_of_baseline_p50": round(summary["lookup"]["p50_ms"] / summary["baseline"]["p50_ms"], 3),
        "triage_vs_baseline_p50": round(summary["triage"]["p50_ms"] / summary["baseline"]["p50_ms"], 3),
        "relevance": {"matching": len(MATCHING), "found_right": right, "found_wrong": wrong,
                      "unrelated": len(UNRELATED), "unrelated_given_a_runbook": false},
        "python": platform.python_version(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runbooks", type=int, default=200)
    parser.add_argument("--changes", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    configure_logging("warning")
    result = asyncio.run(run(max(args.runbooks, len(TOPICS)), args.changes))
    if args.json:
        print(json.dumps(result))
        return
    print(f"context: {result['runbooks']} runbooks (indexed in {result['index_ms']} ms), {result['changes']} changes,"
          f" {result['inputs']} inputs")
    for key in ("baseline", "lookup", "triage"):
        print(f"  {key:9s} p50 {result[key]['p50_ms']:8.3f} ms   p95 {result[key]['p95_ms']:8.3f} ms")
    print(f"  lookup / baseline p50: {result['lookup_share_of_baseline_p50']}x;"
          f" triage with context / baseline p50: {result['triage_vs_baseline_p50']}x")
    rel = result["relevance"]
    print(f"  relevance: {rel['found_right']}/{rel['matching']} matching alerts got their runbook"
          f" ({rel['found_wrong']} a wrong one); {rel['unrelated_given_a_runbook']}/{rel['unrelated']}"
          " unrelated alerts got one")


if __name__ == "__main__":
    main()
