"""Incident identity: masking, template learning, structured keys, places, persistence through the store."""

from __future__ import annotations

import json
import random
import string
import time
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.alerts.alertmanager import alert_key, parse_alerts
from bot.identity import Identifier, fingerprint
from bot.identity.facets import facets
from bot.identity.header import strip_header
from bot.identity.keeper import IdentityKeeper
from bot.identity.mask import canonical, mask_tokens
from bot.identity.places import places
from bot.server import build_app
from bot.slack.card_lines import seen_line
from bot.store import open_store
from tests.conftest import Clock, Opener
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack import FakeSlack
from tests.gateway import GatewayFactory
from tests.replicas import replica_env, replicas, slack_message
from tests.servers import serve


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


STORM_TYPES = [
    "[FIRING:{k}] KubePodCrashLooping pod payments-api-{h9}-{h5} container worker-{h5} restarted {n} times at {ts}",
    "billing batch job {h5} failed after {d} with exit code {n} (session {n3})",
    "Receiving block blk_{big} src: /{ip}:50010 dest: /{ip}:50010",
    "PacketResponder {n} for block blk_{big} terminating",
    "HTTP 503 from upstream {ip}:8080 req={h5} path=/api/v1/orders/{n3} latency {d}",
    'user "{user}" failed to log in from {ip} at {ts}: invalid password (attempt {n})',
    "disk /dev/sd{c} on node-{n} is {pct}% full, {n3} GB free",
    "Connection pool exhausted for db-{n}.internal:5432 ({n3} waiting, timeout {d}) trace {uuid}",
    "[{ts}] WARN [worker-{n}] c.e.cache.Evictor: evicted {n3} entries in {d} from region {h5}",
    "Certificate for api-{n}.example.com expires in {n} days (serial {h9})",
]


def storm_message(kind: int, rng: random.Random) -> str:
    template = STORM_TYPES[kind]
    return template.format(
        k=rng.randint(1, 9), h9=_hex(rng, 9), h5=_hex(rng, 5), n=rng.randint(1, 999), n3=rng.randint(100, 999),
        ts=f"2024-09-{rng.randint(10, 28)}T{rng.randint(10, 23)}:{rng.randint(10, 59)}:03Z",
        d=f"{rng.randint(1, 900)}ms",
        big=rng.randint(10**17, 10**18), ip=".".join(str(rng.randint(1, 254)) for _ in range(4)),
        user=rng.choice(["alice", "bob", "carol", "dave"]), c=rng.choice("abcd"), pct=rng.randint(80, 99),
        uuid=f"{_hex(rng, 8)}-{_hex(rng, 4)}-{_hex(rng, 4)}-{_hex(rng, 4)}-{_hex(rng, 12)}",
    )


def test_a_storm_of_ten_kinds_gets_ten_identities() -> None:
    rng = random.Random(7)
    identifier = Identifier()
    seen: dict[int, set[str]] = {}
    for _ in range(500):
        kind = rng.randrange(len(STORM_TYPES))
        seen.setdefault(kind, set()).add(identifier.identify(storm_message(kind, rng)).fingerprint)
    assert all(len(prints) == 1 for prints in seen.values()), seen
    assert len(set().union(*seen.values())) == len(STORM_TYPES)


def test_masking_alone_catches_the_volatile_parts_of_a_first_message() -> None:
    rng = random.Random(3)
    for kind in range(len(STORM_TYPES)):
        if kind == 5:
            continue  # the user name is a word: learned from repeats, not masked
        assert len({fingerprint(storm_message(kind, rng)) for _ in range(30)}) == 1, STORM_TYPES[kind]


def test_a_firing_never_merges_with_its_resolved_notice() -> None:
    identifier = Identifier()
    firing = identifier.identify("[FIRING:2] HostOutOfMemory node-3:9100 memory 93%")
    resolved = identifier.identify("[RESOLVED] HostOutOfMemory node-4:9100 memory 41%")
    assert firing.fingerprint != resolved.fingerprint and resolved.resolved and not firing.resolved
    assert resolved.incident_key == firing.incident_key == firing.fingerprint


