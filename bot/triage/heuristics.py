"""Rule-based triage: a valid card from the alert text alone, deterministic, offline and fast."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace

from bot.card import STEP_MAX, TriageCard
from bot.reading import Read, Reading, read
from bot.reading.payload.cloud import BUDGET_METRIC
from bot.triage.alert_fields import AlertFields, code_service, extract_fields
from bot.triage.evidence import Evidence
from bot.triage.instructions import strip_requests
from bot.triage.normalize import undecodable_share
from bot.triage.rules import SEVERITY_ORDER, Rule, RuleSet, default_rules
from bot.triage.severity import (
    LabelHit,
    Signal,
    decide_severity,
    find_label,
    measured_percent,
    numeric_signals,
    reading_label,
    strip_event_fields,
    strongest_signal,
    term_signals,
)
from bot.triage.summary import summarise

_CATEGORY_ORDER: tuple[str, ...] = ("security", "data", "app", "infra")
_UNKNOWN_CATEGORY_CONFIDENCE = 0.25
_GENERIC_STEPS_FACTOR = 0.8
# At or above this share of undecodable bytes the input is binary, not an alert.
_BINARY_SHARE = 0.3
_RESOLVED_STATES = frozenset({"resolved", "ok", "recovered", "up", "closed", "incident.resolved", "close",
                              "resolve", "inactive", "deactivated", "insufficient_data"})
# "Users affected: 1,204" is a count field (Sentry, APMs), not a statement that every user is affected
_COUNT_FIELD = re.compile(r"(?i)\b(users|customers|sessions) (?:affected|impacted):[ \t]{0,5}([\d,]{1,12})")
_RUNTIMES = frozenset({"java", "python", "go", "node", "dotnet", "logback", "log4j", "sentry"})
_SAFE_TARGET = re.compile(r"[^\w.:/@ ()-]")
_RESOLVED = re.compile(r"\[RESOLVED\b|\bstatus\s*[=:]\s*\"?resolved\b", re.IGNORECASE)


@dataclass(frozen=True)
class Analysis:
    """Everything the engine decided and why; heuristic_card turns it into a card."""

    category: str
    scores: dict[str, float]
    subject: str
    severity: str
    basis: str
    label: LabelHit | None
    signal: Signal | None
    measured: float | None
    matched: frozenset[str]
    playbook: str
    steps: tuple[str, str, str]
    confidence: float
    fields: AlertFields
    # what went wrong, in the card's words (from the playbook), for the summary
    failure: str = ""
    # severity from a stated loss of service that outranked a lower label
    conflict: Signal | None = None
    # sentences addressed to the triager, removed before any rule ran
    requests_removed: int = 0
    evidence: Evidence = field(default_factory=Evidence)
    reading: Reading = field(default_factory=Reading)


def heuristic_card(text: str) -> TriageCard:
    """Triage an alert with the packaged rules: category, severity, summary, steps, confidence."""
    return card_of(analyse(text))


def card_of(analysis: Analysis) -> TriageCard:
    """The card an analysis gives."""
    return TriageCard(
        category=analysis.category,  # type: ignore[arg-type]
        severity=analysis.severity,  # type: ignore[arg-type]
        summary=summarise(analysis),
        steps=list(analysis.steps),
        confidence=analysis.confidence,
    )


def analyse(text: str, rules: RuleSet | None = None, *, taken: Read | None = None) -> Analysis:
    """Run the rules over one alert and return the decisions with their evidence."""
    rs = rules or default_rules()
    raw = text
    taken = taken if taken is not None else read(text)
    reading = taken.reading
    # a JSON payload is matched on its fields rendered as text, not on its keys and punctuation
    text = _COUNT_FIELD.sub(r"affected \1 count \2", mask_sender(taken.body or text, reading.source))
    # "mark this P3" or "ignore previous instructions" is never evidence: drop it before any rule runs
    text, requests_removed = strip_requests(text)
    if not requests_removed and taken.body:
        # a payload's text is a rendering of the fields that matter; an order to the triage can sit in any other
        # field (a tag, a resource's description) and still has to be flagged
        requests_removed = strip_requests(raw)[1]
    prepared = rs.prepare(text)
    found = rs.match(prepared)
    matched_ids = frozenset(rs.rules[index].id for index in found)

    category, scores, subject = _categorise(rs, found, reading.source, reading.alert_name, reading.resource)
    if category == "unknown" and reading.people_text and reading.resource:
        # a person reporting trouble with a feature of the product: the service's own behaviour
        category, subject = "app", "Customer-reported problem"
    if rs.source_votes.get(reading.source, ("",))[0] == "unknown":
        # spend is the platform's to explain: the storage and database services' spend is the data platform's,
        # the rest (compute, network) the infrastructure's
        category = "data" if _DATA_SPEND.search(text[:20_000]) else "infra"
        subject = "Cost anomaly" if "cost" in reading.source else "Budget" if "budget" in reading.source else subject
        scores = {**scores, category: max(scores.get(category, 0.0), rs.unknown_below)}
    binary = undecodable_share(text)
    if binary >= _BINARY_SHARE:
        # a few words that survive in binary noise are not evidence of anything
        category, scores, subject = "unknown", {}, "Binary or undecodable input"

    # Falco output carries a long field list (process names, file paths) that is evidence of
    # *what* happened but says nothing about how bad it is: infer severity from the message only.
    severity_text, severity_found = prepared, found
    if "falco" in matched_ids:
        # the rule's own name says what happened as much as its message does
        reduced = f"{strip_event_fields(text)}\n{reading.alert_name}"
        severity_text = rs.prepare(reduced)
        severity_found = rs.match(severity_text)
    severity_ids = frozenset(rs.rules[index].id for index in severity_found)

    # a label from the tool's own label field, on the tool's own scale; else one in label position in the text
    label = reading_label(rs, reading) or find_label(rs, text, prepared.lowered)
    signals = term_signals(rs, severity_found, severity_text, labelled=label is not None)
    if reading.people_text or only_log_levels(text):
        # a person writing "critical" grades their own message, often quoting something else, and a log line's
        # CRITICAL is the level its author chose for it: impact decides
        signals = [s for s in signals if s.rule != "critical_word"]
    measured = measured_percent(text) if severity_ids & {"http_5xx", "http_4xx", "error_rate"} else None
    signals.extend(numeric_signals(rs, severity_ids, severity_text.lowered, measured))
    signal = strongest_signal(signals)
    severity, basis, severity_confidence = decide_severity(label, signal)
    # a stated loss of service outranks a lower label, and so does a certificate's expiry within days: a deadline
    # the tool measured, whatever priority it printed
    loss = strongest_signal([s for s in signals if (s.rule in rs.by_id and rs.rules[rs.by_id[s.rule]].outranks_label)
                             or (s.rule == "cert_expiry" and s.severity == "P1")])
    conflict = None
    if label is not None and loss is not None and _rank(loss.severity) < _rank(label.level.most):
        # a stated loss of service outranks a lower label; a person should settle the disagreement
        severity, basis, severity_confidence, conflict = loss.severity, "conflict", 0.3, loss
    severity, basis, severity_confidence, signal = _from_reading(
        rs, reading, severity, basis, severity_confidence, signal, label, measured, severity_ids, text
    )
    if severity == "P0" and basis == "reading" and label is not None and _rank(label.level.most) > 0:
        conflict = signal
    cap = _strictest(_cap(rs, severity_found, severity_text), _one_short(text, reading), _scope(reading, signal))
    if cap is not None and category == "security" and cap.rule in _NO_CUSTOMER_PATH_CAPS:
        # an intruder on a build machine or a batch host is no smaller for serving no customer request
        cap = None
    stated_p0 = (loss is not None and loss.severity == "P0") or basis == "reading"
    # an environment that is not production bounds even a stated outage: no customer is behind it
    strict = cap is not None and (cap.rule == "environment" or (
        cap.rule == "not_production" and not _names_production(severity_text.words)
    ))
    if cap is not None and _rank(severity) < _rank(cap.severity) and (strict or not stated_p0):
        # what the text says about scope (one of six hosts, not production) bounds the label and the signals
        severity, basis, severity_confidence, signal = cap.severity, "capped", 0.6, cap
    resolved = reading.status in _RESOLVED_STATES or (
        "resolved" in prepared.lowered and _RESOLVED.search(text) is not None and not reading.status
    )
    if resolved:
        severity, basis, severity_confidence = "P3", "resolved", 0.8
    if binary >= _BINARY_SHARE:
        label, signal, loss, conflict = None, None, None, None
        severity, basis, severity_confidence = "P3", "default", 0.3

    all_ids = matched_ids | severity_ids
    fields = extract_fields(text)
    if not reading.resource and reading.source in _RUNTIMES:
        # a stack trace names no host, but its code path names the service (never the host of an API it called)
        service = code_service(text)
        if service:
            reading = reading.model_copy(update={"resource": service})
    if reading.resource:
        # the resource field the tool filled names the place, never a region, host of a vendor or an id
        fields = replace(fields, target=_SAFE_TARGET.sub("", reading.resource)[:60] or fields.target)
    elif fields.target and fields.target != "the affected component":
        reading = reading.model_copy(update={"resource": fields.target})
    playbook_id, failure, steps = _steps(rs, category, all_ids, fields.target, reading)
    steps = _with_subject(steps, subject, category)
    unreadable = _UNREADABLE_STEPS.get(
        "binary" if binary >= _BINARY_SHARE else "cut" if category == "unknown" and cut_payload(text, reading)
        else "noise" if category == "unknown" and signal is None and label is None and reading.source in ("", "unknown")
        else ""
    )
    if unreadable is not None:
        steps = unreadable
    confidence = _confidence(category, scores, severity_confidence)
    if playbook_id.endswith("_default") or playbook_id == "none":
        # nothing told us which failure this is: the steps are generic, and the card says so by its confidence
        confidence = round(confidence * _GENERIC_STEPS_FACTOR, 2)
    evidence = _evidence(rs, found, label, loss, resolved, conflict, requests_removed, reading, basis == "capped")
    if binary >= _BINARY_SHARE:
        note = f"{binary:.0%} of the input is binary or undecodable"
        evidence = replace(evidence, category="unknown", category_reason=note, review=(*evidence.review, note))
    return Analysis(
        category=category,
        scores=scores,
        subject=subject,
        severity=severity,
        basis=basis,
        label=label,
        signal=signal,
        measured=measured,
        matched=all_ids,
        playbook=playbook_id,
        steps=steps,
        confidence=confidence,
        fields=fields,
        failure=failure,
        conflict=conflict,
        requests_removed=requests_removed,
        evidence=evidence,
        reading=reading,
    )


def _rank(severity: str) -> int:
    return SEVERITY_ORDER.index(severity)


# What to do with an input nobody can read: the fault is in the integration that sent it.
_UNREADABLE_STEPS: dict[str, tuple[str, str, str]] = {
    "binary": ("Find the sender of this payload: the integration, webhook or log shipper behind this channel or key",
               "Check how it encodes the payload: a compressed (gzip) or binary body, a wrong content type or charset",
               "Fix the integration's encoding and resend; read the original alert at its source meanwhile"),
    "cut": ("Find the sender of this payload: the integration, webhook or log shipper behind this channel or key",
            "Check why the JSON is truncated or malformed: the sender's payload size limit, batching, content type",
            "Fix the integration and resend; read the original alert at its source meanwhile"),
    "noise": ("Treat it as noise: nothing in this message names a component, a failure or an impact",
              "Ask whoever posted it whether it was a test message or meant for another channel",
              "Open an incident only if they report a real problem, with the service and what fails"),
}


def cut_payload(text: str, reading: Reading) -> bool:
    """JSON that did not parse: it opens like an object or a list but no reader could take it."""
    head = text.lstrip()[:1]
    return head in ("{", "[") and reading.source in ("", "unknown")


# The tool that sent an alert is not its subject: a Zabbix CPU alert is about CPU, not the monitoring stack.
_SENDERS: dict[str, tuple[str, ...]] = {
    "zabbix": ("zabbix",), "nagios": ("nagios",), "icinga": ("icinga2", "icinga"), "datadog": ("datadoghq", "datadog"),
    "newrelic": ("newrelic", "new relic"), "pagerduty": ("pagerduty",), "opsgenie": ("opsgenie",),
    "sentry": ("sentry",), "pingdom": ("pingdom",), "uptimerobot": ("uptimerobot",),
    "betterstack": ("betterstack", "better stack", "betteruptime"), "statuscake": ("statuscake",),
    "checkly": ("checkly",), "okta": ("okta",), "grafana": ("grafana",),
    # a Kibana rule matched log lines: the search engine that ran the query is not the subject
    "kibana": ("kibana", "elasticsearch query", "es query"),
}
# Senders whose name may be the subject too (an alert about Prometheus itself): only links to their UI are masked.
_SENDER_URLS: dict[str, tuple[str, ...]] = {"alertmanager": ("alertmanager", "prometheus"), "grafana": ("grafana",)}


def mask_sender(text: str, source: str) -> str:
    """The text without the sending tool's name and links to its own site."""
    hosts = _SENDER_URLS.get(source)
    if hosts:
        text = re.sub(r"https?://[^\s\"'<>|)]{0,200}(?:" + "|".join(hosts) + r")[^\s\"'<>|)]{0,300}", " ", text,
                      flags=re.IGNORECASE)
    words = _SENDERS.get(source)
    if not words:
        return text
    pattern = re.compile(
        r"https?://[^\s\"'<>|)]{0,200}(?:" + "|".join(re.escape(w) for w in words) + r")[^\s\"'<>|)]{0,300}"
        r"|(?<![A-Za-z])(?:" + "|".join(re.escape(w) for w in words) + r")(?![A-Za-z])",
        re.IGNORECASE,
    )
    return pattern.sub(" ", text)


