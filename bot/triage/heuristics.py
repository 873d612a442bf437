"""Rule-based triage: a valid card from the alert text alone, deterministic, offline and fast."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace

from bot.card import TriageCard
from bot.reading import Read, Reading, read
from bot.triage.alert_fields import AlertFields, code_service, extract_fields
from bot.triage.evidence import Evidence
from bot.triage.impact import from_reading, one_short, only_log_levels
from bot.triage.instructions import strip_requests
from bot.triage.normalize import undecodable_share
from bot.triage.rules import Rule, RuleSet, default_rules, severity_rank
from bot.triage.scope import names_production, scope_cap, strictest, text_cap
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
from bot.triage.steps import UNREADABLE_STEPS, choose_steps, cut_payload, with_subject
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
    text, requests_removed = strip_requests(text, person=reading.people_text)
    if not requests_removed and taken.body:
        # a payload's text is a rendering of the fields that matter; an order to the triage can sit in any other
        # field (a tag, a resource's description) and still has to be flagged
        requests_removed = strip_requests(raw, person=reading.people_text)[1]
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
    measured_loss = measured is not None and measured >= rs.thresholds.get("error_rate_p1_percent", 25.0)
    loss = strongest_signal([s for s in signals if (s.rule in rs.by_id and rs.rules[rs.by_id[s.rule]].outranks_label)
                             or (s.rule == "cert_expiry" and s.severity == "P1")
                             # a quarter or more of requests measured failing is lost service, whatever the label
                             or (measured_loss and s.rule in ("error_rate", "http_5xx") and s.severity == "P1")])
    conflict = None
    if label is not None and loss is not None and severity_rank(loss.severity) < severity_rank(label.level.most):
        # a stated loss of service outranks a lower label; a person should settle the disagreement
        severity, basis, severity_confidence, conflict = loss.severity, "conflict", 0.3, loss
    severity, basis, severity_confidence, signal = from_reading(
        rs, reading, severity, basis, severity_confidence, signal, label, measured, severity_ids, text
    )
    if severity == "P0" and basis == "reading" and label is not None and severity_rank(label.level.most) > 0:
        conflict = signal
    cap = strictest(text_cap(rs, severity_found, severity_text), one_short(text, reading), scope_cap(reading, signal))
    if cap is not None and category == "security" and loss is not None and cap.rule in _NO_CUSTOMER_PATH_CAPS:
        # an intruder on a build machine or a batch host is no smaller for serving no customer request
        cap = None
    stated_p0 = (loss is not None and loss.severity == "P0") or basis == "reading"
    # an environment that is not production bounds even a stated outage: no customer is behind it
    strict = cap is not None and (cap.rule in ("environment", "test_alert", "test_message") or (
        cap.rule == "not_production" and not names_production(severity_text.words)
    ))
    if cap is not None and severity_rank(severity) < severity_rank(cap.severity) and (strict or not stated_p0):
        # what the text says about scope (one of six hosts, not production) bounds the label and the signals
        severity, basis, severity_confidence, signal = cap.severity, "capped", 0.6, cap
    if cap is not None and not stated_p0 and (cap.rule in _NOT_AN_INCIDENT or (
            cap.rule == "planned_maintenance" and reading.people_text)):
        # a test of the routing, an announced maintenance or a request for a feature: nothing has failed
        category, subject = "unknown", cap.reason[:1].upper() + cap.reason[1:]
        scores = {**scores, "unknown": max(scores.values(), default=0.0)}
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
    playbook_id, failure, steps = choose_steps(rs, category, all_ids, fields.target, reading)
    steps = with_subject(steps, subject, category)
    unreadable = UNREADABLE_STEPS.get(
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


_DATA_SPEND = re.compile(
    r"(?i)service:\s*(?:amazon |aws |google |azure )?(?:simple storage|s3\b|rds\b|relational database|redshift"
    r"|dynamodb|aurora|bigquery|cloud sql|cloud storage|cosmos|sql database|storage)"
)


_NO_CUSTOMER_PATH_CAPS = frozenset({"build_host", "batch_scope"})
# a tool's maintenance notice stays with the platform it names; a person's announcement of one is not an incident
_NOT_AN_INCIDENT = frozenset({"test_alert", "test_message", "feature_request"})
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


# --- confidence ---------------------------------------------------------------------------------------
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
