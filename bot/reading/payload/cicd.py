"""Code hosting and CI/CD webhooks: GitHub (Actions, secret scanning, Dependabot), GitLab CI, Argo CD."""

# mypy: disable-error-code="union-attr, arg-type, index"
# (payloads are untrusted JSON of any shape: every access is guarded by isinstance checks or by read()'s handler)

from __future__ import annotations

from typing import Any

from bot.reading.draft import Draft, dig, prose, text_of


def github(data: dict[str, Any], draft: Draft) -> None:
    repo = text_of(dig(data, "repository", "full_name"))
    run = data.get("workflow_run") or data.get("workflow_job") or data.get("check_run")
    alert = data.get("alert") if isinstance(data.get("alert"), dict) else None
    draft.labels["repository"] = repo
    if isinstance(run, dict):
        draft.source = "github-actions"
        draft.alert_name = text_of(run.get("name") or run.get("workflow_name"))
        draft.status = text_of(run.get("conclusion") or run.get("status"))
        draft.label("branch", run.get("head_branch"))
        draft.resource = repo
        draft.link("run", run.get("html_url"))
        draft.body = (f"GitHub Actions workflow {draft.alert_name} {draft.status} on {repo} "
                      f"branch {run.get('head_branch')}")
    elif alert is not None and "secret_type" in alert:
        draft.source = "github-secret-scanning"
        draft.alert_name = text_of(alert.get("secret_type_display_name") or alert.get("secret_type"))
        draft.status = text_of(alert.get("state"))
        draft.resource = repo
        draft.label("validity", alert.get("validity"))
        draft.link("source", alert.get("html_url"))
        draft.body = (f"Secret scanning alert: {draft.alert_name} secret leaked in repository {repo}; "
                      f"validity {alert.get('validity', 'unknown')}")
    elif alert is not None:
        draft.source = "dependabot"
        advisory = alert.get("security_advisory") if isinstance(alert.get("security_advisory"), dict) else {}
        package = dig(alert, "dependency", "package", "name") or dig(alert, "security_vulnerability", "package", "name")
        draft.alert_name = text_of(advisory.get("ghsa_id") or advisory.get("cve_id") or advisory.get("summary"))
        draft.label("severity", advisory.get("severity") or dig(alert, "security_vulnerability", "severity"))
        draft.label("package", package)
        draft.status = text_of(alert.get("state"))
        draft.resource = repo
        draft.description = prose(advisory.get("summary"))
        draft.link("source", alert.get("html_url"))
        draft.body = f"Dependabot vulnerability advisory for dependency {package} in {repo}: {draft.description}"


def gitlab(data: dict[str, Any], draft: Draft) -> None:
    draft.source = "gitlab-ci"
    attrs = data.get("object_attributes") if isinstance(data.get("object_attributes"), dict) else {}
    draft.resource = text_of(dig(data, "project", "path_with_namespace") or dig(data, "project", "name"))
    draft.alert_name = text_of(attrs.get("name") or f"pipeline {attrs.get('id', '')}".strip())
    draft.status = text_of(attrs.get("status") or data.get("build_status"))
    draft.label("ref", attrs.get("ref"))
    failed = [b for b in data.get("builds") or [] if isinstance(b, dict) and b.get("status") == "failed"]
    for build in failed[:5]:
        draft.event("error", f"job {build.get('name')} ({build.get('stage')}) failed")
    draft.link("run", attrs.get("url") or dig(data, "project", "web_url"))
    jobs = ", ".join(str(b.get("name")) for b in failed[:5])
    draft.body = f"GitLab CI pipeline {draft.status} on {draft.resource} ref {attrs.get('ref')}; failed jobs: {jobs}"


def argocd(data: dict[str, Any], draft: Draft) -> None:
    draft.source = "argocd"
    app = data.get("app") if isinstance(data.get("app"), dict) else data
    name = dig(app, "metadata", "name") or app.get("application") or app.get("app")
    draft.resource = text_of(name)
    health = dig(app, "status", "health", "status") or app.get("health") or app.get("healthStatus")
    sync = dig(app, "status", "sync", "status") or app.get("sync") or app.get("syncStatus")
    phase = dig(app, "status", "operationState", "phase")
    draft.label("health", health)
    draft.label("sync", sync)
    draft.status = text_of(phase or health)
    draft.alert_name = text_of(data.get("trigger") or data.get("title") or f"Argo CD {draft.resource}")
    message = dig(app, "status", "operationState", "message") or data.get("message")
    draft.description = prose(message)
    draft.body = (f"Argo CD application {draft.resource} health {health} sync {sync} operation {phase}\n"
                  f"{draft.description}")