_ACTIVE_STATES = frozenset({"alarm", "firing", "triggered", "open", "fired", "activated", "alerting", "down",
                            "incident.triggered", "trigger", "create", "re-triggered"})
_FINDING_TOOLS = frozenset({"guardduty", "securityhub", "access-analyzer", "macie", "inspector2", "wazuh", "auditd",
                            "falco"})
_METRIC_ALARM_TOOLS = frozenset({"cloudwatch", "azure-monitor", "gcp-monitoring", "grafana", "alertmanager",
                                 "datadog", "newrelic"})


_ERROR_SHARE = re.compile(
    r"(?:error|fail|5xx|non-2xx)[^\n%]{0,40}?(\d{1,3}(?:\.\d{1,3})?)\s?%"
    r"|(\d{1,3}(?:\.\d{1,3})?)\s?%[^\n%]{0,30}?(?:error|fail|5xx|of (?:all )?requests)",
    re.IGNORECASE,
)
# "5 of 6 hosts reporting normally": one short of all, a contained problem
_SHORT_OF_ALL = re.compile(
    r"\b(\d{1,4}) (?:of|out of|/) ?(\d{1,4}) (?:\w+ ){0,3}(?:are |is )?(?:reporting normally|healthy|up|ready|running"
    r"|available|in service|serving)\b",
    re.IGNORECASE,
)


