"""Runbooks as data: parse one Markdown file (front matter, title, Steps list) into a Runbook, or say why not."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from bot.card import STEP_MAX, STEP_MIN

MAX_RUNBOOK_BYTES = 256 * 1024
MIN_STEPS = 2
MAX_STEPS = 12
MAX_NAMES = 50
NAME_MAX = 120

_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.{0,300}?)[ \t#]*$")
_ITEM = re.compile(r"^ {0,3}(?:[-*+]|\d{1,3}[.)])[ \t]+(.*)$")
_STEPS_TITLE = re.compile(r"^(?:next\s+|remediation\s+|triage\s+)?steps\b", re.I)
# "Steps:" or "**Steps**" on a line of its own works as a heading too.
_STEPS_LINE = re.compile(
    r"^ {0,3}(?:\*\*|__)?((?:next\s+|remediation\s+|triage\s+)?steps)\s*:?\s*(?:\*\*|__)?\s*:?\s*$", re.I
)
_CHECKBOX = re.compile(r"^\[[ xX]\]\s+")
_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_-]{0,40})[ \t]*:[ \t]*(.*)$")
_MARKUP = re.compile(r"\*\*|__|(?<!\w)[*_](?=\S)|(?<=\S)[*_](?!\w)")
_LINK = re.compile(r"\[([^\]\n]{0,300})\]\([^)\s]{0,2000}\)")


class RunbookError(ValueError):
    """A file that cannot serve as a runbook; the message says why."""


@dataclass(frozen=True)
class Runbook:
    """One runbook: where it lives, what it is for (front matter), and the steps it prescribes."""

    path: str
    title: str
    alerts: tuple[str, ...]
    services: tuple[str, ...]
    steps: tuple[str, ...]
    body: str
    mtime: float = 0.0

    def url(self, base: str | None) -> str | None:
        """TRIAGE_RUNBOOK_URL + path, when a base is set."""
        if not base:
            return None
        path = quote(self.path)
        return base + path if base.endswith("/") else f"{base}/{path}"


def parse_runbook(path: str, raw: bytes, mtime: float = 0.0) -> Runbook:
    """A runbook from a file's bytes; raises RunbookError with the reason it cannot be used."""
    if len(raw) > MAX_RUNBOOK_BYTES:
        raise RunbookError(f"larger than {MAX_RUNBOOK_BYTES // 1024} KB")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RunbookError(f"not UTF-8 text (byte {exc.start})") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise RunbookError("empty file")
    meta, body = split_front_matter(text)
    title = _clean(meta.get("title", [""])[0]) if meta.get("title") else ""
    steps = steps_of(body)
    if not title:
        title = next((_clean(m.group(2)) for m in map(_HEADING.match, body.splitlines()) if m), "")
    if not title:
        title = path.rsplit("/", 1)[-1].removesuffix(".md").replace("-", " ").replace("_", " ")
    if len(steps) < MIN_STEPS:
        found = f"found {len(steps)}" if steps else "none found"
        raise RunbookError(f'needs a "Steps" heading followed by a list of at least {MIN_STEPS} steps ({found})')
    return Runbook(
        path=path,
        title=title[:200],
        alerts=_names(meta.get("alerts", [])),
        services=_names(meta.get("services", [])),
        steps=tuple(steps[:MAX_STEPS]),
        body=body,
        mtime=mtime,
    )


def split_front_matter(text: str) -> tuple[dict[str, list[str]], str]:
    """`---` front matter (a small YAML subset: `key: value`, `key: [a, b]`, `- item` lists) and the body."""
    start = len(text) - len(text.lstrip("\n"))
    if not text.startswith("---\n", start):
        return {}, text
    end = text.find("\n---", start + 3)
    if end < 0:
        raise RunbookError('front matter starts with "---" but never ends')
    head, body = text[start + 4 : end], text[end + 4 :]
    body = body.split("\n", 1)[1] if "\n" in body else ""
    meta: dict[str, list[str]] = {}
    key: str | None = None
    for number, line in enumerate(head.split("\n"), start=2):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        item = re.match(r"^\s*-\s+(.*)$", line)
        if item and key is not None:
            meta[key].append(_scalar(item.group(1)))
            continue
        found = _KEY.match(line)
        if found is None:
            # Nested maps, block strings and other YAML the gateway does not read are skipped, not fatal.
            if line[:1] in (" ", "\t") or line.startswith("-"):
                continue
            raise RunbookError(f"front matter line {number} is not `key: value`")
        key, value = found.group(1).lower(), found.group(2).strip()
        if value.startswith("["):
            if not value.endswith("]"):
                raise RunbookError(f"front matter line {number}: a [list] must close on the same line")
            meta[key] = [_scalar(part) for part in value[1:-1].split(",") if part.strip()]
        else:
            meta[key] = [_scalar(value)] if value else []
    return meta, body


def steps_of(body: str) -> list[str]:
    """The items of the first list under a heading named "Steps" (or "Next steps"), up to the next heading."""
    steps: list[str] = []
    inside = False
    current: str | None = None
    for line in body.split("\n"):
        heading = _HEADING.match(line)
        pseudo = _STEPS_LINE.match(line) if heading is None and len(line) < 60 else None
        if heading or pseudo:
            if inside and (steps or current):
                break
            inside = bool(pseudo) or bool(heading and _STEPS_TITLE.match(heading.group(2).strip()))
            continue
        if not inside:
            continue
        item = _ITEM.match(line)
        if item:
            if current is not None:
                steps.append(current)
            current = item.group(1)
        elif current is not None and line.strip() and line.startswith((" ", "\t")):
            current += " " + line.strip()
        elif current is not None and not line.strip():
            continue
        elif current is not None:
            steps.append(current)
            current = None
            break
    if current is not None:
        steps.append(current)
    cleaned: list[str] = []
    for step in steps:
        text = _clean(step)
        if len(text) > STEP_MAX:
            text = text[: STEP_MAX - 1].rstrip() + "…"
        if len(text) >= STEP_MIN and text.casefold() not in {s.casefold() for s in cleaned}:
            cleaned.append(text)
    return cleaned


def _clean(text: str) -> str:
    text = _CHECKBOX.sub("", text.strip())
    text = _LINK.sub(r"\1", text)
    text = _MARKUP.sub("", text)
    return " ".join(text.split())


def _scalar(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return value.strip()


def _names(values: list[str]) -> tuple[str, ...]:
    names: list[str] = []
    for value in values[:MAX_NAMES]:
        name = " ".join(value.split())[:NAME_MAX]
        if name and name.casefold() not in {n.casefold() for n in names}:
            names.append(name)
    return tuple(names)