def test_different_kinds_never_merge() -> None:
    identifier = Identifier()
    a = identifier.identify("Receiving block blk_123 src: /10.0.0.1:50010 dest: /10.0.0.2:50010")
    b = identifier.identify("PacketResponder 1 for block blk_123 terminating")
    c = identifier.identify("[FIRING:1] HostOutOfDiskSpace node-3:9100 memory 93%")
    d = identifier.identify("[FIRING:1] HostOutOfMemory node-3:9100 memory 93%")
    e = identifier.identify("[FIRING:1] Service3HighErrorRate api-3 error rate 12%")
    f = identifier.identify("[FIRING:1] Service4HighErrorRate api-4 error rate 12%")
    g = identifier.identify("disk full on node-1")
    h = identifier.identify("disk slow on node-2")
    i = identifier.identify("Interface eth0 Link is Up")
    j = identifier.identify("Interface eth1 Link is Down")
    assert len({x.fingerprint for x in (a, b, c, d, e, f, g, h, i, j)}) == 10


def test_learning_generalises_a_word_parameter_and_keeps_the_first_id() -> None:
    identifier = Identifier()
    first = identifier.identify("Accepted password for alice from 10.0.0.1 port 22 ssh2")
    later = [identifier.identify(f"Accepted password for {u} from 10.0.0.9 port 4 ssh2") for u in ("bob", "carol")]
    assert {x.fingerprint for x in later} == {first.fingerprint}
    assert later[-1].template.startswith("Accepted password for <*> from")


def test_a_raw_log_line_and_its_message_share_an_identity() -> None:
    pairs = [
        ("081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38 terminating",
         "PacketResponder 2 for block blk_99 terminating"),
        ("Jun 14 15:16:01 combo sshd(pam_unix)[19939]: check pass; user unknown", "check pass; user unknown"),
        ("2015-10-18 18:01:47,978 INFO [main] org.apache.hadoop.mapreduce.v2.app.MRAppMaster: Created MRAppMaster"
         " for application appattempt_1445144423722_0020_000001",
         "Created MRAppMaster for application appattempt_1445144423722_0021_000001"),
        ("03-17 16:13:38.811  1702  2395 D WindowManager: printFreezingDisplayLogs opening app wtoken = 7",
         "printFreezingDisplayLogs opening app wtoken = 9"),
        ("20171223-22:15:29:606|Step_LSC|30002312|onStandStepChanged 3579", "onStandStepChanged 3580"),
        ("[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok /etc/httpd/conf/workers2.properties",
         "workerEnv.init() ok /etc/httpd/conf/workers2.properties"),
    ]
    for raw, content in pairs:
        assert fingerprint(raw) == fingerprint(content), (strip_header(raw), content)


def test_masking_examples() -> None:
    assert canonical("billing batch job 8e1d2 failed req=3fa9c session 231") == (
        "billing batch job <*> failed req=<*> session <*>"
    )
    assert canonical("took 12 ms, lifetime <1 sec") == canonical("took 3.5s, lifetime 00:01")
    assert canonical("GET https://x.example.com/a?b=1 from bob@example.com") == "GET <*> from <*>"
    assert canonical("labels: alertname=KubePodCrashLooping pod=api-7f9c8d-x2kq7") == (
        "labels: alertname=KubePodCrashLooping pod=<*>"
    )


def _apart(*texts: str) -> bool:
    identifier = Identifier()
    return len({identifier.identify(text).fingerprint for text in texts}) == len(texts)


def _together(*texts: str) -> bool:
    identifier = Identifier()
    return len({identifier.identify(text).fingerprint for text in texts}) == 1


