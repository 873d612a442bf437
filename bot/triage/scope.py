"""What bounds an alert's severity: not production, a build machine, a test alert, a few users, a posture finding."""

from __future__ import annotations

import re

from bot.reading import Reading
from bot.triage.impact import FEW_USERS, tracker_users
from bot.triage.rules import RuleSet, severity_rank
from bot.triage.severity import Signal

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


def scope_cap(reading: Reading, signal: Signal | None) -> Signal | None:
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
        return Signal("P3", 0.6, "a test alert", " ".join(reading.alert_name.split()[:3]), "test_alert")
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
    if users is not None and users <= FEW_USERS:
        return Signal("P3", 0.6, "a handful of users", f"{users} users", "few_users")
    return _posture(reading)


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


def names_production(words: list[str]) -> bool:
    """Whether the text speaks of production itself (not of "non production" or "not production")."""
    return any(
        word in ("prod", "production") and (i == 0 or words[i - 1] not in ("non", "not"))
        for i, word in enumerate(words)
    )


def strictest(*caps: Signal | None) -> Signal | None:
    found = [cap for cap in caps if cap is not None]
    return max(found, key=lambda cap: severity_rank(cap.severity)) if found else None


def text_cap(rs: RuleSet, found: dict[int, str], prepared: object) -> Signal | None:
    """The strictest bound the text puts on severity, or None."""
    caps = [rs.rules[i] for i in found if rs.rules[i].caps]
    if not caps:
        return None
    rule = max(caps, key=lambda r: severity_rank(r.caps or "P0"))
    return Signal(rule.caps or "P3", 0.6, rule.reason, found[rs.by_id[rule.id]], rule.id)