# "UnHealthyHostCount is 8 of 8", "Probe servers reporting DOWN: ... (7/7)", "418 of 418 orders failed",
# "0/4 available": every instance or request of a whole failing, counted by the tool that watches it
_BAD_WORDS = (r"(?:unhealthy(?:hostcount|host count|targets?|hosts?)?|down|failed|failing|unreachable|offline"
              r"|not ready|errored|rejected|timed out|timing out)")
_GOOD_WORDS = r"(?:healthy|available|ready|up|running|in service|serving|reachable|succeeded|successful|passed)"
_ALL_BAD = re.compile(
    r"\b(\d{1,5}) ?(?:of|out of|/) ?(\d{1,5})\b[^\n.;]{0,40}?\b" + _BAD_WORDS + r"\b"
    r"|\b" + _BAD_WORDS + r"\b[^\n.;]{0,80}?\b(\d{1,5}) ?(?:of|out of|/) ?(\d{1,5})\b",
    re.IGNORECASE,
)
_NONE_GOOD = re.compile(
    r"\b0 ?(?:of|out of|/) ?(\d{1,5}) (?:[a-z]+ ){0,2}(?:are |is )?" + _GOOD_WORDS + r"\b"
    r"|\b(?:healthy|available|ready)\w{0,12}(?: hosts?| targets?| replicas?| pods?| backends?)?(?: is| are)?[ :=]{1,3}"
    r"0 ?(?:of|/|out of) ?(\d{1,5})\b",
    re.IGNORECASE,
)
# kubectl's pod table: every row of a workload at 0 ready ("payments-api-7d9f-2xkqp   0/1   CrashLoopBackOff")
_POD_ROW = re.compile(r"^(?:pod/)?[a-z0-9][a-z0-9.-]{0,200}\s+(\d{1,3})/(\d{1,3})\s+[A-Z][A-Za-z:]{2,40}\s",
                      re.MULTILINE)