def test_flags_states_enums_and_fields_are_what_a_message_says() -> None:
    # a flag's value, a state, an enum spelled in letters, another field at one position: another message
    assert _apart("updateClipping isOverlap:false, top=333.0, y=-24.0",
                  "updateClipping isOverlap:true, top=333.0, y=-4.0")
    assert _apart("DND Enabled: YES", "DND Enabled: NO")
    assert _apart("Notification: 3 (n.leader), 0x3 (n.round), FOLLOWING (n.state), LOOKING (my state)",
                  "Notification: 2 (n.leader), 0x1 (n.round), LEADING (n.state), LOOKING (my state)")
    assert _apart("container_01_000002 transitioned from RUNNING to KILLING on node 7",
                  "container_01_000003 transitioned from NEW to RUNNING on node 9")
    assert _apart("node-3 changed state from idle to running", "node-4 changed state from running to down")
    assert _apart("onInterceptTouchEvent action=ACTION_DOWN, x=3.0, y=4.0",
                  "onInterceptTouchEvent action=ACTION_UP, x=5.0, y=6.0")
    assert _apart("session opened for user news by (uid=0)", "session opened for user root by LOGIN(uid=0)")
    assert _apart("getDataEnabled: subId=1 phoneId=1", "getDataEnabled: subId=1 retVal=true")
    assert _apart("Sandbox: QQ(10018) deny(1) file-read-data /etc/hosts",
                  "Sandbox: QQ(10019) deny(1) mach-lookup /etc/hosts")
    # values stay values: who or what (user=, host=, pod=), numbers, quoted values of several words
    assert _together("authentication failure; rhost=10.0.0.1 user=root",
                     "authentication failure; rhost=10.0.0.2 user=guest",
                     "authentication failure; rhost=10.0.0.3 user=test")
    assert _together('acquire lock=2335, flags=0x1, tag="View Lock", name=com.android.systemui, ws=null, uid=10037',
                     'acquire lock=2198, flags=0x1, tag="AudioMix", name=audioserver, ws=null, uid=1041')
    assert _together("User alice from 10.0.0.1 not allowed because not listed in AllowUsers",
                     "User bob from 10.0.0.2 not allowed because not listed in AllowUsers")
    assert _together("TI: last shutdown at 1/23/2016 5:48:58 PM, uptime 56542 seconds",
                     "TI: last shutdown at 2/12/2016 2:34:00 AM, uptime 18642 seconds")


def test_lists_quoted_names_protocols_and_constants() -> None:
    # values listed with commas or as repeated groups are one list, however long
    assert _together(
        "Error Recovery for block bp-1:blk_1_2 in pipeline 10.0.0.1:50010: bad datanode 10.0.0.9:50010",
        "Error Recovery for block bp-2:blk_3_4 in pipeline 10.0.0.1:50010, 10.0.0.2:50010, 10.0.0.3:50010: bad "
        "datanode 10.0.0.9:50010",
    )
    assert canonical("targets: [10.0.0.1:50010, 10.0.0.2:50010, 10.0.0.3:50010]") == "targets: [<*>]"
    assert _together("inconsistent nodesets node-3 0x1f <ok>",
                     "inconsistent nodesets node-4 0x2e <ok> node-9 0x3a <ok> node-12 0x11 <ok>")
    # a quoted value of plain words is one value; a quoted request is read word by word (its method stays)
    assert _together("x.example.com:443 blocked by rule 'Office Apps'", "y.example.com:80 blocked by rule 'Default'",
                     "z.example.com:80 blocked by rule 'Browsers via proxy'")
    assert canonical("Can't find child 3 in slot, it's 'ok' now") == "Can't find child <*> in slot, it's <*> now"
    assert _apart('10.0.0.1 "GET /v2/a HTTP/1.1" status: 200 len: 10 time: 0.1',
                  '10.0.0.1 "POST /v2/b HTTP/1.1" status: 200 len: 12 time: 0.2')
    # a protocol's version is what the message says; a device's number is a value
    assert _apart("a.example.com:443 open through proxy p.example.com:5070 HTTPS",
                  "a.example.com:443 open through proxy p.example.com:5070 SOCKS5",
                  "a.example.com:443 open through proxy p.example.com:5070 SOCKS4")
    assert _together("Processor [CPU0] (supports C1)", "Processor [CPU3] (supports C1)")
    assert _together("IRQ0 used by override.", "IRQ9 used by override.")
    # a size in brackets where the other says a word, two constants' names: two messages
    assert _apart("h.example.com:443 close, 1,024 bytes sent, 2,048 bytes (2.0 KB) received, lifetime 00:02",
                  "h.example.com:443 close, 1,024 bytes (1.0 KB) sent, 2,048 bytes received, lifetime 00:02")
    assert _apart("Processing the event EventType: CONTAINER_REMOTE_LAUNCH for container c_1 taskAttempt a_1",
                  "Processing the event EventType: CONTAINER_REMOTE_CLEANUP for container c_2 taskAttempt a_2")
    # host:port after a word naming a value, whether the host is a bare name or not
    assert _together("Launching attempt_1_m_2 on orion:22", "Launching attempt_1_m_3 on vega:8080",
                     "Launching attempt_2_m_1 on node-7.example.com:22")


