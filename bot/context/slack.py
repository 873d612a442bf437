"""The context lines of a Slack card: the alert's links, the runbook, recent changes, what the model looked up."""

from __future__ import annotations

from collections import Counter
from typing import Any

from bot.card import TriageResult
from bot.context.changes import change_words
from bot.context.links import safe_url

KIND_LABEL = {"runbook": "Runbook", "graph": "Graph", "dashboard": "Dashboard", "source": "Source", "run": "CI run"}
SHOWN_CHANGES = 3


def escape(text: str) -> str:
    """Outside text in mrkdwn: `&`, `<` and `>` escaped, so it can neither mention nor link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, label: str) -> str:
    """A mrkdwn link to an http(s) URL the bot checked; the label escaped, `|` and `>` kept out of the URL."""
    safe = url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")
    text = escape(label).replace("|", "¦")
    return f"<{safe}|{text}>"


def links_line(result: TriageResult) -> str | None:
    """":link: Runbook · Graph · Dashboard", each a link the alert carried in its structure."""
    seen: Counter[str] = Counter()
    parts = []
    for item in result.meta.links:
        url = safe_url(item.url)
        if url is None:
            continue
        seen[item.kind] += 1
        label = KIND_LABEL.get(item.kind, item.kind) + (f" {seen[item.kind]}" if seen[item.kind] > 1 else "")
        parts.append(link(url, label))
    return ":link: " + " · ".join(parts) if parts else None


def runbook_line(result: TriageResult) -> str | None:
    book = result.meta.runbook
    if book is None:
        return None
    url = safe_url(book.url) if book.url else None
    name = link(url, book.title) if url else f"*{escape(book.title)}* (`{escape(book.path)}`)"
    return f":book: Runbook: {name}"


def change_lines(result: TriageResult) -> list[str]:
    now = result.meta.created_at
    lines = []
    for change in result.meta.changes[:SHOWN_CHANGES]:
        line = escape(change_words(change, now))
        url = safe_url(change.url) if change.url else None
        lines.append(":package: " + line + (f" · {link(url, 'details')}" if url else ""))
    hidden = len(result.meta.changes) - SHOWN_CHANGES
    if hidden > 0:
        lines.append(f":package: …and {hidden} earlier change{'s' if hidden > 1 else ''}")
    return lines


def tools_line(result: TriageResult) -> str | None:
    """"Looked up: prometheus.query ×2 · could not look up: grafana.panel (timeout)"."""
    uses = result.meta.tools
    if not uses:
        return None
    done = Counter(u.label for u in uses if u.outcome in ("ok", "cut"))
    failed = Counter(f"{u.label} ({u.outcome})" for u in uses if u.outcome not in ("ok", "cut"))
    parts = []
    if done:
        parts.append("Looked up: " + ", ".join(escape(k) + (f" ×{n}" if n > 1 else "") for k, n in done.items()))
    if failed:
        parts.append("could not look up: " + ", ".join(
            escape(k) + (f" ×{n}" if n > 1 else "") for k, n in failed.items()
        ))
    cut = sum(1 for u in uses if u.outcome == "cut")
    if cut:
        parts.append(f"{cut} result{'s' if cut > 1 else ''} cut to size")
    return ":mag: " + " · ".join(parts)


def context_blocks(result: TriageResult) -> list[dict[str, Any]]:
    """One context block with the card's context lines; none when the card has no context."""
    lines = [line for line in (links_line(result), runbook_line(result)) if line]
    lines += change_lines(result)
    tools = tools_line(result)
    if tools:
        lines.append(tools)
    if not lines:
        return []
    return [{"type": "context", "elements": [{"type": "mrkdwn", "text": line[:3000]} for line in lines[:10]]}]


def plain_lines(result: TriageResult) -> list[str]:
    """The same context as plain text, for the terminal (`triage-bot triage`)."""
    meta = result.meta
    lines = [f"{link.kind}: {link.url}" for link in meta.links]
    if meta.runbook is not None:
        lines.append(f"runbook: {meta.runbook.title} ({meta.runbook.url or meta.runbook.path})")
    lines += [change_words(change, meta.created_at) for change in meta.changes]
    if meta.tools:
        lines.append("looked up: " + ", ".join(f"{u.label} ({u.outcome})" for u in meta.tools))
    return lines
