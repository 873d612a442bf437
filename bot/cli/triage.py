"""`triage`: one card on the terminal (text or JSON), or a JSONL batch triaged in groups, in input order."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections import deque
from typing import Any, TextIO

from bot.card import TriageResult
from bot.context.slack import plain_lines as context_lines
from bot.settings import Settings
from bot.triage.errors import InputError
from bot.triage.front import Prepared
from bot.triage.front_pool import FrontPool, Workers, start_pool
from bot.triage.markup import decode_markup
from bot.wiring import Gateway, build_gateway


def run_triage(settings: Settings, args: argparse.Namespace) -> int:
    """`triage-bot triage`: the card of TEXT (or stdin), or with --jsonl one line per input line."""
    # Worker processes for the front stage of a heuristic batch, forked before the event loop starts.
    rules_only = args.engine == "heuristic" or (args.engine == "auto" and not settings.model_enabled)
    pool = start_pool() if args.jsonl and rules_only else None
    try:
        return asyncio.run(triage_command(settings, args, sys.stdin, sys.stdout, pool))
    finally:
        if pool is not None:
            pool.shutdown()


async def triage_command(
    settings: Settings, args: argparse.Namespace, stdin: TextIO, stdout: TextIO, pool: Workers | None = None
) -> int:
    gateway = build_gateway(settings)
    engine = None if args.engine == "auto" else args.engine
    try:
        if args.jsonl:
            return await _triage_lines(gateway, engine, stdin, stdout, pool)
        text = decode_markup(args.text if args.text is not None else stdin.read())
        try:
            result = await gateway.service.triage(text, source="cli", engine=engine)
        except InputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if args.json:
            stdout.write(result.model_dump_json() + "\n")
        else:
            stdout.write(render_text(result) + "\n")
        return 0
    finally:
        await gateway.aclose()


# `--jsonl` with the heuristic engine triages lines in groups: each group's memory is read and its records
# written in one trip to the store (group commit), while the next groups go through the front stage (on worker
# processes when there are CPUs to spare, see bot/triage/front_pool.py). Output keeps input order. With a model,
# groups of one: model calls stay one at a time (a batch must not hit a provider's rate limit) and each card is
# written as soon as it is recorded.
JSONL_GROUP = 128
JSONL_GROUPS_IN_FLIGHT = 2


async def _triage_lines(
    gateway: Gateway, engine: str | None, stdin: TextIO, stdout: TextIO, pool: Workers | None = None
) -> int:
    service = gateway.service
    rules_only = engine == "heuristic" or service.model is None
    size, in_flight = (JSONL_GROUP, JSONL_GROUPS_IN_FLIGHT) if rules_only else (1, 1)
    front = None
    if pool is not None and rules_only:
        front = FrontPool(pool, service.front_cache, service.settings.max_input_chars)
        in_flight += pool.count  # the workers keep that many groups ahead

    async def one_group(
        lines: list[tuple[int, str]], before: asyncio.Future[None] | None, identified: asyncio.Future[None]
    ) -> list[tuple[str, bool]]:
        try:
            slots: list[tuple[int, Any, str | InputError]] = []
            for number, line in lines:
                item_id: Any = None
                try:
                    item = json.loads(line)
                    item_id = item.get("id") if isinstance(item, dict) else None
                    if not isinstance(item, dict) or not isinstance(item.get("text"), str):
                        raise InputError('each line must be a JSON object with a string "text"')
                    slots.append((number, item_id, decode_markup(item["text"])))
                except (json.JSONDecodeError, InputError) as exc:
                    slots.append((number, item_id, exc if isinstance(exc, InputError) else InputError(str(exc))))
            texts = [text for _, _, text in slots if not isinstance(text, InputError)]
            prepared: list[Prepared | InputError] = []
            if front is not None:
                prepared = await front.prepare(texts)
            else:
                for raw in texts:
                    try:
                        prepared.append(service.front(raw))
                    except InputError as exc:
                        prepared.append(exc)
            if before is not None:
                await before
        finally:
            # Identities are learned in input order: the next group identifies once this task next waits,
            # which is after triage_prepared has identified this group's lines (before its first trip to the store).
            identified.set_result(None)
        answers = iter(await service.triage_prepared(prepared, source="cli", engine=engine) if prepared else [])
        out: list[tuple[str, bool]] = []
        for number, item_id, text in slots:
            answer = text if isinstance(text, InputError) else next(answers)
            if isinstance(answer, InputError):
                out.append((compact_json({"id": item_id, "line": number, "error": str(answer)}), True))
            else:
                out.append((result_line(item_id, answer), False))
        return out

    await service.identity.ready()  # loaded before any line, so none waits on it and overtakes
    pending: deque[asyncio.Task[list[tuple[str, bool]]]] = deque()
    failures = 0

    async def write_oldest() -> None:
        nonlocal failures
        rendered = []
        for out, failed in await pending.popleft():
            failures += failed
            rendered.append(out + "\n")
        stdout.write("".join(rendered))
        stdout.flush()

    loop = asyncio.get_running_loop()
    previous: asyncio.Future[None] | None = None

    def start(group: list[tuple[int, str]]) -> None:
        nonlocal previous
        identified: asyncio.Future[None] = loop.create_future()
        pending.append(asyncio.create_task(one_group(group, previous, identified)))
        previous = identified

    group: list[tuple[int, str]] = []
    for number, line in enumerate(stdin, start=1):
        if not line.strip():
            continue
        group.append((number, line))
        if len(group) >= size:
            start(group)
            group = []
            if len(pending) >= in_flight:
                await write_oldest()
    if group:
        start(group)
    while pending:
        await write_oldest()
    return 1 if failures else 0


_COMPACT = json.JSONEncoder(separators=(",", ":"))


def compact_json(value: Any) -> str:
    return _COMPACT.encode(value)


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _json_escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code > 0xFFFF:  # outside the BMP: a surrogate pair, as json.dumps writes it
        code -= 0x10000
        return f"\\u{0xD800 | (code >> 10):04x}\\u{0xDC00 | (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def result_line(item_id: Any, result: TriageResult) -> str:
    """A `--jsonl` output line: the input's id, then the card and meta as the API returns them, as compact
    ASCII JSON (serialised once, by the model's own serialiser; other characters escaped as json.dumps does).
    Non-ASCII characters only ever occur inside JSON strings, where a \\uXXXX escape means the same."""
    body = result.model_dump_json()
    if not body.isascii():
        body = _NON_ASCII.sub(_json_escape, body)
    return '{"id":' + compact_json(item_id) + "," + body[1:]


def render_text(result: TriageResult) -> str:
    meta = result.meta
    lines = [f"{result.severity} · {result.category} · confidence {result.confidence:.2f}", ""]
    lines += result.summary.splitlines()
    lines.append("")
    lines += [f"{n}. {step}" for n, step in enumerate(result.steps, start=1)]
    lines.append("")
    engine = f"{meta.engine} {meta.model}" if meta.model else meta.engine
    lines.append(
        f"engine: {engine} · prompt: {meta.prompt_version} · {meta.latency_ms:.0f} ms · ${meta.cost_usd:.5f}"
        + (" · cached" if meta.cached else "")
    )
    if meta.degraded:
        lines.append(f"degraded: {meta.degraded_reason}")
    if meta.needs_review:
        lines.append("needs human review")
    if meta.redactions:
        lines.append("redacted: " + ", ".join(meta.redactions))
    lines += context_lines(result)
    lines.append(f"triage id: {meta.triage_id}")
    return "\n".join(lines)