def test_a_call_keeps_its_name() -> None:
    assert canonical("IOHibernatePollerOpen(0)") == "IOHibernatePollerOpen(<*>)"
    assert canonical("kern_open_file_for_direct_io(0) failed") == "kern_open_file_for_direct_io(<*>) failed"
    assert canonical("x tag=\"View Lock\", y=2") == "x tag=<*>, y=<*>"
    assert canonical('x tag="never closed and so on') == 'x tag=<*> closed and so on'


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(['tag="', "a=", "'", '"', "b", "c d", "=\"x y\"", "f(", ")", "(1)", "=true", "=YES",
                                 " ", "\t", "k=v", "g_h(", "0x1"]), max_size=40))
def test_quoted_values_calls_and_flags_never_fail(parts: list[str]) -> None:
    text = "".join(parts)
    tokens = mask_tokens(text)
    assert all(tokens) and len(tokens) <= len(text.split())
    Identifier().identify(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["'", '"', "'a", "b'", "c", "1,", "2", "[3,", "4]", "<ok>", "0x5", ", ", " ", "'6",
                                 "/p", "'it's", "x'y"]), max_size=40))
def test_lists_and_quoted_spans_never_fail(parts: list[str]) -> None:
    text = "".join(parts)
    tokens = mask_tokens(text)
    assert all(tokens) and len(tokens) <= len(text.split())
    assert mask_tokens(text) == tokens
    Identifier().identify(text)


def test_a_megabyte_of_list_items_and_open_quotes_is_cheap() -> None:
    started = time.perf_counter()
    assert mask_tokens("[" + "10.0.0.1:80, " * 80_000 + "10.0.0.2:80]") == ["[<*>]"]
    assert mask_tokens("x" + " node-1 0x1f <ok>" * 60_000) == ["x", "<*>", "<ok>"]
    assert len(mask_tokens("'a " * 300_000)) == 300_000  # no closing quote near: each word is its own token
    assert time.perf_counter() - started < 5


def test_a_megabyte_of_an_unclosed_quote_is_cheap() -> None:
    started = time.perf_counter()
    text = 'tag="' + " x" * 500_000
    assert mask_tokens(text)[:2] == ['tag="', "x"]  # no closing quote near: each word is its own token
    assert mask_tokens(" " * 1_000_000 + 'a="b' + " " * 1_000_000) == ["a=<*>"]
    assert time.perf_counter() - started < 5