_CUSTOMER_PATH = re.compile(
    r"(?<![a-z])(?:customers?|users?|checkout|storefront|orders?|payments?|log ?ins?|sign[- ]?ins?|carts?|purchases?"
    r"|bookings?|frontend|web)(?![a-z])", re.IGNORECASE
)


# kubectl's table of a workload with none of its replicas ready: "deployment.apps/payments-gateway   0/4   4   0"
_NONE_READY_ROW = re.compile(r"^(?:deployment|statefulset|replicaset)\.apps/\S{1,200}\s+0/(\d{1,5})\s", re.MULTILINE)


_DATA_SPEND = re.compile(
    r"(?i)service:\s*(?:amazon |aws |google |azure )?(?:simple storage|s3\b|rds\b|relational database|redshift"
    r"|dynamodb|aurora|bigquery|cloud sql|cloud storage|cosmos|sql database|storage)"
)


_CRITICAL_WORD = re.compile(r"(?i)critical")
_LOG_LEVEL_CRITICAL = re.compile(r"(?:^|[\[\s:|,])CRITICAL(?=[\]/:\s|,])")


def only_log_levels(text: str) -> bool:
    """Whether every 'critical' in a log is a line's level ('[...: CRITICAL/Worker]', 'CRITICAL:root:')."""
    head = text[:20_000]
    words = len(_CRITICAL_WORD.findall(head))
    return words > 0 and words == len(_LOG_LEVEL_CRITICAL.findall(head))


def all_failing(text: str) -> str:
    """The count that shows every member of a whole failing ('8 of 8 unhealthy', '0 of 4 available'), or ''."""
    head = text[:20_000]
    row = _NONE_READY_ROW.search(head)
    if row is not None and int(row.group(1)) >= 2:
        return f"0 of {row.group(1)} ready"
    pods = _POD_ROW.findall(head) if "READY" in head else []
    if len(pods) >= 2 and all(ready == "0" for ready, _ in pods):
        return f"0 of {len(pods)} pods ready"
    for hit in _ALL_BAD.finditer(head):
        bad, whole = (hit.group(1), hit.group(2)) if hit.group(1) else (hit.group(3), hit.group(4))
        if int(whole) >= 2 and int(bad) == int(whole):
            return f"{bad} of {whole} failing"
    for hit in _NONE_GOOD.finditer(head):
        whole = hit.group(1) or hit.group(2)
        # the scheduler's "0/9 nodes are available" speaks of one pod's placement, not of the nodes' health
        if int(whole) >= 2 and "nodes are available" not in hit.group(0).lower():
            return f"0 of {whole} available"
    return ""


def error_share(text: str) -> float | None:
    """The largest share of failing requests the text states next to an error word, or None."""
    values = [float(hit.group(1) or hit.group(2)) for hit in _ERROR_SHARE.finditer(text[:20_000])]
    shares = [value for value in values if value <= 100]
    return max(shares) if shares else None


# "61% of write requests are throttled", "40 % of calls rejected": a share of requests refused, not served
_REFUSED_SHARE = re.compile(
    r"(\d{1,3}(?:\.\d{1,3})?)\s?%\s(?:of\s)?(?:(?:all|the|write|read|api|incoming)\s){0,2}(?:requests|writes|reads|calls"
    r"|transactions|inserts|queries)\s(?:are\s|were\s)?(?:being\s)?(?:throttled|rejected|refused|dropped|failing|failed)"
)


def refused_share(text: str) -> float | None:
    """The largest share of requests the text says were refused or failed, or None."""
    shares = [float(hit.group(1)) for hit in _REFUSED_SHARE.finditer(text[:20_000].lower())]
    shares = [share for share in shares if share <= 100]
    return max(shares) if shares else None


# a measured share of failures ("Error percentage (APM)", "5xx rate") or of success ("Availability", a health
# check's status in percent); counts ("Http5xx", "HealthyHostCount") are not shares
_FAILURE_SHARE_METRIC = re.compile(r"(?i)(?:error|fail|5xx)\w*[\s_-]*(?:percent|percentage|rate|ratio|%)"
                                   r"|percent(?:age)? (?:of )?(?:error|fail)")
_SUCCESS_SHARE_METRIC = re.compile(r"(?i)availability|success[\s_-]*rate|health[\s_-]*check[\s_-]*status|uptime")


def metric_failure_share(reading: Reading) -> float | None:
    """The share of failing work a metric of the alert measured (its value past its threshold), or None."""
    shares: list[float] = []
    for metric in reading.metrics:
        value = metric.value
        if value is None or not 0 <= value <= 100 or "count" in metric.name.lower():
            continue
        if _FAILURE_SHARE_METRIC.search(metric.name) and (metric.threshold is None or value > metric.threshold):
            shares.append(value)
        elif _SUCCESS_SHARE_METRIC.search(metric.name) and (metric.threshold is None or value < metric.threshold):
            shares.append(100.0 - value)
    return max(shares) if shares else None


