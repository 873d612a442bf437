"""A generalisation corpus: log streams in the styles of formats the identity rules were not written on.

Every message here is written for this corpus (no line is taken from a public data set): servicing logs of a
desktop OS (CBS/CSI style, with HRESULTs, GUIDs, package names and Windows paths), a desktop proxy client's
connection log, Spark executor and Hadoop MapReduce log4j lines with task, attempt and container ids, an
OpenSSH daemon's authentication lines, a web server's error log, the node and state messages of an HPC
cluster, and a mobile health app's step counter. The volatile tokens are the realistic ones: ids, paths,
host:port, sizes with units, durations, hex, GUIDs, user names, quoted values, key=value, byte counts
written `1,234 bytes`, lifetimes written `00:01` or `<1 sec`, lists of values of any length. Values spelled in
plain words (a flag, a state, a protocol, a signal, an error name) are part of the template, as the public
benchmarks label them (see _LITERAL).

Lines carry the message only (no timestamp header), as the public log benchmarks give them. Each system is a
stream of its own with skewed template frequencies (a few templates are most of the lines, many are rare);
every message carries the id of the template that produced it.
"""

from __future__ import annotations

import random
import re

from benchmarks.identity_corpus.params import Params

_FIELD = re.compile(r"\{(\w+)\}")
_STATES = ["NEW", "SCHEDULED", "ASSIGNED", "RUNNING", "SUCCEEDED", "FAILED", "KILLED", "COMMIT_PENDING"]
_NODE_STATES = ["running", "idle", "down", "draining", "unavailable", "configured", "booting", "halted"]
_COMPONENTS = ["amd64_microsoft-windows-shell32", "x86_netfx-mscorlib", "wow64_microsoft-windows-ie-htmlrendering",
               "amd64_microsoft-windows-kernel-power", "msil_system.data.linq", "amd64_wcf-system.servicemodel"]
_HRESULT_NAMES = ["CBS_E_MANIFEST_INVALID_ITEM", "ERROR_FILE_NOT_FOUND", "CBS_E_INVALID_PACKAGE",
                  "ERROR_SXS_ASSEMBLY_MISSING", "E_FAIL", "CBS_E_NOT_APPLICABLE"]
_ALGOS = ["diffie-hellman-group1-sha1", "diffie-hellman-group14-sha1", "curve25519-sha256", "ecdh-sha2-nistp256",
          "ssh-rsa", "ssh-dss", "aes128-cbc", "3des-cbc"]
_REASONS = ["Bye Bye", "disconnected by user", "Normal Shutdown, Thank you for playing", "Goodbye",
            "Client closed connection"]
_ACTIONS = ["android.intent.action.SCREEN_ON", "android.intent.action.SCREEN_OFF", "android.intent.action.TIME_TICK",
            "android.intent.action.DATE_CHANGED", "android.intent.action.USER_PRESENT"]
_PROGRAMS = ["chrome.exe", "firefox.exe", "Dropbox.exe", "OUTLOOK.EXE", "Slack.exe", "svchost.exe *64",
             "git-remote-https.exe", "WeChat.exe"]
_RULES = ["Default", "Localhost", "Intranet", "Office Apps", "Browsers via proxy", "Direct LAN"]
_MODULES = ["mod_proxy", "mod_ssl", "mod_rewrite", "mod_cache", "mod_deflate"]
_SIGNALS = ["Segmentation fault (11)", "Aborted (6)", "Bus error (7)", "Killed (9)"]
_FS_DOMAINS = ["home", "scratch", "projects", "tmpfs0", "archive"]
_EVENT_TYPES = ["CONTAINER_REMOTE_LAUNCH", "CONTAINER_REMOTE_CLEANUP", "TA_DIAGNOSTICS_UPDATE", "JOB_COMMIT",
                "TA_CONTAINER_COMPLETED"]
_QUOTED = ["index.php", "wp-login.php", "select * from users", "../../etc/passwd", "<script>"]


