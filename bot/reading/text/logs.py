"""Logs and traces: stack traces, syslog and journald, a runtime's or a server's own log lines."""

from __future__ import annotations

import re

from bot.reading.draft import LEVEL_ORDER, Draft, clip, level_of, worst_level
from bot.reading.text.fields import HEAD_CHARS, read_pairs
from bot.reading.text.servers import SERVERS, server_resource

LEVEL_RANK = {level: rank for rank, level in enumerate(LEVEL_ORDER)}


_SYSLOG = re.compile(r"^(?:<\d{1,3}>\d?\s?)?(?:[A-Z][a-z]{2}\s{1,2}\d{1,2}\s[\d:]{8}|\d{4}-\d\d-\d\dT[\d:.]{8,15}"
                     r"(?:Z|[+-]\d\d:?\d\d)?)\s([\w.-]{1,100})\s([\w./@()-]{1,80}?)(?:\[(\d{1,10})\])?:\s(.{0,600})$",
                     re.MULTILINE)
_LEVEL_WORD = re.compile(r"(?:^|[\s\[|(])(PANIC|FATAL|EMERG|CRITICAL|CRIT|SEVERE|ERROR|ERR|WARNING|WARN|NOTICE|INFO"
                         r"|DEBUG|TRACE|FTL|WRN|INF|DBG|EROR)(?:[\]:|)\s]|$)")
_GO_LEVEL = re.compile(r"\blevel=\"?(\w{3,8})")
_DOTNET = re.compile(r"^(fail|crit|warn|info|dbug|trce): ([\w.]{1,200})\[\d{1,6}\]", re.MULTILINE)
_JAVA_EXC = re.compile(r"^(?:Exception in thread \"[^\"]{0,100}\" |Caused by: )?((?:[a-z_$][\w$]{0,60}\.){1,10}"
                       r"[A-Z][\w$]{0,100}(?:Exception|Error|Throwable))(?::|$)", re.MULTILINE)
_PY_EXC = re.compile(r"^((?:[a-z_][\w]{0,60}\.){0,6}[A-Z]\w{0,100}(?:Error|Exception|Exit|Interrupt|Warning|Timeout)?)"
                     r"(?::\s.{0,300})?$", re.MULTILINE)
_GO_PANIC = re.compile(r"^panic: (.{1,300})$", re.MULTILINE)
_NODE_EXC = re.compile(r"^(?:Uncaught )?([A-Z]\w{0,60}(?:Error|Exception|Rejection))(?::|\s\[)", re.MULTILINE)
_DOTNET_EXC = re.compile(r"((?:System|Microsoft|[A-Z]\w{0,40})(?:\.[A-Z]\w{0,60}){1,8}Exception)\b")


# "thumbnailer.service: Scheduled restart job, restart counter is at 3": the unit keeps failing
_RESTART_COUNTER = re.compile(r"restart counter is at (\d{1,6})")

_TRACE_BRACKET = re.compile(r"\b(?:ERROR|WARN|INFO|DEBUG|TRACE|FATAL)\s{1,3}\[([a-z][\w.-]{1,60}),[0-9a-f]{0,32},"
                            r"[0-9a-f]{0,32}(?:,\w{0,10})?\]")

def _exception(head: str) -> tuple[str, str]:
    """(runtime, root exception) of a stack trace, or ('', '')."""
    if "Traceback (most recent call last)" in head:
        found = [hit.group(1) for hit in _PY_EXC.finditer(head) if "Error" in hit.group(1) or "Exception"
                 in hit.group(1) or "." in hit.group(1) or hit.group(1).endswith(("Exit", "Interrupt", "Timeout"))]
        return "python", found[-1] if found else ""
    if "goroutine " in head or head.lstrip().startswith("panic:") or "\npanic:" in head:
        panic = _GO_PANIC.search(head)
        return "go", clip(panic.group(1), 120) if panic else "panic"
    if re.search(r"^\s+at [\w$.<>]{1,300}\([\w$.<> ]{0,200}:\d{1,6}\)", head, re.MULTILINE) or "Caused by:" in head:
        found = [hit.group(1) for hit in _JAVA_EXC.finditer(head)]
        # the last 'Caused by' is the root cause
        return "java", found[-1].rsplit(".", 1)[-1] if found else ""
    if re.search(r"^\s+at .{1,200}\((?:node:|file:|/|[A-Za-z]:\\).{0,200}:\d{1,6}:\d{1,6}\)", head, re.MULTILINE):
        found = [hit.group(1) for hit in _NODE_EXC.finditer(head)]
        return "node", found[0] if found else ""
    if re.search(r"^\s+at [\w.<>`]{1,300}\(.{0,200}\)(?: in .{1,200}:line \d{1,6})?$", head, re.MULTILINE) and (
        "Exception" in head
    ):
        found = _DOTNET_EXC.findall(head)
        return "dotnet", found[-1].rsplit(".", 1)[-1] if found else ""
    return "", ""