def _one_short(text: str, reading: Reading) -> Signal | None:
    """A cap when all but one of several instances are fine (text or a kubectl table)."""
    for hit in _SHORT_OF_ALL.finditer(text[:20_000]):
        fine, whole = int(hit.group(1)), int(hit.group(2))
        if whole >= 3 and whole - fine == 1:
            return Signal("P2", 0.6, "one of several instances", hit.group(0), "one_short")
    counts = {metric.name: metric.value for metric in reading.metrics if metric.value is not None}
    for name, value in counts.items():
        total = counts.get(name.removesuffix(" not ready"), 0.0) if name.endswith(" not ready") else 0.0
        if value == 1 and total >= 3:
            return Signal("P2", 0.6, "one of several instances", f"1 of {total:g} {name}", "one_short")
    return None


def _from_reading(
    rs: RuleSet, reading: Reading, severity: str, basis: str, confidence: float, signal: Signal | None,
    label: LabelHit | None, measured: float | None, ids: frozenset[str], text: str = "",
) -> tuple[str, str, float, Signal | None]:
    """Severity from what the reading measured: no healthy backends, nearly every request failing, cost."""
    healthy = next((m for m in reading.metrics if "healthy" in m.name.lower() and "unhealthy" not in m.name.lower()
                    and m.value is not None), None)
    if healthy is not None and healthy.value == 0:
        found = Signal("P0", 0.7, "no healthy backends left", f"{healthy.name} = 0", "reading_healthy")
        return "P0", "reading", 0.7, found
    whole = all_failing(text)
    if whole:
        found = Signal("P0", 0.65, "every instance of the whole failing", whole[:60], "all_failing")
        return "P0", "reading", 0.65, found
    stated = error_share(text) if ids & {"http_5xx", "error_rate"} else None
    refused = refused_share(text)
    stated = max(stated, refused) if stated is not None and refused is not None else stated or refused
    failing = max((share for share in (stated, metric_failure_share(reading)) if share is not None), default=None)
    # a third of the requests of what customers use failing is customers failing now; elsewhere nearly all
    customer_path = _CUSTOMER_PATH.search(f"{reading.resource} {reading.alert_name}\n{text[:20_000]}")
    p0_share = rs.thresholds.get("error_rate_p0_percent", 90.0) if customer_path else 90.0
    if failing is not None and failing >= p0_share:
        found = Signal("P0", 0.65, "nearly every request failing", f"{failing:g} %", "error_rate_p0")
        return "P0", "reading", 0.65, found
    users = tracker_users(reading)
    if users is not None and users >= _MANY and _rank(severity) > 1:
        found = Signal("P1", 0.6, "an error hitting many users", f"{users:,} users", "many_users")
        return "P1", "inferred", 0.6, found
    if users is not None and users > _FEW and _rank(severity) > 2:
        found = Signal("P2", 0.55, "an error hitting users", f"{users:,} users", "some_users")
        return "P2", "inferred", 0.55, found
    spend_tool = rs.source_votes.get(reading.source, ("",))[0] == "unknown"
    if spend_tool and reading.metrics and reading.metrics[0].value is not None:
        spend, budget = reading.metrics[0].value, reading.metrics[0].threshold
        if reading.metrics[0].name == BUDGET_METRIC and budget:
            # a budget's notification: spend on its way to the budget is the plan, spend past it needs a decision
            level = "P2" if spend >= budget else "P3"
            said = f"{spend / budget:.0%} of the budget"
            return level, "inferred", 0.6, Signal(level, 0.6, "spend against its budget", said, "cost")
        level = "P2" if spend >= rs.thresholds.get("cost_p2_usd", 1000.0) else "P3"
        return level, "inferred", 0.6, Signal(level, 0.6, "unexpected spend", f"${spend:,.0f}", "cost")
    if reading.status.lower() == "down" and _probe_locations(reading) >= 3:
        # an uptime check failing from three or more probe locations: the site is down for everyone
        found = Signal("P0", 0.65, "down from every probe location", f"{_probe_locations(reading)} locations",
                       "down_everywhere")
        return "P0", "reading", 0.65, found
    if (label is None and signal is None and reading.source in _METRIC_ALARM_TOOLS
            and reading.status.lower() in _ACTIVE_STATES):
        found = Signal("P2", 0.5, "a monitored threshold crossed", reading.alert_name[:60] or "alarm", "alarm")
        return "P2", "inferred", 0.5, found
    if label is None and signal is None and reading.source in _FINDING_TOOLS:
        # a security tool raised a finding and said no more: someone should look today
        found = Signal("P2", 0.5, "a security tool's finding", reading.alert_name[:60] or reading.source, "finding")
        return "P2", "inferred", 0.5, found
    return severity, basis, confidence, signal


def _probe_locations(reading: Reading) -> int:
    """How many probe locations an uptime check names in its location field."""
    places = next((value for key, value in reading.labels.items()
                   if "location" in key.lower() or key.lower() in ("checked_from", "probes", "regions")), "")
    return len([part for part in places.split(",") if part.strip()])


# label keys that name where something runs: a cluster, namespace, environment, project or tag list
_SCOPE_KEY = re.compile(r"(?i)^(?:cluster|namespace|env|environment|scope|tags|host_tags|criticality|site|stage)$"
                        r"|cluster_name|project_id|project_name|namespace_name|resource_group")
# a name part that marks a resource, cluster or namespace as outside production (dev-eks-01, staging-previews)
_SCOPE_PARTS = frozenset({"staging", "stg", "dev", "sandbox", "sbx", "qa", "uat", "nonprod", "preview", "previews",
                          "test", "tests", "testdata", "fixtures", "fixture", "mocks", "lab", "demo"})
