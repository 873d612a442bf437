"""Security tools: Falco, Wazuh, auditd, secret scanners, Dependabot, GuardDuty, Security Hub, Trivy."""

from __future__ import annotations

import re

from bot.reading.draft import Draft, level_of, worst_level
from bot.reading.text.fields import KV, read_fields, read_pairs

# Trivy's table report: "registry/ci/docs-builder:2024.06 (debian 12.5)", "Total: 3 (… CRITICAL: 1)"
_TRIVY_HEAD = re.compile(r"(?m)^\s*([\w.-]{1,200}(?:/[\w.-]{1,200}){0,6}(?::[\w.-]{1,120})?)"
                         r" \([a-z]{2,20}[ \w.-]{0,40}\)\s*$")
_TRIVY_TOTAL = re.compile(r"(?m)^Total: \d{1,7} \(([A-Z]+: \d{1,7}(?:, [A-Z]+: \d{1,7}){0,6})\)")


def trivy(head: str, first: str, draft: Draft) -> bool:
    total = _TRIVY_TOTAL.search(head[:4000])
    if total is None:
        return False
    # the scanned image heads its table, after any log lines the scanner printed first
    image = _TRIVY_HEAD.match(first) or _TRIVY_HEAD.search(head[: total.start()][-1000:])
    if image is None:
        return False
    draft.source = "trivy"
    name = image.group(1).rsplit("/", 1)[-1]
    draft.resource, _, tag = name.partition(":")
    if tag:
        draft.label("tags", tag)
    counts = dict(part.split(": ") for part in total.group(1).split(", "))
    worst = next((level for level in ("CRITICAL", "HIGH", "MEDIUM", "LOW") if counts.get(level, "0") != "0"), "")
    draft.label("severity", worst.lower())
    draft.label("product", "trivy")
    cve = re.search(r"\b(CVE-\d{4}-\d{3,7}|GHSA-\w{4}-\w{4}-\w{4})\b", head)
    draft.alert_name = cve.group(1) if cve else "vulnerabilities"
    return True


_FALCO_LINE = re.compile(r"^\s*(?:\d{4}-\d\d-\d\dT)?\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?:\s+"
                         r"(Emergency|Alert|Critical|Error|Warning|Notice|Informational|Info|Debug)\s+(.{1,600})$",
                         re.MULTILINE)
_WAZUH_RULE = re.compile(r"Rule:\s*(\d{1,7})\s*\(level\s*(\d{1,2})\)\s*->\s*'([^'\n]{1,200})'")
_AUDIT = re.compile(r"type=([A-Z_]{2,30})\s+msg=audit\(")
_AUDIT_KEY = re.compile(r"\bkey=\"?([\w.-]{1,80})")


