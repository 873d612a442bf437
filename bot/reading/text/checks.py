"""Host and uptime checks: Nagios, Icinga, Checkmk, Zabbix, uptime monitors and status pages."""

from __future__ import annotations

import re

from bot.reading.draft import Draft
from bot.reading.text.fields import LOG_OR_TRACE, read_fields, title_place
from bot.reading.text.servers import SERVERS

# A status page's incident: "Webhook Delivery — Major Outage", then "Resolved - …", "Investigating - …" updates
_STATUS_TITLE = re.compile(r"^\s*(.{2,120}?)\s+[—–-]\s+(Major Outage|Partial Outage|Degraded Performance"
                           r"|Under Maintenance|Operational)\s*$", re.IGNORECASE)
_STATUS_UPDATE = re.compile(r"(?m)^(Resolved|Monitoring|Identified|Investigating|Update|Completed|Scheduled) - ")


def status_page(head: str, first: str, draft: Draft) -> bool:
    title = _STATUS_TITLE.match(first)
    updates = _STATUS_UPDATE.findall(head[:6000])
    if title is None or not updates:
        return False
    draft.source = "statuspage"
    draft.alert_name = first.strip()
    draft.resource = title.group(1)
    draft.status = "resolved" if updates[0] in ("Resolved", "Completed") else updates[0].lower()
    return True


_NAGIOS = re.compile(r"^\W{0,4}(PROBLEM|RECOVERY|ACKNOWLEDGEMENT|FLAPPINGSTART|FLAPPINGSTOP)\s+(Service|Host) Alert:\s*"
                     r"([\w.-]{1,120})(?:/([^*\n]{1,120}?))?\s+is\s+(\w{2,12})", re.IGNORECASE)
_ZABBIX = re.compile(r"^\W{0,4}(Problem|PROBLEM|Resolved|RESOLVED|OK)(?:(?: started| has been resolved)? at "
                     r"[\d:.]{4,12}(?: on [\d./-]{6,12})?)?(?::\s*(.{3,200})|[\s*_]*$)")


def host_checks(head: str, first: str, draft: Draft) -> bool:
    """Nagios/Icinga ('** PROBLEM Service Alert: host/Service is CRITICAL **') and Zabbix ('PROBLEM: trigger')."""
    nagios = _NAGIOS.match(first)
    lowered = head[:3000].lower()
    if nagios is not None:
        draft.source = "icinga" if "icinga" in lowered else "nagios"
        draft.resource, draft.alert_name = nagios.group(3), (nagios.group(4) or "host down").strip()
        draft.status = "resolved" if nagios.group(1).upper() == "RECOVERY" else "problem"
        draft.label("state", nagios.group(5))
        read_fields(head, draft, labels=False)
        return True
    if ("checkmk" in lowered or "check_mk" in lowered) and re.search(r"(?im)^(?:state|event):\s", head):
        # Checkmk's notification: Host, Service, "State: OK -> CRIT", Output, Host tags
        draft.source = "checkmk"
        read_fields(head, draft)
        host = draft.labels.get("host", "")
        draft.resource = host.split(" (", 1)[0].strip()
        draft.alert_name = draft.labels.get("service") or "host down"
        state = (draft.labels.get("state") or draft.labels.get("event", "")).split("->")[-1].strip()
        draft.status = "resolved" if state.upper() in ("OK", "UP") else "problem"
        draft.label("state", state)
        return True
    zabbix = _ZABBIX.match(first) if "zabbix" in lowered or "trigger" in lowered or "problem name:" in lowered else None
    if zabbix is None:
        return False
    draft.source = "zabbix"
    draft.status = "resolved" if zabbix.group(1).lower() in ("resolved", "ok") else "problem"
    read_fields(head, draft)
    # the default message opens "Problem started at 03:27:41 on 2025.01.09" and names the trigger below
    title = zabbix.group(2) or draft.labels.get("problem_name") or draft.labels.get("problem") or ""
    draft.alert_name = draft.labels.get("trigger") or title.split(" (", 1)[0].strip()
    draft.resource = draft.labels.get("host", "").split(" (", 1)[0].strip() or title_place(title)
    return True


_UPTIME = re.compile(r"(?i)\b(?:monitor is (DOWN|UP)|(DOWN|UP) alert|is (DOWN|UP)\b(?: from (\d+) locations?)?"
                     r"|check (failed|recovered|is down))")
_UPTIME_NAME = re.compile(r"(?i)(?:monitor is (?:down|up)|(?:down|up) alert|check)\W{1,3}([\w .:/()-]{1,120}?)"
                          r"(?:\s+\(|\s+is\b|\s+-\s|$)", re.MULTILINE)
_HOST_URL = re.compile(r"https?://([A-Za-z0-9.-]{1,200})(/[^\s)]{0,200})?")


_UPTIME_RECOVERED = re.compile(r"(?i)\b(?:incident resolved|is back up|back online|has recovered|is up again)\b")


def uptime(head: str, first: str, draft: Draft) -> bool:
    lowered = head[:3000].lower()
    tool = next((name for name in ("uptimerobot", "pingdom", "better stack", "betteruptime", "statuscake", "checkly",
                                   "uptime kuma", "site24x7", "freshping") if name in lowered), "")
    hit = _UPTIME.search(head[:3000])
    if not tool and hit is None:
        return False
    if not tool and "monitor" not in lowered and "check" not in lowered and "location" not in lowered:
        return False
    if not tool and (any(pattern.search(head) for _, pattern in SERVERS) or LOG_OR_TRACE.search(head[:4000])):
        # "validity check failed" in a stack trace or an application log is not an uptime check
        return False
    draft.source = tool.replace(" ", "").replace("betteruptime", "betterstack") if tool else "uptime-check"
    draft.status = next((g.lower() for g in (hit.groups() if hit else ()) if g and not g.isdigit()), "")
    if _UPTIME_RECOVERED.search(first):
        # "Incident resolved — docs.example.dev is back up": the notification of the end, whatever it says happened
        draft.status = "resolved"
    read_fields(head, draft)
    name = _UPTIME_NAME.search(head[:3000])
    ticked = re.search(r"`([a-z0-9][\w.-]{1,200}\.[a-z]{2,12})`", first)
    if ticked is not None:
        draft.resource = ticked.group(1)
    named = re.search(r"(?im)^(?:new incident on|monitor is (?:down|up):|(?:down|up) alert:?)\s*([^\n(]{1,120}?)\s*$|"
                      r"^([\w.-]{1,120}) \(([\w.-]{1,200})\) is (?:down|up)\b", head[:3000])
    if named is not None:
        draft.alert_name = (named.group(1) or named.group(2) or "").strip()
        if named.group(3):
            draft.resource = named.group(3)
    elif name is not None:
        draft.alert_name = name.group(1).strip(" :-")
    probes = re.search(r"(?i)\b(?:checked from|probe servers? reporting down|down from|locations?)\s*:\s*"
                       r"([A-Za-z][A-Za-z .,/-]{2,300}?)\s*(?:\(|\.(?:\s|$)|\n|$)", head[:4000])
    if probes is not None and "checked_from" not in draft.labels:
        draft.label("checked_from", probes.group(1).strip())
    url = _HOST_URL.search(head)
    draft.set(resource=draft.labels.get("monitor") or draft.labels.get("check") or (url.group(1) if url else "")
              or draft.alert_name)
    draft.set(alert_name=draft.labels.get("monitor"))
    if url is not None:
        draft.link("source", url.group(0)) if draft.labels.get("url") else None
    return True