def test_structured_alertmanager_identity_follows_the_group_labels() -> None:
    labels = {"alertname": "HostDown", "instance": "node-1:9100", "job": "node", "severity": "critical"}
    other = {**labels, "instance": "node-2:9100"}
    assert alert_key(labels) == alert_key(other)  # places vary within one incident
    assert alert_key(labels, {"instance": "x"}) != alert_key(other, {"instance": "x"})
    assert alert_key(labels) != alert_key({**labels, "alertname": "HostUp"})
    body = {"groupLabels": {"alertname": "HostDown"}, "alerts": [
        {"status": "firing", "labels": labels, "annotations": {"summary": "down 5 minutes"}},
        {"status": "resolved", "labels": other, "annotations": {"summary": "back after 7 minutes"}},
    ]}
    firing, resolved = parse_alerts(body)
    assert firing.identity.incident_key == resolved.identity.incident_key
    assert firing.identity.fingerprint != resolved.identity.fingerprint
    assert firing.identity.places == ("node-1:9100",)


def test_places_and_the_seen_line() -> None:
    assert places("pod=payments-7f9c8d-x2kq7 host: node-4 on instance db-1:5432") == (
        "payments-7f9c8d-x2kq7", "node-4", "db-1:5432",
    )
    line = seen_line(50, ["node-4", "node-7", "node-9", "node-1", "node-2"], 10 * 3600 + 42 * 60)
    assert line.startswith("Seen 50 times on node-4, node-7 (+3 more), last") and "10:42" in line
    assert seen_line(2, [], None) == "Seen 2 times"


def test_learned_templates_are_bounded_in_memory() -> None:
    identifier = Identifier(max_templates=100)
    rng = random.Random(1)
    for _ in range(2000):
        words = " ".join("".join(rng.choice(string.ascii_lowercase) for _ in range(6)) for _ in range(4))
        identifier.identify(words)
    assert len(identifier.learner) <= 100


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_masking_never_fails_and_is_stable(text: str) -> None:
    tokens = mask_tokens(text)
    assert all(tokens)
    assert fingerprint(text) == fingerprint(text)
    Identifier().identify(text)


def test_a_megabyte_of_blanks_is_cheap() -> None:
    text = " " * 1_000_000 + "x" + "\n\t " * 1000
    assert mask_tokens(text) == ["x"]
    assert strip_header(" " * 1_000_000) == " " * 1_000_000


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("[]|:-. 0123456789aZ\t\n:INFOWARN-Jun"), max_size=300))
def test_header_stripping_only_ever_removes_a_prefix(text: str) -> None:
    body = strip_header(text)
    assert body.strip() in text and len(body) <= len(text)


HEADERISH = ["INFO", "WARN", "Jun", "Mon", "- ", "ERROR:", "kernel:", "[error]", "2024-01-01", "12:00:00", "UTC",
             "1117838570", "D ", "Tag:", "<*>", "http://x", "a@b.c", "ms", "sec", "|", "\t", "\n", " ", "[", "]"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(HEADERISH), max_size=30))
def test_log_shaped_text_always_gets_an_identity(parts: list[str]) -> None:
    text = "".join(parts)
    identity = Identifier().identify(text)
    assert len(identity.fingerprint) == 16 and fingerprint(text) == fingerprint(text)


PAIRS = Path(__file__).parent / "data" / "identity-pairs.jsonl"


def test_pairs_written_without_the_rules_are_told_apart_or_coalesced() -> None:
    """40 benign/severe and true-repeat pairs written by someone who had not read the identity rules."""
    rows = [json.loads(line) for line in PAIRS.read_text().splitlines() if line.strip()]
    assert len(rows) == 40
    wrong = []
    for row in rows:
        identifier = Identifier()
        same = identifier.identify(row["a"]).fingerprint == identifier.identify(row["b"]).fingerprint
        if same != row["same"]:
            wrong.append((row["id"], row["why"]))
    assert not wrong