class StyleParams(Params):
    """Parameter values of the kinds these formats carry."""

    def port(self) -> str:
        return str(self.rng.choice([22, 80, 443, 8080, 5070, 3128, self.rng.randint(1024, 65535)]))

    def hex8(self) -> str:
        return self.hex(8).upper() if self.rng.random() < 0.5 else self.hex(8)

    def guid(self) -> str:
        return "{" + self.uuid().upper() + "}"

    def ver(self) -> str:
        return f"{self.n(6, 10)}.{self.n(0, 3)}.{self.n(7600, 9600)}.{self.n(16000, 24000)}"

    def kb(self) -> str:
        return f"KB{self.n(2000000, 4999999)}"

    def pkg(self) -> str:
        return (f"Package_{self.rng.choice(['for', 'for_RollupFix', '1_for', '22_for'])}_{self.kb()}~31bf3856ad364e35"
                f"~amd64~~{self.n(6, 10)}.{self.n(0, 3)}.{self.n(1, 9)}.{self.n(0, 30)}")

    def comp(self) -> str:
        return f"{self.rng.choice(_COMPONENTS)}_31bf3856ad364e35_{self.ver()}_none_{self.hex(16)}"

    def winpath(self) -> str:
        parts = self.rng.choice([["Windows", "Servicing", "Packages"], ["Windows", "winsxs", "Temp", "PendingRenames"],
                                 ["Windows", "Logs", "CBS"], ["ProgramData", "Microsoft", "Windows", "WER"]])
        return "C:\\" + "\\".join(parts) + "\\" + self.rng.choice(["", self.hex(6) + ".tmp", "CbsPersist.log"])

    def hres(self) -> str:
        return self.rng.choice(_HRESULT_NAMES)

    def flag(self) -> str:
        return self.rng.choice(["true", "false"])

    def bytes(self) -> str:
        """A byte count as the proxy client writes it: `835`, `1,204`, `12,405,117`."""
        return f"{self.rng.choice([self.rng.randint(0, 999), self.rng.randint(1000, 10**8)]):,}"

    def size(self) -> str:
        return f"{self.rng.uniform(0.1, 999):.{self.rng.randint(1, 2)}f} {self.rng.choice(['KB', 'MB', 'GB'])}"

    def lifetime(self) -> str:
        hours = f"{self.n(1, 23).zfill(2)}:{self.n(0, 59).zfill(2)}:{self.n(0, 59).zfill(2)}"
        return self.rng.choice(["<1 sec", f"00:{self.n(0, 59).zfill(2)}", hours, f"{self.n(1, 59)}:{self.n(10, 59)}"])

    def proc(self) -> str:
        return self.rng.choice(_PROGRAMS)

    def rule(self) -> str:
        return self.rng.choice(_RULES)

    def proto(self) -> str:
        return self.rng.choice(["HTTPS", "SOCKS5", "SOCKS4"])

    def taskno(self) -> str:
        return f"{self.n(0, 400)}.{self.n(0, 3)}"

    def stage(self) -> str:
        return f"{self.n(0, 60)}.{self.n(0, 2)}"

    def rdd(self) -> str:
        return f"rdd_{self.n(0, 60)}_{self.n(0, 400)}"

    def broadcast(self) -> str:
        return f"broadcast_{self.n(0, 90)}" + self.rng.choice(["", "_piece0"])

    def app_id(self) -> str:
        return f"{self.n(1445000000000, 1449999999999)}_{self.n(1, 40):0>4}"

    def job(self) -> str:
        return f"job_{self.app_id()}"

    def attempt(self) -> str:
        return f"attempt_{self.app_id()}_{self.rng.choice('mr')}_{self.n(0, 999):0>6}_{self.n(0, 3)}"

    def taskid(self) -> str:
        return f"task_{self.app_id()}_{self.rng.choice('mr')}_{self.n(0, 999):0>6}"

    def container(self) -> str:
        return f"container_{self.app_id()}_{self.n(1, 3):0>2}_{self.n(1, 999):0>6}"

    def jvm(self) -> str:
        return f"jvm_{self.app_id()}_{self.rng.choice('mr')}_{self.n(1, 99999):0>6}"

    def state(self) -> str:
        return self.rng.choice(_STATES)

    def nodestate(self) -> str:
        return self.rng.choice(_NODE_STATES)

    def nodename(self) -> str:
        return self.rng.choice([f"node-{self.n(0, 255)}", f"node-D{self.n(0, 9)}", f"gige{self.n(1, 40)}",
                                f"cn{self.n(100, 999)}"])

    def hwid(self) -> str:
        return self.n(1000, 9999)

    def rack(self) -> str:
        return f"R{self.n(0, 9)}{self.n(0, 9)}-M{self.n(0, 1)}-N{self.n(0, 15)}"

    def fsdomain(self) -> str:
        return self.rng.choice(_FS_DOMAINS)

    def algos(self) -> str:
        return ",".join(self.rng.sample(_ALGOS, self.rng.randint(1, 4)))

    def reason(self) -> str:
        return self.rng.choice(_REASONS)

    def fingerprint(self) -> str:
        return "SHA256:" + self.token(43)

    def users(self) -> str:
        return ",".join(self.rng.sample(["yarn", "hdfs", "spark", "curi", "mapred", "alice"], self.rng.randint(1, 3)))

    def module(self) -> str:
        return self.rng.choice(_MODULES)

    def signal(self) -> str:
        return self.rng.choice(_SIGNALS)

    def quoted(self) -> str:
        return self.rng.choice(_QUOTED)

    def action(self) -> str:
        return self.rng.choice(_ACTIONS)

    def steps(self) -> str:
        return "##".join(self.n(0, 20000) for _ in range(self.rng.randint(3, 7)))

    def ms(self) -> str:
        return self.n(1, 99999)

    def epoch_ms(self) -> str:
        return self.n(1500000000000, 1519999999999)

    def csi(self) -> str:
        """A servicing trace's sequence number with its clock: `0000001a@2016/9/27:20:30:31.455`."""
        return (f"{self.hex(8)}@2016/{self.n(1, 12)}/{self.n(1, 28)}:{self.n(0, 23)}:{self.n(10, 59)}:"
                f"{self.n(10, 59)}.{self.n(100, 999)}")

    def stack(self) -> str:
        """A list of return addresses of any length: `@0x7fe… @0xff83…`."""
        return " ".join("@0x" + self.hex(self.rng.randint(7, 11)) for _ in range(self.rng.randint(1, 6)))

    def hive(self) -> str:
        return self.rng.choice(["SOFTWARE", "SYSTEM", "COMPONENTS", "SECURITY", "DEFAULT"])

    def sqm(self) -> str:
        return "C:\\Windows\\servicing\\sqm\\*_" + self.rng.choice(["std", "all", "ext"]) + ".sqm"

    def evtype(self) -> str:
        return self.rng.choice(_EVENT_TYPES)

    def addrs(self) -> str:
        """Addresses listed with `, ` between them, as many as the pipeline has."""
        return ", ".join(f"{self.ip()}:{self.port()}" for _ in range(self.rng.randint(1, 4)))

    def nodesets(self) -> str:
        """Node, mask and status triples, as many as the cluster reported."""
        return " ".join(f"node-{self.n(0, 63)} 0x{self.hex(self.rng.randint(7, 9))} <ok>"
                        for _ in range(self.rng.randint(1, 5)))

    def speeds(self) -> str:
        return " ".join(self.n(2800, 4800) for _ in range(self.rng.randint(3, 8)))

    def noderange(self) -> str:
        return f"node-[{self.n(0, 40)}-{self.n(41, 255)}]"

    def bytesize(self) -> str:
        """A byte count then its size in brackets, as the proxy client writes large transfers."""
        return f"{self.bytes()} bytes ({self.size()})"

    def datetime(self) -> str:
        clock = f"{self.n(1, 12)}:{self.n(0, 59).zfill(2)}:{self.n(0, 59).zfill(2)}"
        return f"{self.n(1, 12)}/{self.n(1, 28)}/2016 {clock} {self.rng.choice(['AM', 'PM'])}"


