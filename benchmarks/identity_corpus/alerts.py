"""Alert texts: storms of alert types with every kind of volatile token, and the eval sets' alerts re-fired."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

from benchmarks.identity_corpus.logs import _fill
from benchmarks.identity_corpus.params import Params

ROOT = Path(__file__).resolve().parents[2]
EVAL_DIRS = [ROOT / "evals", ROOT.parent / "shared" / "evals"]

# One alert type per line; a repeat redraws every {field}. "[RESOLVED]" notices are their own type.
STORM = [
    "[FIRING:{n}] KubePodCrashLooping pod {pod} container worker-{hex5} restarted {n} times at {iso}",
    "[RESOLVED] KubePodCrashLooping pod {pod} container worker-{hex5} restarted {n} times at {iso}",
    "billing batch job {hex5} failed after {duration} with exit code {n} (session {n})",
    "HTTP 503 from upstream {ip}:8080 req={hex5} path=/api/v1/orders/{n} latency {duration}",
    'user "{user}" failed to log in from {ip} at {iso}: invalid password (attempt {n})',
    "disk /dev/sdb{n} on node-{n} is {pct}% full, {n} GB free",
    "Connection pool exhausted for db-{n}.internal:5432 ({n} waiting, timeout {duration}) trace {uuid}",
    "[{iso}] WARN [worker-{n}] c.e.cache.Evictor: evicted {n} entries in {duration} from region {hex5}",
    "Certificate for api-{n}.{fqdn} expires in {n} days (serial {hex})",
    ":fire: [Alerting] checkout latency p99 above {n}ms on host {host}",
    "Triggered: [P2] search-api error rate is {pct}% on host:{host} (threshold 50%)",
    "{iso}: Warning Sensitive file opened for reading by non-trusted program (user={user} user_loginuid={n}"
    " program=cat command=cat /etc/shadow file=/etc/shadow parent=bash container_id={hex} image=alpine)",
    "{iso}: Notice A shell was spawned in a container with an attached terminal (user={user} {pod}"
    " (id={hex}) shell=bash parent=runc cmdline=bash terminal={n} container_id={hex})",
    "[FIRING:{n}] Service{k}HighErrorRate (api-{n}:8080 api) | error rate {pct}% at {iso} pod {pod}"
    " request_id={n}",
    "*Alert:* KafkaConsumerLag\n*Description:* consumer group {word}-{hex5} lags {n} messages on topic {word}\n"
    "*Severity:* warning",
    "*Alert:* KafkaBrokerDown\n*Description:* broker kafka-{n} is unreachable from {ip}\n*Severity:* critical",
]


_RAISED = re.compile(r"(?i)\b(warning|warn|error|critical|alert|emergency|high|major|fatal|panic)\b")


def _field(params: Params, template: str, kind: int) -> str:
    template = template.replace("{hex5}", params.hex(5)).replace("{k}", str(kind % 5))
    template = re.sub(r"\{iso\}", lambda _: params.iso(), template)
    return _fill(template, params)


def _refire(text: str, rng: random.Random) -> str:
    """The same alert firing again: its numbers redrawn, as counts, ids, times and addresses change.

    Digits inside a word (`5xx`, `ec2`, `Service3HighErrorRate`) are part of a name and stay. What carries the
    size of the impact keeps its class: a zero stays zero, a share and a part of a whole stay as they were.
    """

    def redraw(match: re.Match[str]) -> str:
        digits = match.group()
        after = text[match.end() : match.end() + 5]
        before = text[max(0, match.start() - 4) : match.start()]
        if set(digits) == {"0"} or after.lstrip(" .0123456789").startswith(("%", "/", "of ")) or before.endswith(
            ("/", "of ")
        ):
            return digits
        drawn = "".join(str(rng.randint(0, 9)) for _ in digits)
        return drawn if set(drawn) != {"0"} else "1" + drawn[1:]

    return re.sub(r"(?<![A-Za-z])\d+(?![A-Za-z])", redraw, text)


def eval_texts() -> dict[str, str]:
    """Every distinct eval-set text by its case id (the same text under two ids counts once)."""
    by_text: dict[str, str] = {}
    for folder in EVAL_DIRS:
        for path in sorted(folder.glob("*.jsonl")):
            for line in path.read_text(encoding="utf-8").splitlines():
                case = json.loads(line)
                if "id" in case and "expected" in case:
                    # alert cases only: a log sample with ground-truth templates (loghub-dev.jsonl) is not an alert
                    by_text.setdefault(case["text"], case["id"])
    return {case_id: text for text, case_id in by_text.items()}


def alert_messages(seed: int = 1, per_template: int = 40) -> list[tuple[str, str, str]]:
    """(kind, template id, text): storm alert types, then the eval sets' alerts, each fired a few times."""
    rng = random.Random(seed + 1)
    params = Params(rng)
    rows = []
    for index, template in enumerate(STORM):
        for _ in range(per_template):
            kinds = 5 if "{k}" in template else 1
            kind = rng.randrange(kinds)
            rows.append(("storm", f"storm-{index}-{kind}", _field(params, template, kind)))
    texts = eval_texts()
    for case_id, text in texts.items():
        # "x-nl" is case x without its severity word: the same alert when that word said nothing above info,
        # another one when it was a raised label (a label is part of an alert's identity).
        base = case_id.removesuffix("-nl")
        raised = base != case_id and _RAISED.findall(texts.get(base, "")) != _RAISED.findall(text)
        label = "eval-" + (case_id if raised else base)
        rows.append(("evals", label, text))
        rows.extend(("evals", label, _refire(text, rng)) for _ in range(2))
    return rows