@pytest.mark.parametrize(
    ("benign", "severe"),
    [
        ("HighErrorRate api severity=warning error rate 3%", "HighErrorRate api severity=critical error rate 3%"),
        ("*Severity:* warning\nDiskFilling on node-3", "*Severity:* critical\nDiskFilling on node-3"),
        ("WARNING: replication lag on db-2", "CRITICAL: replication lag on db-2"),
        ("QueueBacklog env=staging depth 300", "QueueBacklog env=production depth 300"),
        ("checkout latency high on checkout-staging-2", "checkout latency high on checkout-prod-2"),
        ("nightly export finished with 0 errors", "nightly export finished with 912 errors"),
        ("5xx ratio 0.1% on edge", "5xx ratio 100% on edge"),
        ("backend pool web: 4 of 4 healthy", "backend pool web: 0 of 4 healthy"),
        ("failed_jobs=0 in batch run 7", "failed_jobs=12 in batch run 8"),
        ("state: INSUFFICIENT_DATA cpu alarm on i-0ab", "cpu alarm on i-0ab"),
    ],
)
def test_severity_environment_status_and_impact_keep_alerts_apart(benign: str, severe: str) -> None:
    identifier = Identifier()
    first, second = identifier.identify(benign), identifier.identify(severe)
    assert first.fingerprint != second.fingerprint and first.incident_key != second.incident_key
    assert fingerprint(benign) != fingerprint(severe)
    # the order they arrive in changes nothing
    other = Identifier()
    assert other.identify(severe).fingerprint == second.fingerprint
    assert other.identify(benign).fingerprint == first.fingerprint


def test_true_repeats_still_coalesce() -> None:
    identifier = Identifier()
    repeats = [
        "[FIRING:1] DiskFull severity=critical env=prod node-3 disk 93% used at 2024-09-01T10:00:00Z",
        "[FIRING:2] DiskFull severity=critical env=prod node-7 disk 97% used at 2024-09-01T10:05:00Z",
        "[FIRING:1] DiskFull severity=critical env=prod node-9 disk 91.5% used at 2024-09-01T11:00:03Z",
    ]
    assert len({identifier.identify(text).fingerprint for text in repeats}) == 1
    errors = [f"sync job {n} ended with {e} errors" for n, e in ((41, 3), (42, 912), (43, 17))]
    assert len({identifier.identify(text).fingerprint for text in errors}) == 1


def test_a_resolved_notice_in_another_dialect_still_closes_its_incident() -> None:
    identifier = Identifier()
    firing = identifier.identify("[Alerting] Disk usage alert\nRule: Disk usage > 90% on /data")
    resolved = identifier.identify("[OK] Disk usage alert\nRule: Disk usage > 90% on /data")
    assert resolved.resolved and not firing.resolved
    assert resolved.fingerprint != firing.fingerprint and resolved.incident_key == firing.incident_key


def test_alertmanager_identity_keeps_severity_and_environment_whatever_the_grouping() -> None:
    labels = {"alertname": "HighLatency", "severity": "warning", "env": "staging", "instance": "a:1"}
    group = {"alertname": "HighLatency"}
    assert alert_key(labels, group) != alert_key({**labels, "severity": "critical"}, group)
    assert alert_key(labels, group) != alert_key({**labels, "env": "production"}, group)
    assert alert_key(labels, group) == alert_key({**labels, "instance": "b:2"}, group)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("severity=:critical env prod 0 1 9 . % of / errors failed [OK] \"\n*_"),
               max_size=400))
def test_facets_never_fail_on_alert_shaped_text(text: str) -> None:
    found = facets(text)
    assert found == tuple(sorted(set(found)))
    Identifier().identify(text)


def test_facets_of_a_megabyte_of_blanks() -> None:
    assert facets(" " * 1_000_000 + "severity=critical") == ()
    assert facets("severity=critical" + " " * 1_000_000) == ("sev:critical",)


# --- identity that stays put: shared through the store, pinned through floods ----------------------------

VARIANTS = (
    "[FIRING:1] KafkaConsumerLag group payments-consumer lag 5000 on topic orders-v2",
    "[FIRING:3] KafkaConsumerLag group billing-consumer lag 12000 on topic invoices-eu",
)


def _flood_text(rng: random.Random, n: int) -> str:
    words = " ".join("".join(rng.choice(string.ascii_lowercase) for _ in range(7)) for _ in range(3 + n % 5))
    return f"{words} after {n} ms"


