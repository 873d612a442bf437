"""What an alert says about itself: its title, description, where it fired and how many are firing."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.reading.draft import REGION

_FIRING = re.compile(r"^\s*(?::\w+:\s*)?\[(FIRING|RESOLVED)(?::(\d+))?\]\s*", re.IGNORECASE)
_SLACK_TITLE = re.compile(r"^\*Alert:\*\s*(.+)$", re.MULTILINE)
_SLACK_DESCRIPTION = re.compile(r"^\*Description:\*\s*(.+)$", re.MULTILINE)
_RULE_LINE = re.compile(r"^Rule:\s*(.+)$", re.MULTILINE)
_FALCO_EVENT = re.compile(
    r"\d{4}-\d\d-\d\dT[\d:.]+(?:[+-]\d\d:?\d\d|Z)?:\s+"
    r"(?:(?:Emergency|Alert|Critical|Error|Warning|Notice|Informational|Info|Debug)\s+)?"
    r"(.+?)(?:\s+\|\s|$)",
    re.MULTILINE,
)
_PG_LINE = re.compile(r"(?:([\w.-]+)@([\w.-]+) )?(?:LOG|ERROR|FATAL|PANIC|WARNING):\s+(.+)$", re.MULTILINE)
_FIELD = re.compile(
    r"(?<![\w.-])(instance|job|namespace|k8s_ns_name|k8s_pod_name|k8s\.pod|k8s\.ns|pod|container_name|container|service"
    r"|hostname|host|node|cluster|process|user)"
    r"\s*[=:]\s*\"?([A-Za-z0-9][^\s,;\]\)\"|]*)"
)
_PG_DETAIL = re.compile(r"(?:DETAIL|HINT):\s+(.+)$")
_FIELD_NAMES = {
    "k8s_ns_name": "namespace", "k8s_pod_name": "pod", "k8s.pod": "pod", "k8s.ns": "namespace",
    "container_name": "container", "hostname": "host", "node": "host",
}
_SYSTEMD_UNIT = re.compile(r"(?<![\w@.-])([\w@-]{1,80})\.service\b")
# At most one blank before it: a leading `\s*` would be retried from every blank of a long run.
_PAREN_INSTANCE = re.compile(r"[ \t]?\(instance ([^)\s]+)\)")
_FALCO_HOST = re.compile(r"^Falco alert on (\S+)", re.MULTILINE)
_LEADING_STAMP = re.compile(
    r"^(?:\d{4}-\d\d-\d\d[T ][\d:.,]+(?:\s?(?:[+-]\d\d:?\d\d|Z|UTC))?\s*|\[\d+\]\s*|:\w+:\s*)+"
)
_SYSLOG_PREFIX = re.compile(r"^[A-Z][a-z]{2}\s+\d+\s[\d:]+\s(\S+)\s[\w./-]+(?:\[\d+\])?:\s*")
_EXCEPTION_LINE = re.compile(
    r"^\s*(?:Exception in thread \"[^\"]*\"\s+)?((?:[\w$]+\.)*[\w$]*(?:Exception|Error)\b(?::[^\n]*)?)$",
    re.MULTILINE,
)
# A name after a word that introduces a place ("on kafka-2", "service search-api", "app 'Expenses'"),
# or a name shaped like a host or workload (letters, then -digits or dots): kafka-0, es-data-5.
_LOOSE_PLACE = re.compile(
    r"\b(?i:(on|at|in|for|from)|host|pod|node|instance|service|cluster|app|application|deployment|broker"
    r"|controller|replica|database|db|bucket|topic|repo|repository|endpoint|queue|server|vm|domain|tenant"
    r"|probe|container|table|backend|frontend)\s{1,3}(?:(?i:host|the|of|to|on)\s{1,3})?[\"'`]?"
    r"((?=[\w.@/*-]{0,80}[A-Za-z])(?=[\w.@/*-]{0,80}[\d.@/_*-])[A-Za-z0-9*/][\w.@/*-]{0,80}[A-Za-z0-9])"
    r"|\b(?i:app|application|service|tenant|team|customer)\s{1,3}[\"']([A-Z][^\"'\n]{1,40})[\"']"
    r"|(?<![\w./-])([a-z][a-z0-9]{1,30}(?:-[a-z0-9]{1,30}){0,6}-\d[\w-]{0,30}(?:\.[a-z][\w-]{0,30}){0,4})(?![\w-])"
)
# Dimension and tag keys that name a resource in cloud and metric alerts (CloudWatch, Datadog, Prometheus):
# `ApiName=public-api`, `dbinstanceidentifier:orders-db`. A colon counts only with no blank after it, so
# prose such as "app: the checkout page" is not read as a tag.
_RESOURCE_FIELD = re.compile(
    r"(?<![\w.-])(?i:apiname|servicename|functionname|dbinstanceidentifier|dbclusteridentifier|loadbalancer"
    r"|targetgroup|queuename|clustername|topicname|tablename|bucketname|cachenodeid|cacheclusterid|streamname"
    r"|consumergroup|consumer_group|app|application|deployment|statefulset|daemonset|kube_deployment"
    r"|kube_service|service_name|app_name)(?:\s?=\s?|:)\"?([A-Za-z0-9][\w./-]{0,100})"
)
# A host name in prose: at least three labels and a top-level name hosts use ("sso.corp.example.com").
_FQDN = re.compile(r"(?<![\w.@/-])([a-z0-9][a-z0-9.-]{2,200}\.([a-z]{2,12}))(?![\w-]|\.[\w-])")
_HOST_TLDS = frozenset(
    [
        "com", "net", "org", "io", "dev", "app", "cloud", "internal", "local", "lan", "corp", "example", "eu", "us",
        "uk", "de", "fr", "nl", "co", "ai", "tech", "svc",
    ]
)
_PACKAGE_ROOTS = frozenset(["com", "org", "net", "io", "java", "javax", "kotlin", "scala", "sun", "jdk", "android"])
# `namespace/name-<suffix>` as Kubernetes prints jobs and pods (nightly/report-export-28519200).
_NAMESPACED = re.compile(r"(?<![\w./-])[a-z0-9][a-z0-9-]{0,62}/([a-z][a-z0-9-]{0,120}[a-z0-9])(?![\w./-])")
# The service a stack trace's code lives in: a Go module path, a Java package under the vendor's
# domain, or the directory under an application root that a Python/Node file sits in.
_GO_MODULE = re.compile(r"\b(?:github\.com|gitlab\.com|bitbucket\.org)/[\w.-]{1,100}/([\w.-]{1,100})/")
_JAVA_PACKAGE = re.compile(r"\b(?:com|org|net|io)\.([a-z]\w{0,40})\.([a-z]\w{0,40})\.")
_CODE_DIR = re.compile(r"[\"(\s]/(?:app|srv|opt|code|usr/src/app|usr/src|home/\w{1,40})/([\w-]{1,60})/")
_FRAMEWORKS = frozenset(
    [
        "springframework", "apache", "hibernate", "sun", "google", "fasterxml", "zaxxer", "netty", "grpc",
        "microsoft", "oracle", "mysql", "postgresql", "amazonaws", "aws", "jboss", "eclipse", "jetbrains", "squareup",
    ]
)
_NOT_SERVICES = frozenset(
    ["lib", "lib64", "venv", "env", "site-packages", "node_modules", "local", "bin", "src", "dist", "build", "conda"]
)
_URL_HOST = re.compile(r"\bhttps?://([A-Za-z0-9][A-Za-z0-9.-]{1,100}[A-Za-z0-9])")
_NUMBER_LIKE = re.compile(r"[\d.,:/%*-]+[a-z]{0,3}|\d[\w.]*|[a-z]{1,3}\d{1,3}|http/[\d.]+|utf-\d+|x86-64")
_ENDPOINT = re.compile(
    r"\b(?:GET|POST|PUT|PATCH|DELETE|HEAD)\s{1,3}(/[\w./{}:-]{0,120})|\bendpoint\s{1,3}(/[\w./{}:-]{0,120})"
)
_CAMEL_GAP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SAFE_TARGET = re.compile(r"[^\w.:/@ ()-]")


@dataclass(frozen=True)
class AlertFields:
    """The parts of an alert a card is built from."""

    title: str
    description: str
    where: tuple[tuple[str, str], ...]
    target: str
    firing: int
    # the printed identifier of the failure: KeyError, HTTP 500, ORA-00060 ('' when none)
    error: str = ""


def clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip(" ,;:-") + "…"


def _humanise(name: str) -> str:
    return _CAMEL_GAP.sub(" ", name)


def _clean_line(line: str) -> str:
    line = _FIRING.sub("", line)
    line = _SYSLOG_PREFIX.sub("", line)
    line = _LEADING_STAMP.sub("", line)
    line = _PAREN_INSTANCE.sub("", line)
    return line.strip(" *:-—")


def _title_and_description(text: str, lines: list[str]) -> tuple[str, str]:
    slack_title = _SLACK_TITLE.search(text) if "*Alert:*" in text else None
    if slack_title is not None:
        slack_description = _SLACK_DESCRIPTION.search(text)
        return _clean_line(slack_title.group(1)), slack_description.group(1).strip() if slack_description else ""
    falco = _FALCO_EVENT.search(text) if "T" in text and ": " in text and "-" in text else None
    rule_line = _RULE_LINE.search(text) if "Rule:" in text else None
    if falco is not None:
        message = falco.group(1).strip()
        if rule_line is not None:
            return rule_line.group(1).strip(), message
        return message, ""
    first = lines[0]
    if _FIRING.match(first):
        rest = _FIRING.sub("", first)
        head, _, tail = rest.partition(" — ")
        name = head.split(" ", 1)[0]
        if tail:
            return _humanise(name), tail.strip()
        body = [line for line in lines[1:] if not line.lstrip().startswith(("VALUE", "LABELS"))]
        if body:
            return _clean_line(body[0]), body[1].strip() if len(body) > 1 else ""
        return _humanise(name), ""
    pg = _PG_LINE.search(first) if ":  " in first else None
    if pg is not None:
        detail = next((hit for line in lines[1:] if (hit := _PG_DETAIL.search(line))), None)
        return pg.group(3).strip(), detail.group(1).strip() if detail else ""
    if "Exception" in text or "Error" in text:
        exceptions = _EXCEPTION_LINE.findall(text)
        if exceptions:
            # a Python traceback ends with the exception; Java and Go logs start with it
            exception = exceptions[-1] if "Traceback" in text else exceptions[0]
            return exception.strip(), ""
    title = _clean_line(first) or first.strip()
    others = [_clean_line(line) for line in lines[1:]]
    similar = [line for line in others if line.split(" ")[:3] == title.split(" ")[:3]]
    if similar and len(similar) == len(others):
        return title, f"and {len(similar)} more similar lines"
    return title, others[0] if others else ""


# The identifier of what failed, as systems print it: an exception class, an HTTP status, an error code.
_ERROR_TOKEN = re.compile(
    r"\b((?:[a-z_]\w{0,60}\.){0,6}[A-Z]\w{0,60}?(?:Error|Exception|Panic|Rejection))\b(?!\.\w)"
    r"|\b(HTTP(?:/[\d.]{1,3})?\s{1,3}[1-5]\d\d)\b"
    r"|\b((?:ORA|TNS|AADSTS|MY|SQLSTATE)-?\d{4,6})\b"
    r"|\b(E(?:CONNREFUSED|CONNRESET|TIMEDOUT|NOSPC|ADDRINUSE|HOSTUNREACH|NOTFOUND|ACCES|PIPE|MFILE))\b"
    r"|\b(SIG(?:KILL|SEGV|TERM|ABRT|BUS))\b"
    r"|\b(exit (?:code|status)[ =:]{1,3}\d{1,3})\b"
)


def error_token(text: str) -> str:
    """The first printed identifier of the failure (KeyError, HTTP 500, ORA-00060, ECONNREFUSED...), or ''."""
    hit = _ERROR_TOKEN.search(text)
    if hit is None:
        return ""
    token = next(group for group in hit.groups() if group)
    return token.rsplit(".", 1)[-1] if "." in token and not token.startswith("HTTP") else token


def loose_places(text: str, limit: int = 3) -> list[str]:
    """Names in the text that read like a host, workload or resource, strongest first."""
    strong: list[str] = []
    weak: list[str] = []
    for hit in _LOOSE_PLACE.finditer(text):
        name = (hit.group(2) or hit.group(3) or hit.group(4) or "").strip()
        if not name or _NUMBER_LIKE.fullmatch(name.lower()) or name in strong or name in weak or not_a_place(name):
            continue
        # after "in", "at", "for"... a name may be a function or a file; a named host or pod is better
        (weak if hit.group(1) is not None else strong).append(name)
        if len(strong) >= limit:
            break
    url = _URL_HOST.search(text) if "://" in text else None
    if url is not None and url.group(1) not in strong and len(strong) < limit:
        strong.append(url.group(1))
    for host in host_names(text) if text.count(".") >= 2 else []:
        if len(strong) < limit and not any(host in name or name in host for name in strong):
            strong.append(host)
    return (strong + weak)[:limit]


# Names that are never the place: request and trace ids, thread names, weekdays and months.
_ID_LIKE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{16,}", re.IGNORECASE)
_THREAD = re.compile(
    r"(?:^|-)(?:exec|thread|nio|pool|worker-thread|scheduling|task)-\d|^(?:req|request|trace|span|txn|msg)-?\d",
    re.IGNORECASE,
)
_CALENDAR = frozenset([
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "january", "february", "march",
    "april", "june", "july", "august", "september", "october", "november", "december", "today", "tomorrow",
    "yesterday", "details",
])


def not_a_place(name: str) -> bool:
    """An id, a thread name or a calendar word: never the place a card names."""
    return bool(_ID_LIKE.search(name)) or bool(_THREAD.search(name)) or name.lower() in _CALENDAR


def host_names(text: str) -> list[str]:
    """Fully-qualified host names written in prose, not Java packages or file names."""
    found: list[str] = []
    for hit in _FQDN.finditer(text):
        name = hit.group(1)
        labels = name.split(".")
        if (
            hit.group(2) in _HOST_TLDS and len(labels) >= 3 and "" not in labels
            and labels[0] not in _PACKAGE_ROOTS and name not in found
        ):
            found.append(name)
    return found


def _random_part(part: str) -> bool:
    """A generated name suffix: a job's schedule number or a replica set / pod hash."""
    if part.isdigit():
        return len(part) >= 3
    return 4 <= len(part) <= 10 and any(c.isdigit() for c in part) and any(c.isalpha() for c in part)


