"""Kubernetes as kubectl prints it: events, pod and node tables, `describe` conditions."""

from __future__ import annotations

import re

from bot.reading.draft import Draft

_KUBE_EVENT = re.compile(r"^\s*(?:[\w-]{1,40}\s+)?(?:\S{1,12}\s+)?(Warning|Normal)\s+([A-Z][A-Za-z]{2,60})\s+"
                         r"(?:([a-z][\w.-]{0,60}/[\w.-]{1,200})\s+)?(.{0,300})[^\n]*$", re.MULTILINE)
_KUBE_POD_ROW = re.compile(r"^([a-z0-9][a-z0-9.-]{0,200})\s+(\d+/\d+)\s+([A-Z][A-Za-z:]{2,40})\s+(\d+)", re.MULTILINE)
_KUBE_OBJECT = re.compile(r"\b(pod|deployment|replicaset|statefulset|daemonset|job|cronjob|node|service|ingress"
                          r"|persistentvolumeclaim|pvc|hpa|certificate)/([a-z0-9][\w.-]{0,200})")
# the value is lower case: a table header ("NAMESPACE   LAST SEEN") names no namespace
_NAMESPACE_FLAG = re.compile(r"\bkubectl\b[^\n]{0,120}?\s(?:-n|--namespace)[ =]([a-z0-9][a-z0-9-]{0,62})(?![\w.])")
_NAMESPACE = re.compile(r"\b(?:[Nn]amespace|NAMESPACE)[ \t:=\"]{1,12}([a-z0-9][a-z0-9-]{0,62})(?![\w.])")


_KUBE_REASON = re.compile(r"\b(CrashLoopBackOff|ImagePullBackOff|ErrImagePull|OOMKilled|Evicted|FailedScheduling"
                          r"|FailedMount"
                          r"|FailedAttachVolume|NodeNotReady|BackoffLimitExceeded|DeadlineExceeded|CreateContainerConfigError"
                          r"|CreateContainerError|InvalidImageName|ProgressDeadlineExceeded|FailedCreate|Unhealthy|BackOff"
                          r"|NodeHasDiskPressure|NodeHasMemoryPressure|FreeDiskSpaceFailed|SyncLoadBalancerFailed)\b")
_NODE_ROW = re.compile(r"^([a-z0-9][a-z0-9.-]{0,200})\s+(NotReady|Ready,SchedulingDisabled|Unknown)\s", re.MULTILINE)


def kubernetes(head: str, first: str, draft: Draft) -> bool:
    found = _kubernetes(head, first, draft)
    if found and ("cert-manager" in head or re.search(r"\b(?:certificate|certificaterequest|issuer|clusterissuer)"
                                                      r"(?:\.cert-manager\.io)?/", head.lower())):
        draft.source = "cert-manager"
    if found and "NotReady" in head:
        statuses = [hit.group(2) for hit in re.finditer(r"^([a-z0-9][a-z0-9.-]{0,200})\s+(Ready|NotReady)\S*\s",
                                                        head, re.MULTILINE)]
        if statuses:
            draft.metric("nodes", len(statuses))
            draft.metric("nodes not ready", statuses.count("NotReady"))
    if found:
        node = _NODE_ROW.search(head) if "NotReady" in head or "Unknown" in head else None
        reason = _KUBE_REASON.search(head)
        if node is not None and node.group(2) == "NotReady":
            draft.alert_name, draft.resource = "NodeNotReady", f"node/{node.group(1)}"
        elif reason is not None and draft.alert_name in ("", "Failed", "Pulled", "Pulling", "Created", "Started",
                                                          "Killing", "Scheduled", "BackOff", "Unhealthy"):
            draft.alert_name = reason.group(1)
    return found


_CONDITION_ROW = re.compile(r"^\s{1,12}([A-Z][A-Za-z]{2,40})\s+(True|False)\s+([A-Z][A-Za-z]{2,60})\b", re.MULTILINE)
_GOOD_CONDITION = re.compile(r"Ready|Available|Able|Active|Healthy|Initialized|Scheduled|Synced|Progressing")
_BAD_CONDITION = re.compile(r"Limited|Pressure|Failed|Failure|Degraded|Stalled|Unavailable|Error")


def _abnormal_condition(head: str) -> str:
    """The reason of the first condition in a `describe` that is wrong (a limit hit, a ready condition false)."""
    for row in _CONDITION_ROW.finditer(head):
        kind, status, reason = row.groups()
        if (status == "True" and _BAD_CONDITION.search(kind)) or (status == "False" and _GOOD_CONDITION.search(kind)):
            return reason
    return ""


def _kubernetes(head: str, first: str, draft: Draft) -> bool:
    events = list(_KUBE_EVENT.finditer(head)) if ("Warning" in head or "Normal" in head) else []
    rows = list(_KUBE_POD_ROW.finditer(head)) if ("READY" in head or "/" in head) else []
    kubectl = "kubectl" in head or "LAST SEEN" in head or "Events:" in head or ("READY" in head and "STATUS" in head)
    if not events and not rows and kubectl and _NODE_ROW.search(head) is not None:
        draft.source = "kubernetes"
        return True
    if not events and not (rows and kubectl):
        return False
    if events and not kubectl and not any(e.group(3) for e in events):
        return False
    draft.source = "kubernetes"
    worst = None
    for event in events[:20]:
        draft.event(event.group(1), f"{event.group(2)} {event.group(3) or ''} {event.group(4)}".strip())
        if event.group(1) == "Warning" and worst is None:
            worst = event
    chosen = worst or (events[-1] if events else None)
    if chosen is not None:
        draft.alert_name = chosen.group(2)
        # the same reason reported on a node is the cause; the pods that report it are its victims
        node = next((e for e in events if e.group(2) == chosen.group(2) and (e.group(3) or "").startswith("node/")),
                    None)
        source = node or chosen
        if source.group(3):
            draft.resource = source.group(3).split("/", 1)[1]
    condition = _abnormal_condition(head) if worst is None else None
    if condition:
        draft.alert_name = condition
    for row in rows[:20]:
        status = row.group(3)
        draft.event("warning" if status not in ("Running", "Completed", "Succeeded") else "info",
                    f"{row.group(1)} {row.group(2)} {status} restarts={row.group(4)}")
        if status not in ("Running", "Completed", "Succeeded") and not draft.alert_name:
            draft.alert_name, draft.resource = status, row.group(1)
    if not draft.resource:
        obj = _KUBE_OBJECT.search(head)
        described = re.search(r"^Name:[ \t]{1,40}([a-z0-9][\w.-]{0,200})$", head, re.MULTILINE)
        command = re.search(r"\bkubectl\b[^\n]{0,80}?\b(?:describe|get)\s+[a-z]{2,40}[ /]([a-z0-9][\w.-]{0,200})\b",
                            head)
        # the object described, or named on kubectl's command line, before any name mentioned in its fields
        draft.resource = (described.group(1) if described else command.group(1) if command
                          else obj.group(2) if obj else "")
    # the namespace kubectl was asked about ("kubectl get events -n ml-staging") before one printed in a field
    namespace = _NAMESPACE_FLAG.search(head[:2000]) or _NAMESPACE.search(head)
    if namespace is not None:
        draft.label("namespace", namespace.group(1))
        if draft.resource and "/" not in draft.resource:
            draft.resource = f"{namespace.group(1)}/{draft.resource}"
    return True