@pytest.mark.parametrize("first_order", [(0, 1), (1, 0)])
def test_two_replicas_agree_as_soon_as_one_learns(opener: Opener, first_order: tuple[int, int]) -> None:
    """Two processes on one store, each sees a variant first: one identity between them, whatever the order."""
    one, two = IdentityKeeper(opener()).identifier, IdentityKeeper(opener()).identifier
    a, b = first_order
    first = one.identify(VARIANTS[a])
    second = two.identify(VARIANTS[b])  # learned by the other replica a moment ago
    assert second.fingerprint == first.fingerprint
    assert one.identify(VARIANTS[b]).fingerprint == two.identify(VARIANTS[a]).fingerprint == first.fingerprint


def test_a_live_incident_keeps_its_identity_through_a_flood(tmp_path: Path, clock: Clock) -> None:
    """20,000 unique texts after a live incident opened (both backends share the code; PostgreSQL's copy of
    the protection is checked by the eviction test below, with a smaller cap)."""
    path = str(tmp_path / "flood.db")
    store = open_store(path, None, clock=clock)
    keeper = IdentityKeeper(store)
    identifier = keeper.identifier
    live = identifier.identify(VARIANTS[0])
    identifier.identify(VARIANTS[1])  # generalised: only the learned template knows both variants are one
    store.take_alert("slack", "C1", "1.0", VARIANTS[0], clock(), (), live.incident_key, False, 60.0, ())
    keeper.pin(live.incident_key)
    rng = random.Random(11)
    for n in range(20_000):
        identifier.identify(_flood_text(rng, n))
    assert identifier.learner.evicted > 0
    variant = "[FIRING:2] KafkaConsumerLag group search-consumer lag 900 on topic queries-us"
    assert identifier.identify(variant).incident_key == live.incident_key
    # a replica starting after the flood learns it from the store, which kept it too
    store.save_templates([], keep=keeper.identifier.learner.max_templates)  # trimmed to the cap, live one kept
    other = open_store(path, None, clock=clock)
    assert IdentityKeeper(other).identifier.identify(variant).incident_key == live.incident_key
    store.close()
    other.close()


def test_a_template_evicted_here_comes_back_from_the_store(opener: Opener, clock: Clock) -> None:
    store = opener()
    keeper = IdentityKeeper(store, Identifier(max_templates=50))
    live = keeper.identifier.identify(VARIANTS[0])
    keeper.identifier.identify(VARIANTS[1])
    store.take_alert("slack", "C1", "1.0", VARIANTS[0], clock(), (), live.incident_key, False, 60.0, ())
    rng = random.Random(5)
    for n in range(300):
        keeper.identifier.identify(_flood_text(rng, n))
    assert keeper.identifier.learner.get(live.fingerprint) is None  # not pinned: evicted from memory
    store.save_templates([], keep=50)  # the store is trimmed too, but keeps an open incident's template
    variant = "[FIRING:2] KafkaConsumerLag group search-consumer lag 900 on topic queries-us"
    assert keeper.identifier.identify(variant).fingerprint == live.fingerprint