_LOGBACK = re.compile(r"^\S{10}[ T][\d:.,]{8,12}\s{1,3}(?:ERROR|WARN|INFO|DEBUG|TRACE)\s{1,3}\d{1,8} --- \[",
                      re.MULTILINE)
_LOG4J = re.compile(r"^\S{10}[ T][\d:.,]{8,12}\s{1,3}(?:\[[^\]\n]{1,80}\]\s{1,3})?(?:ERROR|WARN|INFO|DEBUG|TRACE|FATAL)"
                    r"\s{1,3}(?:\[[^\]\n]{1,80}\]\s{1,3})?[a-zA-Z_$][\w$]*(?:\.[\w$]+){1,12}\s{1,3}[-:]", re.MULTILINE)
_LOGGER = re.compile(r"(?:ERROR|WARN|FATAL)\s{1,3}(?:\d{1,8} --- )?\[[^\]\n]{1,80}\]\s{1,3}"
                     r"(?:[a-zA-Z_$][\w$]*\.){1,12}([A-Z][\w$]{1,80})\s{1,30}[-:]")
# an exception class, or an error code in capitals (MISCONF, CERTIFICATE_VERIFY_FAILED), not a value after '=' or '/'
_CODE_TOKEN = re.compile(r"\b([A-Z][A-Za-z]{2,60}(?:Exception|Error))\b"
                         r"|(?<![=/\w])([A-Z][A-Z0-9]{4,}(?:_[A-Z0-9]{2,}){0,6}"
                         r"|[A-Z][A-Z0-9]{2,}(?:_[A-Z0-9]{2,}){1,6})"
                         r"(?![\w/=])")
_FAILURE_PHRASES = (
    "no space left on device", "i/o error", "oom-kill", "out of memory", "failed password", "connection refused",
    "certificate has expired", "read-only file system", "segfault", "too many open files", "permission denied",
    "memory resource limit alarm", "no server available", "deadlock", "election succeeded", "health status changed",
)
_NOT_CODES = frozenset({"WRITE", "READ", "FLUSH", "COMMAND", "NETWORK", "STORAGE", "REPL", "ACCESS", "QUERY",
                        "CONTROL", "PROBLEM", "RECOVERY", "FIRING", "RESOLVED", "ALARM", "WARNING",
                        "CRITICAL", "ERROR", "WARN",
                        "INFO", "DEBUG", "FATAL", "PANIC", "LOG", "DETAIL", "STATEMENT",
                        "CONTEXT", "HINT", "TRACE", "NOTICE", "GET", "POST", "PUT", "DELETE", "HTTP", "UTC",
                        "SSL", "TLS", "JSON", "SQL", "THE", "AND", "NULL", "NOTE", "SYSTEM", "SELECT", "FROM", "WHERE",
                        "ID", "URL", "API", "OK", "PID", "CPU", "GMT", "ALERT", "EMERG", "CRIT", "ERR"})


def _log_name(draft: Draft) -> str:
    """The failure a log names: an exception class, an error code, or a known failure phrase of its worst line."""
    ordered = sorted(draft.events, key=lambda e: LEVEL_RANK.get(e.level, 9))
    for event in ordered[:5]:
        lowered = event.text.lower()
        phrase = next((p for p in _FAILURE_PHRASES if p in lowered), "")
        if phrase:
            return phrase
        for hit in _CODE_TOKEN.finditer(event.text):
            token = hit.group(1) or hit.group(2)
            if token and token not in _NOT_CODES:
                return token
    return ""