# an alert its tool marks as a test ("[TEST] cluster red", "Test alert from the integration")
_TEST_ALERT = re.compile(r"^\W{0,3}(?:\[test\]|test\s{0,2}[-:–—]|test\s?alert\b|test\s?notification|this is a test)",
                         re.IGNORECASE)
_NOT_PRODUCTION = frozenset({"staging", "stage", "stg", "dev", "development", "test", "testing", "qa", "sandbox",
                             "preview", "nonprod", "non-prod", "uat", "ci"})
# a resource named for its environment by a last name part (func-invoice-dev, orders-staging): not production
_SCOPE_SUFFIX = frozenset({"dev", "staging", "stg", "sandbox", "qa", "uat", "nonprod", "preview"})
# CI systems: a failed build or an agent short of disk delays releases, it serves no customer
_BUILD_TOOLS = frozenset({"jenkins", "github-actions", "gitlab-ci", "circleci", "buildkite", "teamcity",
                          "azure-pipelines", "drone", "bitbucket-pipelines"})
# findings of posture checks and image scanners: a setting or a package to fix, not an attack under way
_POSTURE_PRODUCTS = frozenset({"inspector", "security hub", "config", "trusted advisor", "defender for cloud",
                               "ecr", "inspector2", "trivy", "grype", "snyk", "dependabot"})


def _scope(reading: Reading, signal: Signal | None) -> Signal | None:
    """Caps from what the reading states: a non-production environment, a certificate's distant expiry."""
    environment = reading.environment.lower().split("-")[0] if reading.environment else ""
    if environment in _NOT_PRODUCTION or reading.environment.lower() in _NOT_PRODUCTION:
        return Signal("P3", 0.6, "not production", f"environment {reading.environment}", "environment")
    if reading.source in _BUILD_TOOLS:
        branch = _WORK_BRANCH.search(" ".join([reading.alert_name, reading.resource, *reading.labels.values()]))
        if branch is not None:
            return Signal("P3", 0.6, "a build of a work branch", branch.group(0), "work_branch")
        return Signal("P2", 0.6, "a build system, no customer path", reading.source, "build_system")
    name = reading.resource.lower().strip()
    if name and "/" not in name and re.split(r"[-_]", name)[-1] in _SCOPE_SUFFIX:
        return Signal("P3", 0.6, "not production", f"resource {reading.resource}", "environment")
    if _TEST_ALERT.match(reading.alert_name):
        return Signal("P3", 0.6, "a test alert", " ".join(reading.alert_name.split()[:3]), "environment")
    scoped = [reading.resource, *(value for key, value in reading.labels.items() if _SCOPE_KEY.search(key))]
    for value in scoped:
        # a domain's last part is its top-level domain (docs.example.dev is a public site)
        core = value.lower().rsplit(".", 1)[0] if re.search(r"\.[a-z]{2,12}$", value.lower()) else value.lower()
        parts = set(re.split(r"[-_.:/, ()\[\]]", core))
        if parts & _SCOPE_PARTS and not parts & {"prod", "production", "prd"}:
            return Signal("P3", 0.6, "not production", value[:60], "environment")
    if signal is not None and signal.rule == "cert_expiry" and signal.severity in ("P2", "P3"):
        return signal
    users = tracker_users(reading)
    if users is not None and users <= _FEW:
        return Signal("P3", 0.6, "a handful of users", f"{users} users", "few_users")
    return _posture(reading)


# an error tracker's own count of the users who hit an issue: "Users: 2", "*Users:* 1,987"
_USERS = re.compile(r"(?i)\busers(?: affected)?\W{0,4}(\d{1,3}(?:,\d{3})*|\d{1,9})\b")
_MANY = 500
_FEW = 5


def tracker_users(reading: Reading) -> int | None:
    """How many users an error tracker says hit the issue, from its own fields; None when it says nothing."""
    if reading.source != "sentry":
        return None
    users = _USERS.search(" ".join(f"{key}: {value}" for key, value in reading.labels.items()))
    return int(users.group(1).replace(",", "")) if users else None


# a branch someone works on, or a pull request: its failed build is its author's to fix
_WORK_BRANCH = re.compile(r"\b(?:feature|feat|fix|bugfix|chore|dependabot|renovate|topic|wip)/[\w./-]{1,120}"
                          r"|\bPR-\d{1,7}\b|\bpull/\d{1,7}\b|\bpull_request\b|[\w/]-wip\b|\bwip[-/]|\bdraft:",
                          re.IGNORECASE)


def _posture(reading: Reading) -> Signal | None:
    """A failed compliance control or a known vulnerability in a package: serious work, not an active incident."""
    labels = {key.lower(): value.lower() for key, value in reading.labels.items()}
    posture = (labels.get("compliance") in ("failed", "warning") or labels.get("product", "") in _POSTURE_PRODUCTS
               or reading.source in _POSTURE_PRODUCTS)
    cve = re.match(r"cve-\d{4}-\d+", reading.alert_name.lower())
    if posture or cve:
        said = cve.group(0).upper() if cve else f"compliance {labels.get('compliance') or labels.get('product')}"
        return Signal("P2", 0.6, "a posture or vulnerability finding, not an attack", said, "posture_finding")
    return None


def _names_production(words: list[str]) -> bool:
    """Whether the text speaks of production itself (not of "non production" or "not production")."""
    return any(
        word in ("prod", "production") and (i == 0 or words[i - 1] not in ("non", "not"))
        for i, word in enumerate(words)
    )


def _strictest(*caps: Signal | None) -> Signal | None:
    found = [cap for cap in caps if cap is not None]
    return max(found, key=lambda cap: _rank(cap.severity)) if found else None


