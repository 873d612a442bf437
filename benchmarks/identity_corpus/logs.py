"""Log lines in the formats of common daemons, each from a known template, with or without its header."""

from __future__ import annotations

import random
import re
from collections.abc import Callable

from benchmarks.identity_corpus.params import Params

Header = Callable[[Params], str]

# system → (header maker, templates). A template's {name} is filled by Params.name() at each occurrence.
SYSTEMS: dict[str, tuple[Header, list[str]]] = {
    "sshd": (lambda p: f"{p.syslog_time()} {p.host()} sshd[{p.n()}]: ", [
        "Accepted password for {user} from {ip} port {n} ssh2",
        "Accepted publickey for {user} from {ip} port {n} ssh2: RSA SHA256:{token}",
        "Failed password for {user} from {ip} port {n} ssh2",
        "Failed password for invalid user {user} from {ip} port {n} ssh2",
        "Invalid user {user} from {ip}",
        "Received disconnect from {ip} port {n}:11: Bye Bye [preauth]",
        "Connection closed by {ip} port {n} [preauth]",
        "pam_unix(sshd:session): session opened for user {user} by (uid=0)",
        "pam_unix(sshd:session): session closed for user {user}",
        "reverse mapping checking getaddrinfo for {fqdn} [{ip}] failed - POSSIBLE BREAK-IN ATTEMPT!",
        "Disconnecting: Too many authentication failures for {user} [preauth]",
        "error: maximum authentication attempts exceeded for invalid user {user} from {ip} port {n} ssh2 [preauth]",
    ]),
    "kernel": (lambda p: f"{p.syslog_time()} {p.host()} kernel: [{p.f()}] ", [
        "Out of memory: Killed process {n} ({unit}) total-vm:{n}kB, anon-rss:{n}kB, file-rss:0kB",
        "EXT4-fs error (device sda{n}): ext4_find_entry:{n}: inode #{n}: comm {unit}: reading directory lblock 0",
        "TCP: request_sock_TCP: Possible SYN flooding on port {n}. Sending cookies.",
        "nf_conntrack: nf_conntrack: table full, dropping packet",
        "eth{n}: Link is Up - 1Gbps/Full - flow control rx/tx",
        "eth{n}: Link is Down",
        "CPU{n}: Core temperature above threshold, cpu clock throttled (total events = {n})",
        "usb {n}-{n}: new high-speed USB device number {n} using xhci_hcd",
    ]),
    "systemd": (lambda p: f"{p.syslog_time()} {p.host()} systemd[1]: ", [
        "Started {unit}.service.",
        "Stopping {unit}.service...",
        "{unit}.service: Main process exited, code=exited, status={n}/FAILURE",
        "{unit}.service: Failed with result 'exit-code'.",
        "{unit}.service: Scheduled restart job, restart counter is at {n}.",
        "Reloading.",
        "Starting Daily apt upgrade and clean activities...",
    ]),
    "nginx": (lambda p: f"2024/{p.n(1, 12).zfill(2)}/{p.n(1, 28).zfill(2)} {p.clock()} [error] {p.n()}#{p.n()}: ", [
        '*{n} connect() failed (111: Connection refused) while connecting to upstream, client: {ip}, server: {fqdn},'
        ' request: "GET {path} HTTP/1.1", upstream: "http://{ip}:{n}{path}", host: "{fqdn}"',
        '*{n} upstream timed out (110: Connection timed out) while reading response header from upstream, client:'
        ' {ip}, server: {fqdn}, request: "POST {path} HTTP/1.1", upstream: "http://{ip}:{n}{path}"',
        'open() "{path}" failed (2: No such file or directory), client: {ip}, server: {fqdn}, request: "GET {path}'
        ' HTTP/1.1"',
        "*{n} client intended to send too large body: {n} bytes, client: {ip}, server: {fqdn}",
    ]),
    "apache": (lambda p: f"[{p.rng.choice(['Mon', 'Tue', 'Sun'])} Dec {p.n(1, 28)} {p.clock()} 2024] [error] ", [
        "[client {ip}] File does not exist: {path}",
        "[client {ip}] Directory index forbidden by rule: {path}/",
        "jk2_init() Found child {n} in scoreboard slot {n}",
        "workerEnv.init() ok {path}/workers2.properties",
        "mod_jk child workerEnv in error state {n}",
        "[client {ip}] script not found or unable to stat: {path}",
    ]),
    "postgres": (lambda p: f"2024-05-{p.n(10, 28)} {p.clock()}.{p.n(100, 999)} UTC [{p.n()}] ", [
        'ERROR:  duplicate key value violates unique constraint "{word}_pkey"',
        'FATAL:  password authentication failed for user "{user}"',
        "LOG:  checkpoint starting: time",
        "LOG:  checkpoint complete: wrote {n} buffers ({pct}%); 0 WAL file(s) added, 0 removed, {n} recycled",
        "ERROR:  canceling statement due to statement timeout",
        'LOG:  automatic vacuum of table "{word}.public.{word}": index scans: {n}',
        "FATAL:  remaining connection slots are reserved for non-replication superuser connections",
        'ERROR:  deadlock detected DETAIL: Process {n} waits for ShareLock on transaction {n}; blocked by process {n}.',
    ]),
    "hadoop": (lambda p: f"2024-10-18 {p.clock()},{p.n(100, 999)} INFO [main] org.apache.hadoop.mapred.Task: ", [
        "Progress of TaskAttempt attempt_{n}_{n}_m_{n}_{n} is : {f}",
        "Task:attempt_{n}_{n}_m_{n}_{n} is done. And is in the process of committing",
        "Container container_{n}_{n}_{n}_{n} transitioned from {state} to {state}",
        "Added attempt_{n}_{n}_m_{n}_{n} to list of failed maps",
        "Slow ReadProcessor read fields took {n}ms (threshold={n}ms); ack: seqno: {n} status: SUCCESS"
        " downstreamAckTimeNanos: 0, targets: [{ip}:{n}]",
        "Receiving block blk_{n} src: /{ip}:{n} dest: /{ip}:{n}",
        "Received block blk_{n} of size {n} from /{ip}",
        "PacketResponder {n} for block blk_{n} terminating",
        "BLOCK* NameSystem.addStoredBlock: blockMap updated: {ip}:{n} is added to blk_{n} size {n}",
    ]),
    "zookeeper": (lambda p: f"2024-07-29 {p.clock()},{p.n(100, 999)} - INFO  [NIOServerCxn.Factory:0.0.0.0/0.0.0.0:2181"
                  f":NIOServerCnxn@{p.n(100, 999)}] - ", [
        "Accepted socket connection from /{ip}:{n}",
        "Closed socket connection for client /{ip}:{n} which had sessionid 0x{hex}",
        "Client attempting to establish new session at /{ip}:{n}",
        "Established session 0x{hex} with negotiated timeout {n} for client /{ip}:{n}",
        "Expiring session 0x{hex}, timeout of {n}ms exceeded",
        "Processed session termination for sessionid: 0x{hex}",
        "Notification time out: {n}",
        "Connection broken for id {n}, my id = {n}, error =",
    ]),
    "kubelet": (lambda p: f"E{p.n(1, 12).zfill(2)}{p.n(10, 28)} {p.clock()}.{p.n(100000, 999999)}    {p.n()}"
                f" pod_workers.go:{p.n(100, 999)}] ", [
        '"Error syncing pod, skipping" err="failed to \\"StartContainer\\" with CrashLoopBackOff" pod="{word}/{pod}"'
        " podUID={uuid}",
        '"Probe failed" probeType="Readiness" pod="{word}/{pod}" containerName="{word}" probeResult=failure',
        '"Killing container with a grace period" pod="{word}/{pod}" containerName="{word}" gracePeriod={n}',
        '"Eviction manager: attempting to reclaim" resourceName="memory"',
        '"Failed to pull image" image="registry.example.com/{word}:{n}" err="rpc error: code = NotFound"',
    ]),
    "windows": (lambda p: f"2016-09-{p.n(10, 28)} {p.clock()}, Info                  CBS    ", [
        "Session: {n}_{n} initialized by client WindowsUpdateAgent.",
        "Loaded Servicing Stack v6.1.{n}.{n} with Core: C:\\Windows\\winsxs\\amd64_{hex}\\cbscore.dll",
        "Read out cached package applicability for package: Package_for_KB{n}~31bf3856ad364e35~amd64~~6.1.1.{n},"
        " ApplicableState: {n}, CurrentState:{n}",
        "Warning: Unrecognized packageExtended attribute.",
        "Failed to get next element [HRESULT = 0x800f080d - CBS_E_MANIFEST_INVALID_ITEM]",
    ]),
    "android": (lambda p: f"03-{p.n(10, 28)} {p.clock()}.{p.n(100, 999)}  {p.n(100, 9999)}  {p.n(100, 9999)} D ", [
        "PowerManagerService: acquire lock={n}, flags=0x1, tag=\"View Lock\", name={word}, ws=null, uid={n}, pid={n}",
        "PowerManagerService: release:lock={n}, flg=0x0, tag=\"RILJ_ACK_WL\", name=com.android.phone, ws=null,"
        " uid={n}, pid={n}",
        "ActivityManager: Start proc {n}:com.example.{word}/u0a{n} for service com.example.{word}/.SyncService",
        "WindowManager: printFreezingDisplayLogs opening app wtoken = AppWindowToken{{hex} token={hex}}",
        "DisplayPowerController: Animating brightness: target={n}, rate={n}",
    ]),
    "healthapp": (lambda p: f"2017{p.n(10, 12)}{p.n(10, 28)}-{p.clock()}:{p.n(100, 999)}|"
                  f"Step_{p.rng.choice(['LSC', 'SPUtils'])}|{p.n(10**7, 10**8)}|", [
        "onStandStepChanged {n}",
        "onExtend:{n} {n} {n} {n}",
        "getTodayTotalDetailSteps = {n}##{n}##{n}##{n}##{n}##{n}",
        "REPORT : {n} {n} {n} {n}",
        "flush sensor data",
        "setTodayTotalDetailSteps={n}##{n}##{n}##{n}##{n}##{n}",
    ]),
    "proxy": (lambda p: f"[10.{p.n(10, 30)} {p.clock()}] {p.program()}.exe - ", [
        "{fqdn}:{n} open through proxy proxy.{fqdn}:{n} HTTPS",
        "{fqdn}:{n} close, {n} bytes sent, {n} bytes received, lifetime {lifetime}",
        "{fqdn}:{n} close, {n} bytes ({f} KB) sent, {n} bytes ({f} MB) received, lifetime {lifetime}",
        "{fqdn}:{n} error : Could not connect through proxy proxy.{fqdn}:{n} - Proxy server cannot establish a"
        " connection with the target, status code {n}",
    ]),
    "openstack": (lambda p: f"nova-compute.log.1.2017-05-16_13:55:31 2017-05-16 {p.clock()}.{p.n(100, 999)} {p.n()}"
                  f" INFO nova.compute.manager [req-{p.uuid()} - - - - -] ", [
        "[instance: {uuid}] VM Started (Lifecycle Event)",
        "[instance: {uuid}] VM Paused (Lifecycle Event)",
        "[instance: {uuid}] Took {f} seconds to spawn the instance on the hypervisor.",
        "[instance: {uuid}] Terminating instance",
        '{ip} "GET /v2/{hex}/servers/detail HTTP/1.1" status: 200 len: {n} time: {f}',
        '{ip} "POST /v2/{hex}/os-server-external-events HTTP/1.1" status: 200 len: {n} time: {f}',
        "Compute_service record updated for cp-{n}.cloud.{fqdn}:cp-{n}.cloud.{fqdn}",
    ]),
    "macos": (lambda p: f"{p.syslog_time()} {p.rng.choice(['authorMacBook-Pro', 'calvisitor-10-105-160-95'])}"
              f" {p.rng.choice(['kernel[0]', 'com.apple.xpc.launchd[1]', 'QQ[10018]'])}: ", [
        "ARPT: {f}: wl0: setup_keepalive: Remote IP: {ip}",
        "(com.apple.{word}[{n}]) Service exited with abnormal code: {n}",
        "Sandbox: {unit}({n}) deny(1) file-read-data {path}",
        "AppleCamIn::systemWakeCall - messageType = 0x{hex}",
        "IOThunderboltSwitch<0x{hex}>(0x0)::listenerCallback - Thunderbolt HPD packet for route = 0x0 port = {n}"
        " unplug = 0",
    ]),
    "bgl": (lambda p: f"- {p.n(10**9, 2 * 10**9)} 2005.06.{p.n(10, 28)} R{p.n(10, 77)}-M{p.n(0, 1)}-N{p.n(0, 9)}-C:J"
            f"{p.n(10, 17)}-U{p.n(10, 11)} 2005-06-03-{p.clock().replace(':', '.')}.{p.n(100000, 999999)} R02-M1-N0"
            "-C:J12-U11 RAS KERNEL INFO ", [
        "instruction cache parity error corrected",
        "{n} double-hummer alignment exceptions",
        "generating core.{n}",
        "CE sym {n}, at 0x{hex}, mask 0x{hex}",
        "data TLB error interrupt",
        "ciod: failed to read message prefix on control stream (CioStream socket to {ip}:{n}",
    ]),
}

