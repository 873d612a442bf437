"""The model call: Chat Completions with structured output, bounded retries, one repair attempt."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import ValidationError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from bot.card import TriageCard, card_json_schema
from bot.triage.errors import ModelError
from bot.triage.prompt import Prompt, PromptExample
from bot.triage.resilience import BadResponse, backoff, error_kind, is_retryable, retry_after

if TYPE_CHECKING:
    import openai  # imported where used (bot/triage/resilience.py says why)

MODES = ("json_schema", "json_object", "plain")
MAX_OUTPUT_TOKENS = 800
# Below this much time left, another attempt cannot finish; give up instead.
MIN_ATTEMPT_SECONDS = 0.2

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.I)
_UNSUPPORTED_FORMAT = re.compile(r"response_format|json_schema|json_object|input should be 'text'", re.I)
_UNSUPPORTED_TOOLS = re.compile(r"\btools?\b|tool_choice|function.call", re.I)


class ToolRunner(Protocol):
    """The look-ups one triage may make (bot.context.tools.ToolSession has this shape)."""

    @property
    def remaining(self) -> int: ...

    def definitions(self) -> list[dict[str, Any]]: ...

    async def run(self, function: str, raw_arguments: str | None, deadline: float) -> str: ...


class InvalidAnswer(ValueError):
    """The model's text is not a valid card."""


@dataclass
class ModelAnswer:
    card: TriageCard
    model: str
    tokens_in: int
    tokens_out: int
    retries: int
    repaired: bool
    mode: str


@dataclass
class _Completion:
    content: str
    tokens_in: int
    tokens_out: int
    tool_calls: list[dict[str, Any]] | None = None


def parse_card(content: str | None) -> TriageCard:
    """Turn the model's text into a card: strip fences, find the object, tidy case, clamp confidence."""
    if not content or not content.strip():
        raise InvalidAnswer("the answer is empty")
    text = _FENCE.sub("", content.strip())
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise InvalidAnswer("the answer holds no JSON object")
    try:
        data = json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        raise InvalidAnswer(f"the answer is not valid JSON: {exc.msg}") from exc
    except RecursionError as exc:  # nesting deeper than the parser's stack: no card is that deep
        raise InvalidAnswer("the answer is nested too deeply") from exc
    if not isinstance(data, dict):
        raise InvalidAnswer("the answer is not a JSON object")
    data = _tidy(data)
    try:
        return TriageCard.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidAnswer(f"the answer does not match the schema: {problems}") from exc


def _tidy(data: dict[str, Any]) -> dict[str, Any]:
    out = dict(data)
    if isinstance(out.get("category"), str):
        out["category"] = out["category"].strip().lower()
    if isinstance(out.get("severity"), str):
        out["severity"] = out["severity"].strip().upper()
    if isinstance(out.get("summary"), list):
        out["summary"] = "\n".join(str(line) for line in out["summary"])
    confidence = out.get("confidence")
    if isinstance(confidence, (int, float)) and not isinstance(confidence, bool):
        # Grammar-constrained servers do not enforce ranges: 85 means 85 %, negatives mean nothing.
        value = float(confidence)
        if 1 < value <= 100:
            value /= 100
        out["confidence"] = min(max(value, 0.0), 1.0)
    return out


def unsupported_format(exc: BaseException) -> bool:
    """Does this error say the server cannot do the requested response_format?"""
    import openai

    if not isinstance(exc, openai.APIStatusError) or exc.status_code not in (400, 422, 500, 501):
        return False
    return bool(_UNSUPPORTED_FORMAT.search(f"{exc.message} {exc.body}"))


def unsupported_tools(exc: BaseException) -> bool:
    """Does this error say the server cannot do function calling?"""
    import openai

    if not isinstance(exc, openai.APIStatusError) or exc.status_code not in (400, 422, 500, 501):
        return False
    return bool(_UNSUPPORTED_TOOLS.search(f"{exc.message} {exc.body}"))


def _response_format(mode: str) -> dict[str, Any] | None:
    if mode == "json_schema":
        schema = {"name": "triage_card", "strict": True, "schema": card_json_schema()}
        return {"type": "json_schema", "json_schema": schema}
    if mode == "json_object":
        return {"type": "json_object", "schema": card_json_schema()}
    return None