# system → templates; {name} is drawn from StyleParams at each occurrence.
STYLES: dict[str, list[str]] = {
    "servicing": [
        "Session: {n}_{n} initialized by client {word}Agent, external staging directory: (null)",
        "Session: {n}_{n} finalized. Reboot required: {flag} [HRESULT = 0x{hex8}]",
        "Servicing stack v{ver} loaded from {winpath}",
        "Read applicability state of package: {pkg}, ApplicableState: {n}, CurrentState: {n}",
        "Failed to resolve package '{pkg}' [HRESULT = 0x{hex8} - {hres}]",
        "Warning: store metadata missing for component {comp} [HRESULT = 0x{hex8} - {hres}]",
        "Exec: staging package {pkg} into {winpath}, {n} files, {bytes} bytes",
        "Reboot mark set for package {pkg}, reason: pending file rename",
        "CSI    {hex8} Store transaction @0x{hex} opened for engine {guid} with flags 0x{n}",
        "CSI    {hex8} Component {comp} marked for deletion, refcount {n}",
        "TI: last shutdown at {datetime}, uptime {n} seconds",
        "SQM: {n} report file(s) queued for upload from {winpath}, flags: 0x{n}",
        "Idle maintenance task finished with status 0x{hex8}",
        "Scavenge: store scan started",
        "Scavenge: {n} components removed, {size} reclaimed in {n} ms",
        "Warning: Unrecognized attribute in manifest of package {pkg}.",
        "CSI    {csi} Engine initialised (wcp.dll version {ver}) called (stack {stack})",
        "CSI    {csi} Transaction @0x{hex} torn down",
        "Mounting offline hive: {hive}, under key '{guid}C:/Windows/System32/config/{hive}' from '\\\\?\\C:\\Windows'.",
        "SQM: Queued {n} file(s) for upload matching {sqm}, flags: 0x{n}",
        "Session: {n}_{n} closed. Restart needed: no [HRESULT = 0x00000000 - S_OK]",
        "Applicability cached for package: {pkg}, ApplicableState: {n}, CurrentState:{n}",
        "Starting the installer service loop.",
        "Ending the installer service loop.",
        "Installer service is stopping because: SHUTDOWN_REASON_AUTOSTOP",
    ],
    "proxyclient": [
        "{fqdn}:{port} open through proxy {fqdn}:{port} {proto}",
        "{fqdn}:{port} close, {bytes} bytes sent, {bytes} bytes received, lifetime {lifetime}",
        "{fqdn}:{port} close, {bytes} bytes ({size}) sent, {bytes} bytes ({size}) received, lifetime {lifetime}",
        "{fqdn}:{port} open directly",
        "{fqdn}:{port} error : The proxy server refused the connection, code {n}",
        "{fqdn}:{port} error : Connection attempt to proxy {fqdn}:{port} timed out after {n} sec",
        "{ip}:{port} matched rule '{rule}', using proxy {fqdn}:{port}",
        "DNS name {fqdn} resolved through proxy to {ip}",
        "{proc} - {fqdn}:{port} blocked by rule '{rule}'",
        "Proxy {fqdn}:{port} is not responding, {n} connection(s) queued",
        "{fqdn}:{port} close, {bytes} bytes sent, {bytesize} received, lifetime {lifetime}",
        "{ip}:{port} close, {bytesize} sent, {bytes} bytes received, lifetime {lifetime}",
        "{fqdn}:{port} error : Could not reach {fqdn}:{port} through proxy {fqdn}:{port} - target refused, status {n}",
        "{ip}:{port} error : The connection request was cancelled before it completed.",
        "{fqdn}:{port} error : Connecting to proxy {ip}:{port} failed with error {n}",
    ],
    "spark": [
        "Running task {taskno} in stage {stage} (TID {n})",
        "Finished task {taskno} in stage {stage} (TID {n}). {n} bytes result sent to driver",
        "Block {rdd} stored as values in memory (estimated size {size}, free {size})",
        "Block {broadcast} stored as bytes in memory (estimated size {size}, free {size})",
        "Found block {rdd} locally",
        "Partition {rdd} not found, computing it",
        "Started reading broadcast variable {n}",
        "Reading broadcast variable {n} took {n} ms",
        "Got assigned task {n}",
        "Changing view acls to: {users}",
        "Connecting to driver: spark://CoarseGrainedScheduler@{ip}:{port}",
        "Input split: hdfs://{host}:{port}{path}:{n}+{n}",
        "MemoryStore started with capacity {size}",
        "Executor killed task {taskno} in stage {stage} (TID {n}), reason: stage cancelled",
        "Successfully registered with driver",
        "Shutdown hook called",
        "Getting {n} non-empty blocks out of {n} blocks",
        "Started {n} remote fetches in {n} ms",
        "Successfully started service '{word}Actor' on port {n}.",
        "Remoting started; listening on addresses :[akka.tcp://executorSystem@{host}:{port}]",
        "Created local directory at /tmp/nm/usercache/{user}/appcache/application_{app_id}/blockmgr-{uuid}",
        "Saved output of task '{attempt}' to hdfs://{ip}:{port}{path}/_temporary/0/task_{app_id}",
        "{attempt}: Committed",
        "Starting executor ID {n} on host {host}",
    ],
    "mapreduce": [
        "Progress of TaskAttempt {attempt} is : {f}",
        "{attempt} TaskAttempt moved from {state} to {state}",
        "{taskid} Task moved from {state} to {state}",
        "Assigned container {container} to {attempt}",
        "Launching {attempt} on {host}:{port}",
        "Completed task count: {n}",
        "Headroom recalculated: <memory:{n}, vCores:{n}>",
        "Retrying connect to server: {host}/{ip}:{port}. Already tried {n} time(s); maxRetries={n}",
        "Diagnostics from {attempt}: Error: java.net.ConnectException: Connection refused to {host}:{port}",
        "JVM with ID : {jvm} asked for a task",
        "Job {job} moved from {state} to {state}",
        "Releasing unassigned container {container}",
        "Shuffle port for {attempt} : {port}",
        "Scheduling: PendingReds:{n} ScheduledMaps:{n} ScheduledReds:{n} AssignedMaps:{n} AssignedReds:{n}",
        "Event Writer setup for JobId: {job}, File: hdfs://{host}:{port}{path}/{job}_1.jhist",
        "Processing the event EventType: {evtype} for container {container} taskAttempt {attempt}",
        "Before Scheduling: PendingReds:{n} ScheduledMaps:{n} ScheduledReds:{n} AssignedMaps:{n} AssignedReds:{n}",
        "Address change detected. Old: {host}/{ip}:{port} New: {host}:{port}",
        "Error Recovery for block {word}-{n}:blk_{n}_{n} in pipeline {addrs}: bad datanode {ip}:{port}",
        "Slow ReadProcessor read fields took {n}ms (threshold={n}ms); ack: seqno: {n} targets: [{addrs}]",
        "Recalculating schedule, headroom=<memory:{n}, vCores:{n}>",
        "Num completed Tasks: {n}",
    ],
    "sshd": [
        "Connection from {ip} port {port} on {ip} port 22",
        "Accepted publickey for {user} from {ip} port {port} ssh2: RSA {fingerprint}",
        "Failed password for {user} from {ip} port {port} ssh2",
        "Failed password for invalid user {user} from {ip} port {port} ssh2",
        "Invalid user {user} from {ip} port {port}",
        "input_userauth_request: invalid user {user} [preauth]",
        "Received disconnect from {ip} port {port}:11: {reason} [preauth]",
        "Disconnected from authenticating user {user} {ip} port {port} [preauth]",
        "Unable to negotiate with {ip} port {port}: no matching key exchange method found. Their offer: {algos}",
        "User {user} from {ip} not allowed because not listed in AllowUsers",
        "PAM {n} more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}  user={user}",
        "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}",
        "Timeout before authentication for {ip} port {port}",
        "Server listening on {ip} port {port}.",
    ],
    "webserver": [
        "[client {ip}:{port}] AH01630: client denied by server configuration: {path}",
        "[client {ip}] File does not exist: {path}",
        "Apache/{ver} (Unix) configured -- resuming normal operations",
        "child pid {n} exit signal {signal}",
        "caught SIGTERM, shutting down",
        "[client {ip}] ModSecurity: Access denied with code {n} (phase {n}). Match of \"{quoted}\" against ARGS:q",
        "server reached MaxRequestWorkers setting, consider raising the MaxRequestWorkers setting",
        "(70007)The timeout specified has expired: [client {ip}:{port}] AH01102: error reading status line from"
        " remote server {host}:{port}",
        "{module}: worker {n} entered error state after {n} failures",
        "[client {ip}] script '{path}' not found or unable to stat",
        "scoreboard slot {n} reused by child {n}",
        "jk2_init() Found child {n} in scoreboard slot {n}",
        "jk2_init() Can't find child {n} in scoreboard",
        "workerEnv.init() ok {path}/workers2.properties",
        "mod_jk child workerEnv in error state {n}",
        "mod_jk child init {n} -{n}",
        "[client {ip}] Directory index forbidden by rule: {path}/",
    ],
    "hpc": [
        "{nodename} changed state from {nodestate} to {nodestate}",
        "Component {rack} reported state {nodestate} (hwid={hwid})",
        "PSU failure on {nodename}, ambient temperature {n}C",
        "Temperature {n}C exceeds warning threshold on {nodename}",
        "{nodename} boot command {n} completed",
        "{nodename} boot command {n} failed with status {n}",
        "ClusterFileSystem: no server for ServerFileSystem domain {fsdomain}",
        "Link error on interconnect {rack}:{n}:{n}",
        "Fan speed of {rack} dropped to {n} rpm",
        "{nodename}: {n} ECC errors corrected on DIMM {n}",
        "Job {n} started on {n} nodes: {nodename},{nodename},{nodename}",
        "Job {n} exited with code {n} after {duration}",
        "inconsistent nodesets {nodesets}",
        "Fan speeds ( {speeds} )",
        "Targeting domains:{nodename} and nodes:{noderange} child of command {n}",
        "Temperature ({n}C) exceeds warning threshold",
        "{nodename} not responding",
    ],
    "stepcounter": [
        "onStepSensorChanged {n}",
        "onStepSensorChanged steps={n} lastSteps={n}",
        "saveDailySteps {steps}",
        "loadDailySteps result={steps}",
        "calculateCalories total={n} base={n}",
        "handleBroadcast action:{action}",
        "REPORT : {n} {n} {n} {n}",
        "uploadSteps success=true size={n} cost={ms}ms",
        "uploadSteps failed, errorCode={n}",
        "screen state unknown, assuming screen on",
        "isGoalReached goal={n} steps={n} reached={flag}",
        "syncTime={epoch_ms} lastSync={epoch_ms}",
        "flush sensor buffer",
        "onExtend:{epoch_ms} {n} {n} {n}",
        "setTodayTotalDetailSteps={epoch_ms}##{steps}",
        "getTodayTotalDetailSteps = {epoch_ms}##{steps}",
        "processHandleBroadcastAction action:{action}",
        "upLoadOneMinuteDataToEngine time:{epoch_ms},step:{n},type:{n}",
        "checkCurrentDay a new day comes , reset basicStepData",
        "calculateAltitudeWithCache totalAltitude={n}",
    ],
}


