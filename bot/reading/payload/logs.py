"""Structured log lines, Kubernetes events and Splunk alert results as JSON."""

# mypy: disable-error-code="union-attr, arg-type, index"
# (payloads are untrusted JSON of any shape: every access is guarded by isinstance checks or by read()'s handler)

from __future__ import annotations

from typing import Any

from bot.reading.draft import Draft, clip, dig, prose, text_of
from bot.reading.payload.fields import resource_from

_PINO_LEVELS = {10: "trace", 20: "debug", 30: "info", 40: "warning", 50: "error", 60: "fatal"}


def log_line(data: dict[str, Any], draft: Draft) -> None:
    # pino (Node) writes numeric levels with pid and hostname; zap (Go) writes ts and caller
    pino = isinstance(data.get("level"), int) and "pid" in data
    draft.source = "node" if pino else "go" if "caller" in data and "ts" in data else "json-log"
    level = data.get("level") or data.get("severity") or data.get("lvl") or data.get("log.level") or data.get("s")
    if isinstance(level, int):
        level = _PINO_LEVELS.get(level, "info")
    if data.get("s") and data.get("c"):  # MongoDB's structured log
        draft.source = "mongodb"
        level = {"F": "fatal", "E": "error", "W": "warning", "I": "info"}.get(str(data.get("s")), "info")
    message = data.get("msg") or data.get("message") or data.get("MESSAGE") or data.get("error")
    draft.event(level or "", message)
    draft.label("level", level)
    for key in ("service", "logger", "app", "component", "c", "host", "hostname", "_HOSTNAME", "SYSLOG_IDENTIFIER"):
        draft.label(key, data.get(key))
    draft.set(resource=data.get("service") or data.get("app") or data.get("_HOSTNAME") or data.get("hostname"))
    # JSON lines: the rules read them as they are, every line counts
    draft.body = ""


def kube_event(data: dict[str, Any], draft: Draft) -> None:
    draft.source = "kubernetes"
    obj = data.get("involvedObject") or data.get("regarding") or {}
    draft.alert_name = text_of(data.get("reason"))
    kind, name, namespace = (text_of(dig(obj, k)) for k in ("kind", "name", "namespace"))
    draft.resource = f"{namespace}/{name}" if namespace and name else name
    draft.label("kind", kind)
    draft.label("type", data.get("type"))
    draft.label("namespace", namespace)
    draft.event(data.get("type"), data.get("message") or data.get("note"))
    draft.body = f"{data.get('type', '')} {draft.alert_name} {kind.lower()}/{name}: {text_of(data.get('message'))}"


def splunk(data: dict[str, Any], draft: Draft) -> None:
    """A Splunk alert webhook: the saved search names the alert, its first result holds the fields."""
    draft.source = "splunk"
    draft.alert_name = text_of(data.get("search_name"))
    result = data.get("result") if isinstance(data.get("result"), dict) else {}
    flat = {k: v for k, v in result.items() if not isinstance(v, dict | list) and not str(k).startswith("_")}
    draft.labels_from(flat)
    draft.description = prose(result.get("description") or result.get("message"))
    draft.set(resource=resource_from({k: text_of(v) for k, v in flat.items()}) or text_of(result.get("app")))
    draft.link("source", text_of(data.get("results_link")))
    draft.body = f"{draft.alert_name}\n" + "\n".join(f"{k}: {clip(text_of(v), 300)}" for k, v in flat.items())