def workload_name(name: str) -> str:
    """The workload behind a generated Kubernetes object name, or '' when it has no generated suffix."""
    parts = name.split("-")
    kept = list(parts)
    while len(kept) > 1 and _random_part(kept[-1]):
        kept.pop()
    return "-".join(kept) if len(kept) < len(parts) else ""


def namespaced_workloads(text: str) -> list[str]:
    """Workloads named as `namespace/name-<suffix>` (Kubernetes jobs and pods)."""
    found: list[str] = []
    for hit in _NAMESPACED.finditer(text):
        name = workload_name(hit.group(1))
        if name and name not in found:
            found.append(name)
    return found


def code_service(text: str) -> str:
    """The service a stack trace's code belongs to, from its module path, package or directory, or ''."""
    go = _GO_MODULE.search(text) if ".com/" in text or ".org/" in text else None
    if go is not None:
        return go.group(1)
    for hit in _JAVA_PACKAGE.finditer(text):
        if hit.group(1) not in _FRAMEWORKS and hit.group(2) not in _FRAMEWORKS:
            return hit.group(2)
    for hit in _CODE_DIR.finditer(text):
        if hit.group(1) not in _NOT_SERVICES:
            return hit.group(1)
    for hit in _DOTNET_FRAME.finditer(text):
        # .NET frames name the assembly's namespace: Acme.Orders.Controllers.X -> Acme.Orders
        if hit.group(1) not in ("System", "Microsoft", "Newtonsoft", "Npgsql", "Grpc", "Polly"):
            return f"{hit.group(1)}.{hit.group(2)}"
    return ""


