"""Cloud providers' mails: CloudWatch alarms, Google Cloud Monitoring incidents, cost anomalies and budgets."""

from __future__ import annotations

import re

from bot.reading.draft import Draft
from bot.reading.text.fields import read_environment, read_fields, read_pairs

# Google Cloud Monitoring's e-mail: "Incident #0.x is open for project p", "Policy:", "Resource: type name (...)"
_GCP_INCIDENT = re.compile(r"(?i)\bincident #?[\w.-]{1,80} (?:is|has been|was) (open|opened|closed|resolved)\b"
                           r"(?: for project ([\w-]{1,80}))?")
_GCP_RESOURCE = re.compile(r"(?im)^resource:\s*(?:[a-z_]{2,60}\s+)?([\w./-]{2,200})")


def gcp_mail(head: str, first: str, draft: Draft) -> bool:
    incident = _GCP_INCIDENT.search(head[:4000])
    if incident is None or not ("google" in head[:1000].lower() or "policy:" in head.lower()):
        return False
    draft.source = "gcp-monitoring"
    draft.status = "resolved" if incident.group(1).lower() in ("closed", "resolved") else "open"
    read_fields(head, draft)
    draft.alert_name = draft.labels.get("policy") or draft.labels.get("policy_name") or ""
    resource = _GCP_RESOURCE.search(head)
    draft.resource = resource.group(1) if resource else ""
    draft.label("project", incident.group(2))
    read_environment(draft)
    return True


_CW_NAME = re.compile(r"Amazon CloudWatch Alarm \"([^\"\n]{1,200})\" in the ([^\n]{1,60}?) region has entered the "
                      r"(\w+) state")
_CW_REASON = re.compile(r"\[([-\d.Ee]+) \([^)]{0,60}\)\][^\n]{0,200}?threshold \(([-\d.Ee]+)\)")
_CW_DIMS = re.compile(r"Dimensions:\s*\[?([^\n\]]{1,300})")
_CW_METRIC = re.compile(r"MetricName:\s*(\S{1,100})")


def cloudwatch_mail(head: str, first: str, draft: Draft) -> bool:
    if "CloudWatch Alarm" not in head and "AlarmName" not in head and "Alarm Details" not in head:
        return False
    draft.source = "cloudwatch"
    hit = _CW_NAME.search(head)
    if hit is not None:
        draft.alert_name, draft.status = hit.group(1), hit.group(3)
        draft.label("region", hit.group(2))
    read_fields(head, draft)
    draft.set(alert_name=draft.labels.get("name") or draft.labels.get("alarmname"))
    dims = _CW_DIMS.search(head)
    if dims is not None:
        for part in dims.group(1).split(","):
            key, sep, value = part.partition("=")
            if sep:
                draft.label(key.strip(), value.strip().strip("]"))
                draft.set(resource=value.strip().strip("]"))
    read_pairs(head, draft)
    for key in ("dbinstanceidentifier", "loadbalancer", "queuename", "functionname", "tablename", "targetgroup",
                "clustername", "servicename", "instanceid", "cachenodeid", "apiname", "bucketname"):
        value = next((v for k, v in draft.labels.items() if k.lower() == key), "")
        if value:
            draft.set(resource=value)
            break
    metric = _CW_METRIC.search(head)
    reason = _CW_REASON.search(head)
    if metric is not None or reason is not None:
        draft.metric(metric.group(1) if metric else draft.alert_name or "metric",
                     reason.group(1) if reason else None, reason.group(2) if reason else None)
    draft.set(status=draft.labels.get("newstatevalue") or draft.labels.get("state_change"))
    return True


_MONEY = re.compile(r"\$\s?([\d,]{1,12}(?:\.\d{1,2})?)")


def cost(head: str, first: str, draft: Draft) -> bool:
    lowered = head[:3000].lower()
    if not ("cost anomaly" in lowered or "anomalous spend" in lowered or ("budget" in lowered and "$" in head)
            or ("spend" in lowered and "anomal" in lowered)):
        return False
    draft.source = "aws-cost-anomaly" if "aws" in lowered else "cost-anomaly"
    read_fields(head, draft)
    service = re.search(r"\b(?:[Ss]ervice:?|in)\s+((?:Amazon|AWS|Azure|Google)\s[\w ]{2,60}?)(?:[\s,.;)(]|$)", head)
    draft.set(resource=draft.labels.get("service") or (service.group(1).strip() if service else ""),
              alert_name=draft.labels.get("monitor") or draft.labels.get("monitor_name") or "Cost anomaly")
    amounts = _MONEY.findall(head)
    if amounts:
        draft.metric("cost impact", amounts[0], amounts[1] if len(amounts) > 1 else None, "USD")
    return True
