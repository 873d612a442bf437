"""CI/CD notifications: GitHub Actions, GitLab CI, Jenkins, Argo CD, CircleCI, Buildkite."""

from __future__ import annotations

import re

from bot.reading.draft import Draft
from bot.reading.text.fields import URL, read_fields, read_pairs

_CHECK_HEAD = re.compile(r"^\W{0,3}([\w .-]{1,80} / [\w .:-]{1,80}?) \((pull_request(?:_target)?|push|schedule|"
                         r"workflow_dispatch|merge_group|release)\)(?:\s*[—–-]\s*([\w./-]{1,120}?)(?: #\d{1,9})?)?"
                         r"(?:\s*[—–-]\s*([\w.-]{1,60}/[\w.-]{1,100}))?\s*$")


def ci(head: str, first: str, draft: Draft) -> bool:
    lowered = head[:4000].lower()
    check = _CHECK_HEAD.match(first)
    if ("github actions" in lowered or "##[error]" in head or "workflow run" in lowered or ".github/workflows" in head
            or "/actions/runs/" in head or check is not None or "error: process completed with exit code" in lowered
            or re.search(r"(?i)\bworkflow [\"'“][^\"'”\n]{1,80}[\"'”] (?:failed|has failed)", head)):
        draft.source = "github-actions"
    elif ("gitlab" in lowered and ("pipeline" in lowered or "job" in lowered)) or (re.search(
            r"(?i)\bpipeline #\d{1,12}\b", head) and "buildkite" not in lowered):
        draft.source = "gitlab-ci"
    elif "jenkins" in lowered or "finished: failure" in lowered:
        draft.source = "jenkins"
    elif "argo cd" in lowered or "argocd" in lowered:
        draft.source = "argocd"
    elif "circleci" in lowered or "buildkite" in lowered:
        draft.source = "circleci" if "circleci" in lowered else "buildkite"
    else:
        return False
    read_fields(head, draft)
    read_pairs(head, draft)
    if check is not None:
        # a check run as GitHub shows it: "CI / unit-tests (pull_request) — feature/x #4821 — owner/repo"
        draft.label("event", check.group(2))
        draft.label("branch", check.group(3))
        draft.label("repository", check.group(4))
        draft.set(alert_name=check.group(1).strip())
    app = re.search(r"(?i)\bapplication\s+['\"`]?([a-z0-9][\w.-]{0,100})", head)
    build = re.search(r"\bBuild #(\d{1,9}) (?:of|for) ([\w./-]{1,120})", head)
    if build is not None:
        draft.set(alert_name=f"{build.group(2)} #{build.group(1)}", resource=build.group(2))
    if draft.source == "argocd":
        # `argocd app get` names the application in Name: and a failed sync in Operation: Sync / Phase: Failed
        if draft.labels.get("operation", "").lower() == "sync" and draft.labels.get("phase", "").lower() in (
                "failed", "error"):
            draft.set(alert_name="SyncFailed")
        if "sync_status" in draft.labels or "health_status" in draft.labels:
            draft.set(resource=draft.labels.get("name", ""))
        state = re.search(r"\b(Degraded|Missing|OutOfSync|SyncFailed|sync failed|Unknown)\b", head)
        draft.set(alert_name=state.group(1) if state else "")
    repo = re.search(r"\b([A-Za-z0-9][\w.-]{0,60}/[A-Za-z0-9][\w.-]{0,100})\b(?!/)", head)
    workflow = re.search(r"(?i)\b(?:workflow|pipeline|job|build)\s+['\"`“]?([\w .#/-]{1,80}?)['\"`”]?\s+(?:failed|has "
                         r"failed|#\d|for )", head)
    run_repo = re.search(
        r"\(([A-Za-z0-9][\w.-]{0,60}/[\w.-]{1,100})\)|\bfor ([A-Za-z0-9][\w.-]{0,60}/[\w.-]{1,100}) on\b", head
    )
    if run_repo is not None:
        draft.label("repository", run_repo.group(1) or run_repo.group(2))
    for key in ("repository", "repo", "project"):
        if key in draft.labels:
            cleaned = re.sub(r"\s*\(\s*https?://\S{1,300}\s*\)", "", draft.labels[key])
            draft.labels[key] = re.sub(r"\s*/\s*", "/", cleaned).strip()
    draft.set(
        resource=draft.labels.get("repository") or draft.labels.get("repo") or draft.labels.get("project")
        or draft.labels.get("application") or draft.labels.get("app")
        or (app.group(1) if app and draft.source == "argocd" else "") or (repo.group(1) if repo else ""),
        alert_name=draft.labels.get("workflow") or draft.labels.get("pipeline") or draft.labels.get("job")
        or (workflow.group(1).strip() if workflow else ""),
        status=draft.labels.get("status") or draft.labels.get("conclusion") or draft.labels.get("health"),
    )
    for url in URL.findall(head)[:3]:
        if "/actions/runs/" in url or "/pipelines/" in url or "/job/" in url or "/-/jobs/" in url:
            draft.link("run", url)
    return True