def _cap(rs: RuleSet, found: dict[int, str], prepared: object) -> Signal | None:
    """The strictest bound the text puts on severity, or None."""
    caps = [rs.rules[i] for i in found if rs.rules[i].caps]
    if not caps:
        return None
    rule = max(caps, key=lambda r: _rank(r.caps or "P0"))
    return Signal(rule.caps or "P3", 0.6, rule.reason, found[rs.by_id[rule.id]], rule.id)


_NO_CUSTOMER_PATH_CAPS = frozenset({"build_host", "batch_scope"})
_SECURITY_TOOLS = frozenset({"falco", "guardduty", "securityhub", "wazuh", "auditd", "github-secret-scanning",
                             "gitleaks", "trufflehog", "secret-scanning"})
# A stated loss of service or an active compromise raises a weaker answer this far; the rest is the engine's call.
_FLOOR = "P1"


def _evidence(
    rs: RuleSet,
    found: dict[int, str],
    label: LabelHit | None,
    loss: Signal | None,
    resolved: bool,
    conflict: Signal | None,
    requests_removed: int,
    reading: Reading | None = None,
    capped: bool = False,
) -> Evidence:
    """What the text proves on its own, for checking any engine's answer."""
    decisive = next((rs.rules[i] for i in found if rs.rules[i].decisive and rs.rules[i].category), None)
    review: list[str] = []
    if conflict is not None and label is not None:
        review.append(f"the label says {label.word} but the text states {conflict.reason} ('{conflict.evidence}')")
    if requests_removed:
        review.append("the text tells the triager how to classify it; that part was ignored")
    most, least, why = "P0", "P3", ""
    breach = next((rs.rules[i] for i in found if rs.rules[i].id == "breach"), None)
    if resolved or capped:
        pass
    elif loss is not None and (loss.severity == "P0" or requests_removed):
        # a stated full loss (nothing serving, data lost, customers affected) is decisive; so is any stated loss
        # of service in text that tried to steer the triage, since the answer may have been steered
        least, why = _FLOOR, f"the text states {loss.reason} ('{loss.evidence}')"
    elif breach is not None:
        least, why = _FLOOR, f"the text states {breach.reason} ('{found[rs.by_id[breach.id]]}')"
    label_least = "P3"
    if label is not None:
        most = label.level.most
        if not resolved:
            label_least = label.level.least
    source = reading.source if reading is not None else ""
    return Evidence(
        category=decisive.category if decisive else None,
        category_reason=f"the text shows {decisive.label or decisive.id}" if decisive else "",
        category_binding=source in _SECURITY_TOOLS,
        most=most,
        least=least,
        severity_reason=why,
        label_least=label_least,
        review=tuple(review),
    )


# --- category -----------------------------------------------------------------------------------------
# Alert names of the Kubernetes monitoring mixins name the object they watch first: a StatefulSet that runs a
# database, a node's disk or an API server's certificate are still the platform's objects.
_PLATFORM_ALERT = re.compile(
    r"^(?:Kube(?!rnetes)[A-Z]|Kubelet|Kubernetes[A-Z]|Node(?!JS|js)[A-Z]|Prometheus[A-Z]|Alertmanager[A-Z]"
    r"|CoreDNS|Etcd[A-Z]|ConfigReloader|Watchdog$|TargetDown$|CPUThrottlingHigh$)"
)
_PLATFORM_ALERT_WEIGHT = 6.0


def _categorise(
    rs: RuleSet, found: dict[int, str], source: str = "", alert_name: str = "", resource: str = ""
) -> tuple[str, dict[str, float], str]:
    scores: dict[str, float] = {}
    best_rule: dict[str, Rule] = {}
    strongest: dict[str, float] = {}
    vote = rs.source_votes.get(source)
    if vote is None and source in ("alertmanager", "grafana", "") and _PLATFORM_ALERT.match(alert_name):
        vote = ("infra", _PLATFORM_ALERT_WEIGHT)
    if alert_name and not _PLATFORM_ALERT.match(alert_name):
        # the alert's own name says what it watches; the prose around it only explains: its words count twice
        # without the names in it: a host called db-backup-01 is not a database
        named = re.sub(r"\S*\d\S*", " ", alert_name[:200].replace(resource, " ") if resource else alert_name[:200])
        for index in rs.match(rs.prepare(named)):
            rule = rs.rules[index]
            if rule.category is not None and rule.weight > 0:
                scores[rule.category] = scores.get(rule.category, 0.0) + rule.weight
    if vote is not None:
        # the tool that wrote the text says what kind of thing it watches (a GuardDuty finding is security)
        scores[vote[0]] = vote[1]
        strongest[vote[0]] = vote[1]
    for index in found:
        rule = rs.rules[index]
        if rule.category is None or rule.weight <= 0:
            continue
        scores[rule.category] = scores.get(rule.category, 0.0) + rule.weight
        strongest[rule.category] = max(strongest.get(rule.category, 0.0), rule.weight)
        current = best_rule.get(rule.category)
        if rule.label and (current is None or rule.weight > current.weight):
            best_rule[rule.category] = rule
    if not scores:
        return "unknown", scores, "Unclassified alert"
    # on equal totals the category with the single strongest piece of evidence wins
    category = max(
        _CATEGORY_ORDER,
        key=lambda name: (scores.get(name, 0.0), strongest.get(name, 0.0), -_CATEGORY_ORDER.index(name)),
    )
    if scores.get(category, 0.0) < rs.unknown_below:
        return "unknown", scores, "Unclassified alert"
    winner = best_rule.get(category)
    return category, scores, winner.label if winner else category


