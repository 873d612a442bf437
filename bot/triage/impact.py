"""What an alert says about impact: every member of a whole failing, shares of failed requests, users hit, spend."""

from __future__ import annotations

import re

from bot.reading import Reading
from bot.reading.payload.cloud import BUDGET_METRIC
from bot.triage.rules import RuleSet, severity_rank
from bot.triage.severity import LabelHit, Signal

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
_GOOD_WORDS = (r"(?:healthy|available|ready|up|running|in service|serving|reachable|succeeded|successful|passed"
               r"|approved|accepted|delivered|processed|completed)")
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


# a count of failed requests ("Http5xx", "Errors") beside the count of all of them ("Requests", "Total")
_FAILED_COUNT_METRIC = re.compile(r"(?i)5xx|errors?\b|fail")
_TOTAL_COUNT_METRIC = re.compile(r"(?i)^(?:requests|total(?:[\s_-]*requests)?|request[\s_-]*count|calls|invocations)$")


def metric_failure_share(reading: Reading) -> float | None:
    """The share of failing work a metric of the alert measured (its value past its threshold), or None."""
    shares: list[float] = []
    failed = next((m.value for m in reading.metrics if m.value is not None and _FAILED_COUNT_METRIC.search(m.name)
                   and not _FAILURE_SHARE_METRIC.search(m.name)), None)
    total = next((m.value for m in reading.metrics if m.value and _TOTAL_COUNT_METRIC.match(m.name.strip())), None)
    if failed is not None and total and 0 <= failed <= total:
        shares.append(100.0 * failed / total)
    for metric in reading.metrics:
        value = metric.value
        if value is None or not 0 <= value <= 100 or "count" in metric.name.lower():
            continue
        if _FAILURE_SHARE_METRIC.search(metric.name) and (metric.threshold is None or value > metric.threshold):
            shares.append(value)
        elif _SUCCESS_SHARE_METRIC.search(metric.name) and (metric.threshold is None or value < metric.threshold):
            shares.append(100.0 - value)
    return max(shares) if shares else None


def one_short(text: str, reading: Reading) -> Signal | None:
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


def from_reading(
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
    if users is not None and users >= MANY_USERS and severity_rank(severity) > 1:
        found = Signal("P1", 0.6, "an error hitting many users", f"{users:,} users", "many_users")
        return "P1", "inferred", 0.6, found
    if users is not None and users > FEW_USERS and severity_rank(severity) > 2:
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


# an error tracker's own count of the users who hit an issue: "Users: 2", "*Users:* 1,987"
_USERS = re.compile(r"(?i)\busers(?: affected)?\W{0,4}(\d{1,3}(?:,\d{3})*|\d{1,9})\b")
MANY_USERS = 500
FEW_USERS = 5


def tracker_users(reading: Reading) -> int | None:
    """How many users an error tracker says hit the issue, from its own fields; None when it says nothing."""
    if reading.source != "sentry":
        return None
    users = _USERS.search(" ".join(f"{key}: {value}" for key, value in reading.labels.items()))
    return int(users.group(1).replace(",", "")) if users else None