_DOTNET_FRAME = re.compile(r"^\s{1,12}at ([A-Z]\w{1,40})\.([A-Z]\w{1,40})\.[\w.`<>]{1,200}\(", re.MULTILINE)


def loose_place(text: str) -> str:
    """The first name in the text that reads like a host, workload or resource, or ''."""
    found = loose_places(text, 1)
    return found[0] if found else ""


def extract_fields(text: str) -> AlertFields:
    """Title, description and location (instance, job, pod, host...) as the alert states them."""
    lines = [line for line in text.splitlines() if line.strip()] or [""]
    title, description = _title_and_description(text, lines)
    where: dict[str, str] = {}
    falco_host = _FALCO_HOST.search(text) if "Falco alert on" in text else None
    if falco_host is not None:
        where["host"] = falco_host.group(1)
    paren = _PAREN_INSTANCE.search(text) if "(instance " in text else None
    if paren is not None:
        where["instance"] = paren.group(1)
    for hit in _FIELD.finditer(text):
        key = hit.group(1).lower()
        key = _FIELD_NAMES.get(key, key)
        value = hit.group(2).rstrip(".:}")
        if key not in where and value and value.lower() not in ("<na>", "null", "none"):
            where[key] = value
    for hit in _RESOURCE_FIELD.finditer(text):
        value = hit.group(1).rstrip(".:/")
        if value and value.lower() not in ("<na>", "null", "none"):
            where.setdefault("resource", value)
            break
    workloads = namespaced_workloads(text) if "/" in text else []
    if workloads:
        where.setdefault("workload", workloads[0])
    pg = _PG_LINE.search(text) if ":  " in text else None
    if pg is not None and pg.group(2):
        where.setdefault("database", f"{pg.group(2)} (user {pg.group(1)})")
    syslog = _SYSLOG_PREFIX.match(lines[0])
    if syslog is not None:
        where.setdefault("host", syslog.group(1))
    unit = _SYSTEMD_UNIT.search(text) if ".service" in text else None
    if unit is not None:
        where.setdefault("service", unit.group(1))
    endpoint = _ENDPOINT.search(text) if "/" in text else None
    if endpoint is not None:
        where.setdefault("endpoint", endpoint.group(1) or endpoint.group(2))
    # names the alert mentions outside its fields: the first stands in for a missing host or pod, the
    # rest are kept so the card mentions every place the alert names
    loose = [name for name in loose_places(text) if not any(name in value for value in where.values())]
    named = ("instance", "pod", "container", "host", "resource", "workload")
    if loose and not any(key in where for key in named):
        where["near"] = loose.pop(0)
    if loose:
        where["also"] = ", ".join(loose[:2])
    if not any(key in where for key in (*named, "near", "service", "job")):
        # a stack trace names no host, but its code path names the service
        code = code_service(text)
        if code:
            where["service"] = code
    # a region or zone is where something runs, never the thing affected
    where = {key: value for key, value in where.items() if not REGION.fullmatch(value.strip())}
    target = next(
        (
            where[key]
            for key in ("instance", "pod", "container", "host", "resource", "workload", "near", "service", "job")
            if key in where
        ),
        "",
    )
    if not target and "database" in where:
        target = f"database {where['database'].split(' ', 1)[0]}"
    if not target and "process" in where:
        target = f"the host running {where['process']}"
    safe_target = _SAFE_TARGET.sub("", target)[:60] or "the affected component"
    firing = _FIRING.match(lines[0])
    count = int(firing.group(2)) if firing is not None and firing.group(2) else 1
    order = (
        "host", "instance", "job", "service", "resource", "workload", "cluster", "namespace", "pod", "container",
        "database", "endpoint", "process", "user", "near", "also",
    )
    ordered = tuple((key, clip(where[key], 80)) for key in order if key in where)
    return AlertFields(
        title=title, description=description, where=ordered, target=safe_target, firing=count,
        error=error_token(text),
    )