# Fields whose value is part of the template, as the public log benchmarks label them: their labels keep every
# value spelled in plain words (a flag, a state, a protocol, a signal, a module, an error name, a reason)
# and make parameters of numbers, ids, addresses, paths, quoted values and what follows a word that names a
# value (`user alice`, `on host`). A transition to FAILED is not one to SUCCEEDED for an incident either, and
# a constant's name (an event type, an error name) says which event it is.
_LITERAL = frozenset(["flag", "state", "nodestate", "proto", "signal", "module", "hres", "reason", "evtype"])


def _fill(template: str, params: StyleParams) -> tuple[str, str]:
    """(message, what its template id adds: the values of its literal fields)."""
    flags: list[str] = []

    def value(match: re.Match[str]) -> str:
        produced = str(getattr(params, match.group(1))())
        if match.group(1) in _LITERAL:
            flags.append(produced)
        return produced

    text = _FIELD.sub(value, template)
    return text, "".join(f"-{flag}" for flag in flags)


def style_streams(seed: int = 7, per_template: int = 40) -> dict[str, list[tuple[str, str]]]:
    """system → [(template id, message)], each system one stream in arrival order.

    Template frequencies are skewed as in real logs: the first templates of a system are common, the last
    rare (down to 2 occurrences).
    """
    rng = random.Random(seed)
    params = StyleParams(rng)
    streams: dict[str, list[tuple[str, str]]] = {}
    for system, templates in STYLES.items():
        rows = []
        for index, template in enumerate(templates):
            count = max(2, int(per_template * 2 / (1 + index * 0.5)))
            for _ in range(count):
                text, variant = _fill(template, params)
                rows.append((f"{system}-{index}{variant}", text))
        rng.shuffle(rows)
        streams[system] = rows
    return streams