def test_pins_are_bounded_and_a_flood_of_pins_keeps_the_cap() -> None:
    identifier = Identifier(max_templates=100)
    rng = random.Random(2)
    for n in range(1000):
        identity = identifier.identify(_flood_text(rng, n))
        identifier.pin(identity.fingerprint)
    assert len(identifier.learner) <= 100


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_two_serving_replicas_make_one_card_for_variants_seen_in_opposite_order(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, fake_slack: FakeSlack, fake_openai: FakeOpenAI
) -> None:
    """Two `triage-bot serve` processes on one database: each gets the variants of one alert, in opposite
    orders, over HTTP and in the alert channel; one fingerprint, one incident, one card."""
    if backend == "postgres":
        database = {"TRIAGE_DATABASE_URL": request.getfixturevalue("pg_url")}
    else:
        database = {"TRIAGE_DB": str(tmp_path / "shared.db")}
    env = replica_env(database, fake_slack, fake_openai, "CALERT")
    with replicas(2, env, tmp_path) as (first, second), httpx.Client(timeout=30) as client:
        prints = []
        for replica, text in ((first, VARIANTS[0]), (second, VARIANTS[1]), (first, VARIANTS[1]),
                              (second, VARIANTS[0])):
            answer = client.post(f"{replica.url}/v1/triage", json={"text": text})
            prints.append(answer.json()["meta"]["fingerprint"])
        assert len(set(prints)) == 1, prints
        lag = "[FIRING:1] ConsumerGroupStalled group ledger-sync lag 5000 on partition orders-3"
        other = "[FIRING:2] ConsumerGroupStalled group fraud-scoring lag 8000 on partition payments-9"
        base = time.time()
        assert slack_message(client, second.url, "CALERT", lag, f"{base:.6f}") == 200
        fake_slack.wait_for(lambda: len(fake_slack.posts()) >= 1, timeout=30)
        assert slack_message(client, first.url, "CALERT", other, f"{base + 1:.6f}") == 200
        assert slack_message(client, second.url, "CALERT", other, f"{base + 2:.6f}") == 200
        assert slack_message(client, first.url, "CALERT", lag, f"{base + 3:.6f}") == 200
        # Every alert carded and every card posted or redrawn: a second card would have been posted by then.
        observer = open_store(database.get("TRIAGE_DB", str(tmp_path / "unused.db")),
                              database.get("TRIAGE_DATABASE_URL"))
        try:
            fake_slack.wait_for(lambda: observer.alert_counts() == {"done": 4} and not observer.queue_stats(),
                                timeout=30)
            incidents = [(i.channel, i.count) for i in observer.incidents()]
        finally:
            observer.close()
        threads = {post.args.get("thread_ts") for post in fake_slack.posts()}
        assert len(fake_slack.posts()) == 1, threads
        assert incidents == [("CALERT", 4)]  # one incident counting all four alerts


@pytest.mark.parametrize(
    ("judged", "other"),
    [
        ("[FIRING:1] PaymentsErrorRate severity=warning env=production | 5xx ratio 2.1% on checkout",
         "[FIRING:1] PaymentsErrorRate severity=critical env=production | 5xx ratio 2.1% on checkout"),
        ("[FIRING:1] PaymentsErrorRate severity=critical env=staging | 5xx ratio 2.1% on checkout",
         "[FIRING:1] PaymentsErrorRate severity=critical env=production | 5xx ratio 2.1% on checkout"),
    ],
)
def test_a_p3_verdict_on_one_variant_leaves_the_other_as_it_was(
    gateways: GatewayFactory, judged: str, other: str
) -> None:
    """Over HTTP: the benign variant is judged P3; the severe one keeps its own identity and its own answer."""
    gateway = gateways.build(api_token="t0ken")
    headers = {"Authorization": "Bearer t0ken"}
    with serve(build_app(gateway)) as url, httpx.Client(base_url=url, headers=headers, timeout=10) as http:
        before = http.post("/v1/triage", json={"text": other}).json()
        first = http.post("/v1/triage", json={"text": judged}).json()
        assert first["meta"]["fingerprint"] != before["meta"]["fingerprint"]
        verdict = {"verdict": "override", "severity": "P3", "category": "app", "by": "reviewer"}
        response = http.post(f"/v1/triage/{first['meta']['triage_id']}/feedback", json=verdict)
        assert response.status_code == 200, response.text
        assert http.post("/v1/triage", json={"text": judged}).json()["severity"] == "P3"
        after = http.post("/v1/triage", json={"text": other}).json()
        assert after["meta"]["fingerprint"] == before["meta"]["fingerprint"]
        assert after["meta"]["precedent"] is None
        assert (after["severity"], after["category"]) == (before["severity"], before["category"])
