"""A tool the text names by word only (Okta, Zabbix, New Relic...): read from its fields and first line."""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.reading.draft import Draft, clip
from bot.reading.text.fields import labels_resource, read_environment, read_fields, read_pairs
from bot.reading.text.people import reads_as_prose

_PERSON_OPENING = re.compile(r"(?im)^(?:hi|hello|hey|dear|good (?:morning|afternoon))\b[ \w,!]{0,40}$|^ticket #?\d"
                             r"|\bticket #\d{1,9}\b")


_INSTANCE_KEYS = ("node_name", "instance_name", "instance_id", "database_id", "subscription_id", "pod_name",
                  "container_name", "service_name", "function_name", "bucket_name", "cluster_name")


def tool_by_word(word: str, source: str) -> Callable[[str, str, Draft], bool]:
    def adapter(head: str, first: str, draft: Draft) -> bool:
        if word not in head[:3000].lower():
            return False
        if (_PERSON_OPENING.search(head[:2000]) and word not in first.lower()) or (
            word not in head[:40].lower() and reads_as_prose(head[:3000])
        ):
            # a person's message that names the tool in passing ("we sign in through Okta") is not its alert
            return False
        draft.source = source
        read_fields(head, draft)
        read_pairs(head, draft)
        user = re.search(r"(?i)\bfor user\s+([\w.@+-]{2,120})|\buser(?:name)?\s*[:=]\s*([\w.@+-]{2,120})", head)
        if user is not None:
            draft.label("user", user.group(1) or user.group(2))
        draft.set(alert_name=draft.labels.get("alert") or draft.labels.get("alerting_policy")
                  or draft.labels.get("condition") or draft.labels.get("title")
                  or draft.labels.get("monitor") or draft.labels.get("trigger") or draft.labels.get("problem")
                  or draft.labels.get("check"),
                  # the instance a resource block names (node_name: gke-pool-1-x) before the block's type ("Kubernetes
                  # Node")
                  resource=next((draft.labels[key] for key in _INSTANCE_KEYS if draft.labels.get(key)), "")
                  or draft.labels.get("service") or draft.labels.get("entity") or draft.labels.get("host")
                  or draft.labels.get("component") or draft.labels.get("resource") or labels_resource(draft)
                  or draft.labels.get("user"),
                  status=draft.labels.get("status") or draft.labels.get("state"))
        read_environment(draft)
        quoted = re.search(r"(?i)\b(?:alert|rule|monitor|check|alarm)\s+['\"“]([^'\"”\n]{2,120})['\"”]", head[:2000])
        if quoted is not None and not draft.alert_name:
            draft.alert_name = quoted.group(1)
        sev = re.search(r"\((Sev[0-4])\)", head[:2000])
        if sev is not None:
            draft.label("severity", sev.group(1))
        target = re.search(r"\bfired for\s+([\w.-]{2,120})", head[:2000])
        if target is not None and not draft.resource:
            draft.resource = target.group(1)
        release = re.search(r"\brelease\W{0,3}([a-z][\w.-]{1,80})@", head[:3000]) if source == "sentry" else None
        if release is not None and not draft.resource:
            # an error tracker's release names the project that shipped it: checkout-web@2025.04.17
            draft.resource = release.group(1)
        if not draft.alert_name:
            # "Okta: Suspicious sign-in detected for user x" — the first line, less the tool's name
            line = re.sub(r"^\W{0,4}[\w ]{2,30}?:\s+", "", first.strip()) if ":" in first[:40] else first.strip()
            draft.alert_name = clip(line, 120) if 0 < len(line) <= 160 else ""
        return True
    return adapter