# --- steps and confidence -----------------------------------------------------------------------------
def _steps(
    rs: RuleSet, category: str, ids: frozenset[str], target: str, reading: Reading | None = None
) -> tuple[str, str, tuple[str, str, str]]:
    source = reading.source if reading is not None else ""
    chosen = next(
        (book for book in rs.playbooks_for(category)
         if book.when <= ids and (not book.sources or source in book.sources) and source not in book.not_sources),
        None,
    )
    generic = chosen is not None and chosen.id.endswith("_default") and category != "security"
    if reading is not None and reading.people_text and (chosen is None or generic or chosen.id in _PEOPLE_BOOKS):
        return "people", "", people_steps(reading, target)
    if chosen is None or (generic and reading is not None and reading.alert_name):
        # security keeps its contain-preserve-rotate default: never restart first on a named alert
        return "none", "", reading_steps(reading, target)
    filled = tuple(_fill_step(step, target) for step in chosen.steps)
    return chosen.id, chosen.failure, (filled[0], filled[1], filled[2])


# What a cloud metric namespace watches, for steps built from the reading.
_NAMESPACES = {
    "aws/applicationelb": "load balancer target group", "aws/elb": "load balancer", "aws/networkelb": "load balancer",
    "aws/rds": "RDS database", "aws/dynamodb": "DynamoDB table", "aws/sqs": "SQS queue",
    "aws/lambda": "Lambda function",
    "aws/ecs": "ECS service", "aws/ec2": "EC2 instance", "aws/elasticache": "ElastiCache cluster",
    "aws/kinesis": "Kinesis stream", "aws/sns": "SNS topic", "aws/apigateway": "API Gateway API", "aws/s3": "S3 bucket",
    "aws/es": "OpenSearch domain", "aws/eks": "EKS cluster", "aws/efs": "EFS file system",
}


_PEOPLE_BOOKS = frozenset({"customer_ticket", "app_errors", "edge_outage", "gateway_errors", "sso_signin"})


def people_steps(reading: Reading, target: str) -> tuple[str, str, str]:
    """Steps for what a person reported: reproduce it, find it in the service's signals, answer the reporter."""
    feature = reading.resource or "what they describe"
    return (
        _fill_step(f"Reproduce the reported problem with {feature} yourself and note the exact error and time", target),
        _fill_step(f"Check {feature}'s error rate, logs and latest deploy around the time the reporter gives", target),
        _fill_step("Tell the reporter what you found; open an incident if other customers are affected", target),
    )


def reading_steps(reading: Reading | None, target: str) -> tuple[str, str, str]:
    """Steps built from what the reading states, when no playbook fits the failure."""
    place = target if target and target != "the affected component" else ""
    labels = reading.labels if reading is not None else {}
    namespace = labels.get("namespace") or labels.get("metricnamespace") or labels.get("metric_namespace") or ""
    kind = _NAMESPACES.get(namespace.lower(), "")
    if place and kind:
        place = f"{kind} {place}"
    name = reading.alert_name if reading is not None else ""
    tool = reading.source if reading is not None and reading.source not in ("unknown", "chat", "ticket") else ""
    metric = reading.metrics[0] if reading is not None and reading.metrics else None
    first = (
        f"Search the runbook and past incidents for '{name[:60]}'" + (f" and confirm it still fires for {place}"
                                                                       if place else "")
        if name else f"Identify the service and owner of {place or 'the affected component'} from the alert"
    )
    if metric is not None:
        limit = f" against its threshold {metric.threshold:g}{metric.unit and ' ' + metric.unit}" if (
            metric.threshold is not None) else ""
        second = f"Graph {metric.name[:50]} on {place or 'the resource'}{limit} over the last hours"
    elif tool:
        second = f"Open the alert in {tool} and check {place or 'the resource'}'s recent changes, logs and events"
    else:
        second = f"Check {place or 'that service'}'s dashboards and logs around the alert time"
    third = f"Escalate to the team that owns {place or 'the service'} if users are affected"
    return (_fill_step(first, target), _fill_step(second, target), _fill_step(third, target))


# what a generic step calls the thing when the rules know no better name for it
_GENERIC_SUBJECT = {"data": "the data store", "app": "the service"}


def _with_subject(steps: tuple[str, str, str], subject: str, category: str) -> tuple[str, str, str]:
    """Generic steps name the technology the rules recognised ('PostgreSQL'), else the category's word for it."""
    known = subject and subject.lower() not in ("", category, "unclassified alert") and len(subject) <= 40
    name = subject if known else _GENERIC_SUBJECT.get(category, "the component")
    filled = tuple(step.replace("{subject}", name)[:STEP_MAX] for step in steps)
    return filled[0], filled[1], filled[2]


def _fill_step(step: str, target: str) -> str:
    filled = step.replace("{target}", target)
    if len(filled) > STEP_MAX:
        filled = step.replace("{target}", "the affected component")
    return filled[:STEP_MAX]


def _confidence(category: str, scores: dict[str, float], severity_confidence: float) -> float:
    if category == "unknown":
        category_confidence = _UNKNOWN_CATEGORY_CONFIDENCE
    else:
        ranked = sorted(scores.values(), reverse=True)
        top = ranked[0]
        runner_up = ranked[1] if len(ranked) > 1 else 0.0
        strength = min(0.95, 0.45 + 0.1 * top)
        margin = (top - runner_up) / top
        category_confidence = strength * (0.7 + 0.3 * margin)
    return round(math.sqrt(category_confidence * severity_confidence), 2)