def logs(head: str, first: str, draft: Draft) -> bool:
    runtime, root = _exception(head)
    server = next((name for name, pattern in SERVERS if pattern.search(head)), "")
    syslog = list(_SYSLOG.finditer(head)) if ":" in head else []
    dotnet = _DOTNET.search(head)
    levels = [m.group(1) for m in _LEVEL_WORD.finditer(head[:HEAD_CHARS])] if not syslog else []
    go_levels = _GO_LEVEL.findall(head) if "level=" in head else []
    if not (runtime or server or syslog or dotnet or levels or go_levels):
        return False
    kernel = bool(syslog) and syslog[0].group(2).split("[", 1)[0] == "kernel"
    if server and not kernel:
        draft.source = server
    elif runtime == "java" and _LOGBACK.search(head):
        draft.source = "logback"
    elif runtime == "java" and _LOG4J.search(head):
        draft.source = "log4j"
    elif runtime:
        draft.source = runtime
    elif dotnet:
        draft.source = "dotnet"
    elif syslog:
        programs = {hit.group(2).split("[", 1)[0] for hit in syslog[:40]}
        if programs == {"sshd"}:
            draft.source = "sshd"
        elif "-- Logs begin" in head or "-- Journal begins" in head or "journalctl" in head or (not kernel and any(
            program.startswith("systemd") or program in ("kubelet", "containerd", "dockerd") for program in programs
        )):
            draft.source = "journald"
        else:
            draft.source = "syslog"
    elif go_levels:
        draft.source = "logfmt"
    else:
        draft.source = "app-log"
    for hit in syslog[:20]:
        program = hit.group(2)
        draft.event(_line_level(hit.group(4)), f"{program}: {hit.group(4)}")
        draft.label("program", program)
    systemd = [hit.group(4) for hit in syslog if hit.group(2).startswith("systemd")]
    restarts = max((int(hit.group(1)) for line in systemd for hit in _RESTART_COUNTER.finditer(line)), default=0)
    if systemd and systemd[-1].lstrip().startswith("Started ") and restarts < 2 and any(
            "Failed with result" in line or "Main process exited" in line for line in systemd):
        # systemd restarted the unit and says it started: the failure is over (unless it keeps failing)
        draft.status = "recovered"
    # a PostgreSQL log names its database in the user@db prefix, read below; the full directory only without it
    named = server_resource(server, head) if server and server != "postgresql" else ""
    if named:
        draft.resource = named
    if syslog:
        draft.label("host", syslog[0].group(1))
        unit = re.search(r"\b([\w@-]{1,80}\.service)\b", head)
        host = syslog[0].group(1)
        draft.set(resource=f"{unit.group(1)} on {host}" if unit else host)
    if not syslog:
        for line in head.splitlines()[:40]:
            level = _line_level(line)
            if level:
                draft.event(level, line)
    if root:
        draft.alert_name = root
    if dotnet is not None:
        # .NET console logs abbreviate the level: fail, crit, warn, info
        levels = [level_of({"fail": "error", "crit": "critical", "warn": "warning", "dbug": "debug",
                            "trce": "debug"}.get(hit.group(1), hit.group(1))) for hit in _DOTNET.finditer(head)]
        draft.label("level", worst_level(levels))
    if root:
        pass
    elif dotnet is not None:
        exceptions = _DOTNET_EXC.findall(head)
        draft.alert_name = exceptions[-1].rsplit(".", 1)[-1] if exceptions else dotnet.group(2).rsplit(".", 1)[-1]
    if go_levels:
        draft.label("level", worst_level([level_of(level) for level in go_levels]) or go_levels[0])
    if "=" in head[:2000] and not runtime:
        # key=value inside an exception message (HTTPSConnectionPool(host='api.vendor.com')) is not a label
        read_pairs(head, draft)
    if server == "postgresql" and not draft.resource:
        at = re.search(r"\b[\w-]{1,60}@([\w-]{1,60})\s{1,3}(?:LOG|ERROR|FATAL|PANIC|WARNING):", head)
        if at is not None:
            draft.resource = f"database {at.group(1)}"
        else:
            draft.resource = server_resource(server, head)
    if server == "envoy" and not draft.resource:
        upstream = re.search(r"\"([a-z0-9][a-z0-9.-]{0,200}\.svc(?:\.cluster\.local)?)(?::\d{1,5})?\"", head)
        if upstream is not None:
            draft.resource = upstream.group(1)
    logger = _LOGGER.search(head)
    # Spring Boot 3 writes the application name in brackets before the thread: "--- [order-api] [nio-8080-exec-1]"
    application = re.search(r" --- \[([a-z][\w.-]{1,60})\]\s{1,3}\[", head[:20_000]) if " --- [" in head else None
    # Spring Cloud Sleuth writes it first in the trace bracket: "ERROR [card-auth,6f1e9a2b,6f1e9a2b] 7 --- [pool-4]"
    application = application or _TRACE_BRACKET.search(head[:20_000])
    draft.set(resource=draft.labels.get("service") or draft.labels.get("app") or draft.labels.get("host")
              or (application.group(1) if application else "") or (logger.group(1) if logger else ""))
    if not draft.alert_name:
        draft.alert_name = _log_name(draft)
    return True


def _line_level(line: str) -> str:
    hit = _LEVEL_WORD.search(line[:200])
    if hit is not None:
        return level_of(hit.group(1)) or {"ftl": "critical", "wrn": "warning", "dbg": "debug", "eror": "error"}.get(
            hit.group(1).lower(), "")
    lowered = line[:300].lower()
    if "out of memory" in lowered or "killed process" in lowered or "segfault" in lowered or "i/o error" in lowered:
        return "error"
    if "failed" in lowered or "error" in lowered:
        return "error"
    return ""