class ModelClient:
    """Asks one OpenAI-compatible server for cards; the client is passed in with max_retries=0."""

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        prompt: Prompt,
        *,
        timeout: float,
        attempts: int,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        on_retry: Callable[[str, str], None] | None = None,
    ) -> None:
        self._client = client
        self._prompt = prompt
        self._timeout = timeout
        self._attempts = attempts
        self._sleep = sleep
        self._clock = clock
        self._on_retry = on_retry
        self._mode: dict[str, int] = {}
        # models whose server refused function calling: asked without tools from then on
        self._no_tools: set[str] = set()

    @property
    def prompt(self) -> Prompt:
        return self._prompt

    def mode_for(self, model: str) -> str:
        return MODES[self._mode.get(model, 0)]

    async def triage(
        self,
        model: str,
        alert: str,
        deadline: float,
        *,
        examples: Sequence[PromptExample] = (),
        reading: str = "",
        context: str = "",
        tools: ToolRunner | None = None,
    ) -> ModelAnswer:
        """One card from `model` before `deadline` (a monotonic time), repairing invalid output once.

        `examples` are judged earlier incidents from memory, shown to the model for reference; `reading` is
        the reading stage's JSON of the alert (untrusted data, like the alert); `context` the team's runbook
        and recent changes; `tools` the look-ups the model may make before it answers.
        """
        if model in self._no_tools:
            tools = None
        messages: list[dict[str, Any]] = list(
            self._prompt.messages(alert, examples, reading, context=context, tools=tools is not None)
        )
        tokens_in = tokens_out = retries = 0
        repaired = False
        attempt = rounds = 0
        while True:
            try:
                completion, used_retries = await self._complete(model, messages, deadline, tools)
            except ModelError as exc:
                exc.retries += retries
                exc.tokens_in, exc.tokens_out = tokens_in, tokens_out
                raise
            retries += used_retries
            tokens_in += completion.tokens_in
            tokens_out += completion.tokens_out
            if completion.tool_calls and tools is not None and model not in self._no_tools and rounds <= 10:
                # Every call asked for gets an answer (a refusal past the limit), as the API requires.
                rounds += 1
                messages = [
                    *messages,
                    {"role": "assistant", "content": completion.content or None, "tool_calls": completion.tool_calls},
                ]
                for call in completion.tool_calls:
                    function = call.get("function") or {}
                    content = await tools.run(str(function.get("name") or ""), function.get("arguments"), deadline)
                    messages.append({"role": "tool", "tool_call_id": str(call.get("id") or ""), "content": content})
                continue
            try:
                card = parse_card(completion.content)
            except InvalidAnswer as exc:
                attempt += 1
                if attempt == 2:
                    error = ModelError("invalid_output", model, str(exc), retries)
                    error.tokens_in, error.tokens_out = tokens_in, tokens_out
                    raise error from exc
                repaired = True
                messages = [
                    *messages,
                    {"role": "assistant", "content": completion.content[:4000]},
                    {
                        "role": "user",
                        "content": f"That answer was invalid ({exc}). Reply again with only the corrected "
                        "JSON object with keys category, severity, summary, steps (exactly 3), confidence.",
                    },
                ]
                continue
            return ModelAnswer(card, model, tokens_in, tokens_out, retries, repaired, self.mode_for(model))

    def _tool_arguments(self, model: str, tools: ToolRunner | None) -> dict[str, Any]:
        """The request's tools: offered while calls remain, then still listed but not to be called."""
        if tools is None or model in self._no_tools:
            return {}
        definitions = tools.definitions()
        if not definitions:
            return {}
        return {"tools": definitions, "tool_choice": "auto" if tools.remaining > 0 else "none"}

    async def _complete(
        self, model: str, messages: list[dict[str, Any]], deadline: float, tools: ToolRunner | None = None
    ) -> tuple[_Completion, int]:
        """One completion, stepping down response formats the server rejects (remembered per model)."""
        import openai

        while True:
            index = self._mode.get(model, 0)
            extra = self._tool_arguments(model, tools)
            try:
                return await self._with_retries(model, messages, MODES[index], deadline, extra)
            except openai.APIStatusError as exc:
                if unsupported_format(exc) and index + 1 < len(MODES):
                    self._mode[model] = index + 1
                    continue
                if extra and unsupported_tools(exc) and not any(m.get("role") == "tool" for m in messages):
                    self._no_tools.add(model)
                    continue
                raise ModelError(error_kind(exc), model, exc.message) from exc

    async def _with_retries(
        self, model: str, messages: list[dict[str, Any]], mode: str, deadline: float,
        extra: dict[str, Any] | None = None,
    ) -> tuple[_Completion, int]:
        import openai

        attempts = 0

        def should_retry(exc: BaseException) -> bool:
            return is_retryable(exc) and not unsupported_format(exc) and not (extra and unsupported_tools(exc))

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            asked = retry_after(exc) if exc else None
            delay = asked if asked is not None else backoff(state.attempt_number)
            return max(min(delay, deadline - self._clock() - MIN_ATTEMPT_SECONDS), 0.0)

        def stop(state: RetryCallState) -> bool:
            if state.attempt_number >= self._attempts:
                return True
            exc = state.outcome.exception() if state.outcome else None
            asked = (retry_after(exc) if exc else None) or 0.0
            return deadline - self._clock() - asked < MIN_ATTEMPT_SECONDS

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            if self._on_retry is not None and exc is not None:
                self._on_retry(model, error_kind(exc))

        retrying = AsyncRetrying(
            stop=stop,
            wait=wait,
            retry=retry_if_exception(should_retry),
            before_sleep=before_sleep,
            sleep=self._sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    completion = await self._call(model, messages, mode, deadline, extra)
                    return completion, attempts - 1
        except (openai.APITimeoutError, openai.APIConnectionError, TimeoutError, BadResponse) as exc:
            raise ModelError(error_kind(exc), model, str(exc), attempts - 1) from exc
        except openai.APIStatusError as exc:
            if unsupported_format(exc) or (extra and unsupported_tools(exc)):
                raise
            raise ModelError(error_kind(exc), model, exc.message, attempts - 1) from exc
        raise AssertionError("unreachable")

    async def _call(
        self, model: str, messages: list[dict[str, Any]], mode: str, deadline: float,
        extra: dict[str, Any] | None = None,
    ) -> _Completion:
        import openai

        remaining = deadline - self._clock()
        if remaining < MIN_ATTEMPT_SECONDS:
            raise TimeoutError("deadline reached before the model call")
        body: dict[str, Any] = {
            "model": model, "messages": messages, "temperature": 0, "max_tokens": MAX_OUTPUT_TOKENS, **(extra or {}),
        }
        response_format = _response_format(mode)
        if response_format is not None:
            body["response_format"] = response_format
        try:
            # The client's own request path (auth, timeouts, status errors) with the body as built here: the
            # typed `create` would walk every message and the whole schema again, and build a typed response
            # only for the three fields read below.
            data = await self._client.post(
                "/chat/completions", cast_to=object, body=body, options={"timeout": min(self._timeout, remaining)}
            )
        except (ValueError, openai.APIResponseValidationError) as exc:
            raise BadResponse(f"unreadable response body: {exc}") from exc
        return completion_of(data)


def completion_of(data: object) -> _Completion:
    """The parts of a Chat Completions response body the gateway uses; BadResponse when it has none."""
    if not isinstance(data, dict):
        raise BadResponse("unreadable response body: not a JSON object")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        raise BadResponse("response has no choices")
    first = choices[0]
    message = first.get("message") if isinstance(first, dict) else None
    if not isinstance(message, dict):
        raise BadResponse("response has no message")
    content = message.get("content")
    usage = data.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    calls = [
        {"id": str(call.get("id") or ""), "type": "function",
         "function": {"name": function.get("name"), "arguments": function.get("arguments")}}
        for call in (message.get("tool_calls") or [] if isinstance(message.get("tool_calls"), list) else [])
        if isinstance(call, dict) and isinstance(function := call.get("function"), dict)
    ]
    return _Completion(
        content=content if isinstance(content, str) else "",
        tokens_in=_count(usage.get("prompt_tokens")),
        tokens_out=_count(usage.get("completion_tokens")),
        tool_calls=calls or None,
    )


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
