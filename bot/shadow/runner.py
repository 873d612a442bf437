"""ShadowRunner: asks the candidate about a sampled live triage after the live card is recorded, and keeps
its answer against the same triage id. Nothing here can change, delay or fail the live card."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from bot.card import TriageResult
from bot.memory.precedent import Memory, with_precedent
from bot.settings import ConfigError, Settings, reveal
from bot.shadow.sampling import shadow_budget, skip_reason
from bot.store import Store
from bot.triage.cost import estimate_cost
from bot.triage.errors import ModelError
from bot.triage.evidence import check_answer
from bot.triage.front import Prepared
from bot.triage.model import MAX_OUTPUT_TOKENS, ModelClient
from bot.triage.prompt import Prompt
from bot.triage.resilience import CircuitBreaker, LoopSemaphore

if TYPE_CHECKING:
    import openai  # imported where used (bot/triage/resilience.py says why)

log = structlog.get_logger("bot.shadow")

# Candidate calls in flight at once: the live path keeps its own model slots to itself.
SHADOW_CONCURRENCY = 2
# Tokens of instructions around the alert, for the cost reservation (as the live path reckons it).
PROMPT_TOKENS = 1500
SPENT_REFRESH_SECONDS = 10.0


def load_prompt_file(path: str) -> Prompt:
    """A candidate prompt from a file (TRIAGE_SHADOW_PROMPT); its version is the file name plus a hash."""
    location = Path(path)
    try:
        system = location.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"TRIAGE_SHADOW_PROMPT: cannot read {path} ({exc})") from exc
    if not system:
        raise ConfigError(f"TRIAGE_SHADOW_PROMPT: {path} is empty")
    return Prompt(name=location.stem, system=system)


class ShadowRunner:
    """One candidate (model name + prompt) beside the live path, within its own share of the daily budget."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        model: ModelClient,
        model_name: str,
        *,
        live_circuit: Callable[[], str],
        client: openai.AsyncOpenAI | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.store = store
        self.model = model
        self.model_name = model_name
        self._live_circuit = live_circuit
        # The candidate's own OpenAI client (TRIAGE_SHADOW_BASE_URL), closed with the runner; None: the live one.
        self._client = client
        # Set by the Slack app: waits while Slack requests are in flight, so a shadow run never competes with
        # an ack for the event loop (bot/slack/background.py).
        self.yield_to_requests: Callable[[], Awaitable[None]] | None = None
        self._clock = clock
        self._monotonic = monotonic
        self.breaker = CircuitBreaker(settings.circuit_failures, settings.circuit_cooldown, monotonic)
        self._slots = LoopSemaphore(SHADOW_CONCURRENCY)
        self._tasks: set[asyncio.Task[None]] = set()
        self._budget = shadow_budget(settings.daily_budget_usd, settings.shadow_budget_share)
        self._spent: float | None = None
        self._spent_day = -1
        self._spent_read = 0.0
        self._reserved = 0.0
        self.skipped: dict[str, int] = {}
        self.recorded = 0

    @property
    def prompt_version(self) -> str:
        return self.model.prompt.version

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def offer(self, result: TriageResult, prepared: Prepared, memory: Memory) -> bool:
        """Called once the live result is recorded: start a background run when this triage is sampled.

        Returns at once; True when a run was started.
        """
        meta = result.meta
        reason = skip_reason(
            triage_id=meta.triage_id,
            rate=self.settings.shadow_rate,
            live_engine=meta.engine,
            live_degraded=meta.degraded,
            live_circuit=self._live_circuit(),
            shadow_circuit=self.breaker.state,
            pending=self.pending,
            spent=self._known_spent(),
            budget=self._budget,
        )
        if reason is not None:
            self.skipped[reason] = self.skipped.get(reason, 0) + 1
            return False
        task = asyncio.get_running_loop().create_task(self._run(meta.triage_id, prepared, memory), name="shadow")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def drain(self, timeout: float = 10.0) -> None:
        """Let runs in flight finish (bounded), then cancel what is left: a shadow is never worth a hang."""
        if not self._tasks:
            return
        _, late = await asyncio.wait(list(self._tasks), timeout=timeout)
        for task in late:
            task.cancel()
        if late:
            await asyncio.gather(*late, return_exceptions=True)

    async def aclose(self, timeout: float = 10.0) -> None:
        """Drain, then close the candidate's own client (the live one is closed by its owner)."""
        await self.drain(timeout)
        if self._client is not None:
            await self._client.close()
            self._client = None

    # --- one run ---------------------------------------------------------------------------------

    async def _run(self, triage_id: str, prepared: Prepared, memory: Memory) -> None:
        try:
            row = await self._ask(triage_id, prepared, memory)
            if row is None:
                return
            if self.yield_to_requests is not None:
                await self.yield_to_requests()
            await self.store.run(self.store.record_shadow, row)
            self.recorded += 1
        except Exception:  # a shadow failure is logged and forgotten; the live card never hears of it
            log.exception("shadow_failed", triage_id=triage_id)

    async def _ask(self, triage_id: str, prepared: Prepared, memory: Memory) -> dict[str, Any] | None:
        if self.yield_to_requests is not None:
            await self.yield_to_requests()
        if await self._spent_today() >= (self._budget if self._budget is not None else float("inf")):
            self.skipped["budget_exhausted"] = self.skipped.get("budget_exhausted", 0) + 1
            return None
        async with self._slots.get():
            admitted = self.breaker.enter()
            if admitted is None:
                self.skipped["shadow_circuit_open"] = self.skipped.get("shadow_circuit_open", 0) + 1
                return None
            estimate = estimate_cost(
                self.model_name, len(prepared.text) // 3 + PROMPT_TOKENS, MAX_OUTPUT_TOKENS, self.settings.prices
            )
            self._reserved += estimate
            started = self._monotonic()
            row: dict[str, Any] = {
                "triage_id": triage_id, "model": self.model_name, "prompt_version": self.prompt_version,
            }
            try:
                answer = await self.model.triage(
                    self.model_name, prepared.text, started + self.settings.deadline, examples=memory.examples
                )
            except ModelError as exc:
                self.breaker.record_failure()
                cost = estimate_cost(self.model_name, exc.tokens_in, exc.tokens_out, self.settings.prices)
                row.update(error=f"{exc.kind}: {exc}", cost_usd=round(cost, 8))
            else:
                self.breaker.record_success()
                # The same checks the live card passes: evidence floors, then the people's precedent.
                card, _ = check_answer(answer.card, prepared.evidence)
                card = with_precedent(card, memory.precedent)
                cost = estimate_cost(self.model_name, answer.tokens_in, answer.tokens_out, self.settings.prices)
                row.update(
                    severity=card.severity, category=card.category, confidence=card.confidence,
                    cost_usd=round(cost, 8), result=card.model_dump_json(),
                )
            finally:
                self._reserved -= estimate
                self.breaker.settle(admitted)
            self._spent = (self._spent or 0.0) + float(row.get("cost_usd") or 0.0)
            row["latency_ms"] = round((self._monotonic() - started) * 1000, 3)
            row["created_at"] = self._clock()
            return row

    # --- the candidate's own budget ----------------------------------------------------------------

    def _known_spent(self) -> float:
        day = int(self._clock() // 86400)
        spent = self._spent if day == self._spent_day and self._spent is not None else 0.0
        return spent + self._reserved

    async def _spent_today(self) -> float:
        if self._budget is None:
            return 0.0
        day = int(self._clock() // 86400)
        stale = self.store.shared and self._monotonic() - self._spent_read > SPENT_REFRESH_SECONDS
        if self._spent is None or day != self._spent_day or stale:
            self._spent_day = day
            self._spent_read = self._monotonic()
            self._spent = await self.store.run(self.store.shadow_spent_since, day * 86400.0)
        return self._spent + self._reserved


def build_shadow(
    settings: Settings,
    store: Store,
    live_client: openai.AsyncOpenAI,
    *,
    live_prompt: Prompt,
    live_circuit: Callable[[], str],
) -> ShadowRunner | None:
    """The runner for TRIAGE_SHADOW_MODEL / TRIAGE_SHADOW_PROMPT (the one not named is the live model or
    prompt), on the live OpenAI client or, with TRIAGE_SHADOW_BASE_URL, a client of its own; None when no
    candidate is named."""
    if not settings.shadow_enabled:
        return None
    prompt = load_prompt_file(settings.shadow_prompt) if settings.shadow_prompt else live_prompt
    own = None
    if settings.shadow_base_url:
        import openai

        own = openai.AsyncOpenAI(
            api_key=reveal(settings.shadow_api_key) or reveal(settings.openai_api_key),
            base_url=settings.shadow_base_url, max_retries=0, timeout=settings.model_timeout,
        )
    model = ModelClient(own or live_client, prompt, timeout=settings.model_timeout, attempts=settings.model_attempts)
    return ShadowRunner(settings, store, model, settings.shadow_model or settings.model_fast,
                        live_circuit=live_circuit, client=own)
