"""Security findings: GuardDuty, Security Hub, Falco, Wazuh."""

# mypy: disable-error-code="union-attr, arg-type, index"
# (payloads are untrusted JSON of any shape: every access is guarded by isinstance checks or by read()'s handler)

from __future__ import annotations

import re
from typing import Any

from bot.reading.draft import Draft, dig, number, prose, text_of
from bot.reading.payload.fields import ARN_NAME

_GD_LEVEL = ((9.0, "critical"), (7.0, "high"), (4.0, "medium"), (0.0, "low"))


def guardduty(finding: dict[str, Any], draft: Draft) -> None:
    draft.source = "guardduty"
    draft.alert_name = text_of(finding.get("type") or finding.get("Type"))
    score = number(finding.get("severity"))
    if score is not None:
        draft.label("severity", next(word for floor, word in _GD_LEVEL if score >= floor))
        draft.label("severity_score", score)
    resource = finding.get("resource") if isinstance(finding.get("resource"), dict) else {}
    draft.set(
        resource=dig(resource, "instanceDetails", "instanceId") or dig(resource, "accessKeyDetails", "userName")
        or dig(resource, "s3BucketDetails", 0, "name") or dig(resource, "eksClusterDetails", "name")
        or resource.get("resourceType"),
    )
    draft.label("region", finding.get("region"))
    draft.description = prose(finding.get("description") or finding.get("title"))
    draft.event(draft.labels.get("severity", ""), finding.get("title"))
    draft.body = f"GuardDuty finding {draft.alert_name}\n{text_of(finding.get('title'))}\n{draft.description}"


_DETAIL_NAME_KEYS = ("RepositoryName", "FunctionName", "BucketName", "DBInstanceIdentifier", "ClusterName", "Name")


def _finding_resource_name(details: Any) -> str:
    """The name a finding's resource details give it (an image's repository, a function), not its id or digest."""
    if not isinstance(details, dict):
        return ""
    for typed in details.values():
        if isinstance(typed, dict):
            for key in _DETAIL_NAME_KEYS:
                name = text_of(typed.get(key))
                if name:
                    return name
    return ""


def securityhub(finding: dict[str, Any], draft: Draft) -> None:
    draft.source = "securityhub"
    draft.alert_name = text_of(finding.get("Title") or finding.get("GeneratorId"))
    draft.label("severity", dig(finding, "Severity", "Label"))
    draft.label("compliance", dig(finding, "Compliance", "Status"))
    draft.label("workflow", dig(finding, "Workflow", "Status"))
    product = text_of(dig(finding, "ProductFields", "aws/securityhub/ProductName") or finding.get("ProductName"))
    draft.label("product", product)
    res_id = text_of(dig(finding, "Resources", 0, "Id"))
    hit = ARN_NAME.search(res_id)
    draft.resource = _finding_resource_name(dig(finding, "Resources", 0, "Details")) or (
        hit.group(1) if hit else res_id)
    draft.status = text_of(finding.get("RecordState"))
    draft.description = prose(finding.get("Description"))
    draft.body = f"Security Hub finding ({product}) {draft.alert_name}\n{draft.description}"


def falco(data: dict[str, Any], draft: Draft) -> None:
    draft.source = "falco"
    draft.alert_name = text_of(data.get("rule"))
    draft.label("priority", data.get("priority"))
    fields = data.get("output_fields") if isinstance(data.get("output_fields"), dict) else {}
    named = dict(re.findall(r"\b(k8s_pod|k8s\.pod\.name|container_name|container\.name)=([\w./-]{1,200})",
                            text_of(data.get("output"))[:4000]))
    draft.set(resource=fields.get("k8s.pod.name") or fields.get("container.name") or named.get("k8s_pod")
              or named.get("k8s.pod.name") or named.get("container_name") or named.get("container.name")
              or data.get("hostname"), environment=None)
    draft.label("k8s.ns.name", fields.get("k8s.ns.name"))
    draft.event(data.get("priority"), data.get("output"))
    draft.body = f"{data.get('time', '')}: {data.get('priority', '')} {prose(data.get('output'))}\n{draft.alert_name}"


def wazuh(data: dict[str, Any], draft: Draft) -> None:
    draft.source = "wazuh"
    rule = data["rule"]
    draft.alert_name = text_of(rule.get("description"))
    level = number(rule.get("level"))
    draft.label("rule.level", rule.get("level"))
    if level is not None:
        draft.label("severity", "critical" if level >= 13 else "high" if level >= 10 else "medium" if level >= 7
                    else "low")
    groups = rule.get("groups")
    if isinstance(groups, list):
        draft.label("groups", ",".join(str(g) for g in groups[:8]))
    draft.resource = text_of(dig(data, "agent", "name") or dig(data, "agent", "id"))
    draft.description = prose(data.get("full_log"))
    draft.body = f"Wazuh alert: {draft.alert_name} on agent {draft.resource}\n{draft.description}"
