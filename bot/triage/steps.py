"""The three next steps: a playbook keyed on the failure, else steps built from the reading."""

from __future__ import annotations

from bot.card import STEP_MAX
from bot.reading import Reading
from bot.triage.rules import RuleSet

# What to do with an input nobody can read: the fault is in the integration that sent it.
UNREADABLE_STEPS: dict[str, tuple[str, str, str]] = {
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


def choose_steps(
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


def with_subject(steps: tuple[str, str, str], subject: str, category: str) -> tuple[str, str, str]:
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