_FIELD = re.compile(r"\{(\w+)\}")


def _fill(template: str, params: Params, literal: list[str] | None = None) -> str:
    """The template with every field drawn; the values of state fields are added to `literal` (a transition
    to FAILED is another message than one to DONE, as the public log benchmarks label them too)."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "lifetime":
            return params.rng.choice(["<1 sec", "00:01", "01:12:09", "00:00:05"])
        produced: str = getattr(params, name)()
        if name == "state" and literal is not None:
            literal.append(produced)
        return produced

    return _FIELD.sub(value, template)


# A raised level in a header is a severity label: the same message without it is another identity.
_RAISED = re.compile(
    r"(?i)(?<![A-Za-z])(warn|warning|error|err|crit|critical|fatal|alert|emerg|severe|panic)(?![A-Za-z])"
)


def log_messages(seed: int = 1, per_template: int = 40) -> list[tuple[str, str, str]]:
    """(system, template id, line) — a third of the lines without their header, as a shipper may send them.

    A line whose header carries a raised level (warning, error, …) and the same message without that header
    are two identities, as a warning label and no label are.
    """
    rng = random.Random(seed)
    params = Params(rng)
    rows = []
    for system, (header, templates) in SYSTEMS.items():
        for index, template in enumerate(templates):
            for _ in range(per_template):
                states: list[str] = []
                body = _fill(template, params, states)
                label = "-".join([f"{system}-{index}", *states])
                head = header(params)
                if rng.random() < 0.33:
                    # Without its header; a logcat tag ("Tag: ") is part of the header.
                    line = body.split(": ", 1)[1] if system == "android" else body
                    if _RAISED.search(head):
                        label += "-bare"
                else:
                    line = head + body
                rows.append((system, label, line))
    return rows