def security(head: str, first: str, draft: Draft) -> bool:
    lowered = head[:4000].lower()
    falco = list(_FALCO_LINE.finditer(head)) if ":" in head else []
    if falco or "falco" in lowered[:200]:
        draft.source = "falco"
        for hit in falco[:20]:
            draft.event(hit.group(1), hit.group(2))
        levels = [event.level for event in draft.events]
        worst = worst_level(levels)
        draft.label("priority", next((h.group(1) for h in falco if level_of(h.group(1)) == worst), ""))
        read_fields(head, draft)
        rule = draft.labels.get("rule")
        # the message without its field list: "Symlinks created over sensitive files | target=/etc/shadow …"
        message = re.split(r" \(| \| | [a-z_.]{2,30}=", falco[0].group(2), maxsplit=1)[0].strip() if falco else ""
        draft.set(alert_name=rule or message)
        fields = dict(KV.findall(head) and [(h.group(1), h.group(3) or h.group(2) or "") for h in KV.finditer(head)])
        draft.set(resource=(fields.get("k8s.pod") or fields.get("k8s.pod.name") or fields.get("k8s_pod_name")
                            or fields.get("container") or fields.get("container.name") or fields.get("container_name")
                            or fields.get("host") or "").rstrip(")],;"))
        return True
    wazuh = _WAZUH_RULE.search(head) if "level" in head else None
    if wazuh is not None or "wazuh" in lowered:
        draft.source = "wazuh"
        if wazuh is not None:
            draft.alert_name = wazuh.group(3)
            level = int(wazuh.group(2))
            draft.label("rule.level", wazuh.group(2))
            draft.label("severity", "critical" if level >= 13 else "high" if level >= 10 else "medium" if level >= 7
                        else "low")
        agent = re.search(r"\(([\w.-]{1,100})\)\s+[\d.]{7,15}->|agent[\s:=\"]{1,3}([\w.-]{1,100})", head)
        draft.set(resource=(agent.group(1) or agent.group(2)) if agent else "")
        read_fields(head, draft, labels=False)
        return True
    if _AUDIT.search(head) is not None:
        draft.source = "auditd"
        key = _AUDIT_KEY.search(head)
        draft.alert_name = key.group(1) if key else _AUDIT.search(head).group(1)  # type: ignore[union-attr]
        read_pairs(head, draft)
        known = {k: v for k, v in draft.labels.items() if v not in ("?", "(none)", "none", "")}
        draft.set(resource=known.get("hostname") or known.get("node") or known.get("exe"))
        return True
    leaks = "leaks found" in lowered or ("ruleid:" in lowered and "fingerprint:" in lowered and "secret:" in lowered)
    if (leaks or "secret scanning" in lowered or "gitleaks" in lowered or "trufflehog" in lowered
            or "secret detected" in lowered):
        draft.source = "gitleaks" if "gitleaks" in lowered or leaks else "trufflehog" if "trufflehog" in lowered else (
            "github-secret-scanning" if "github" in lowered or "secret scanning" in lowered else "secret-scanning")
        read_fields(head, draft)
        for name in ("repository", "repo"):
            if draft.labels.get(name, "").startswith("http"):
                draft.labels[name] = re.sub(r"^https?://[^/]{1,200}/", "", draft.labels[name]).rstrip("/")
        repo = re.search(r"\b(?:in|repository|repo)\s+`?([A-Za-z0-9][\w.-]{0,60}/[\w.-]{1,100})", head)
        kind = re.search(r"(?i)([\w -]{1,60}?(?:key|token|secret|password|credential)s?)\s+(?:detected|found|leaked|"
                         r"exposed)", head)
        draft.set(resource=draft.labels.get("file") or draft.labels.get("path") or draft.labels.get("repository")
                  or (repo.group(1) if repo else ""),
                  alert_name=draft.labels.get("secret_type") or draft.labels.get("ruleid") or draft.labels.get("rule")
                  or (kind.group(1).strip() if kind else "secret detected"))
        return True
    if "dependabot" in lowered or re.search(r"\bGHSA-[\w]{4}-[\w]{4}-[\w]{4}\b", head):
        draft.source = "dependabot"
        read_fields(head, draft)
        ghsa = re.search(r"\b(GHSA-\w{4}-\w{4}-\w{4}|CVE-\d{4}-\d{3,7})\b", head)
        repo = re.search(r"\b(?:in|repository|repo)\s+`?([A-Za-z0-9][\w.-]{0,60}/[\w.-]{1,100})", head)
        package = re.search(r"(?i)\b(?:package|dependency|upgrade)\s{1,40}`?([\w@./-]{3,100})", head)
        draft.set(alert_name=ghsa.group(1) if ghsa else "", resource=(repo.group(1) if repo else "")
                  or draft.labels.get("repository"))
        if package is not None and "package" not in draft.labels:
            draft.label("package", package.group(1))
        return True
    if "guardduty" in lowered or "security hub" in lowered or "securityhub" in lowered:
        draft.source = "guardduty" if "guardduty" in lowered else "securityhub"
        read_fields(head, draft)
        finding = re.search(r"\b([A-Z][A-Za-z]{2,40}:[A-Za-z0-9]{2,40}/[\w.!-]{2,100})", head)
        draft.set(alert_name=(finding.group(1) if finding else "") or draft.labels.get("finding_type")
                  or draft.labels.get("type") or draft.labels.get("title"),
                  resource=draft.labels.get("resource") or draft.labels.get("instance")
                  or draft.labels.get("instance_id") or draft.labels.get("user") or draft.labels.get("access_key"))
        return True
    return False
