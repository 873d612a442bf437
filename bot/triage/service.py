"""TriageService: the one path every triage takes, from raw text to a recorded TriageResult."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import structlog

from bot.card import TriageCard, TriageMeta, TriageResult
from bot.context.gather import ChangeRows, Context, ContextStage, with_runbook_steps
from bot.context.library import RunbookLibrary
from bot.context.links import merge_links
from bot.context.model import ToolUse
from bot.context.tools import ToolBox, ToolSession
from bot.health import DatabaseUnavailable, is_outage
from bot.identity.identifier import IdentityKey, identity_key
from bot.identity.keeper import IdentityKeeper
from bot.memory.precedent import Memory, against_label, memory_from, with_precedent
from bot.observability import Metrics
from bot.settings import Settings
from bot.store import Store
from bot.store.base import TriageRecord
from bot.store.leases import new_replica_id
from bot.triage.cost import estimate_cost
from bot.triage.errors import InputError, ModelError
from bot.triage.evidence import check_answer
from bot.triage.flight import FlightWaitExpired, SharedFlight
from bot.triage.front import Prepared, Redacted, cache_key, facts_of, prepare, prepare_redacted, redacted_text
from bot.triage.front_cache import FrontCache
from bot.triage.memo import Memo
from bot.triage.model import MAX_OUTPUT_TOKENS, ModelAnswer, ModelClient
from bot.triage.resilience import CircuitBreaker, LoopSemaphore
from bot.triage.routing import BudgetState, RoutePolicy, Tier, budget_state, escalate, first_tier

if TYPE_CHECKING:
    from bot.shadow.runner import ShadowRunner

EngineChoice = Literal["auto", "model", "heuristic"]
HEURISTIC_PROMPT = "heuristic"
SPENT_REFRESH_SECONDS = 10.0
# Tokens of instructions and examples around the alert in a model request, for the cost reservation.
PROMPT_TOKENS = 1500
# Transport failures count against the circuit; a bad answer means the server is up.
_CIRCUIT_KINDS = frozenset(
    {"timeout", "connection_error", "rate_limited", "server_error", "auth_error", "http_408", "http_409"}
)

log = structlog.get_logger("bot.triage")


class TriageIds:
    """Random triage ids (32 hex digits, like a UUID4's) drawn from one read of the OS's randomness per 256."""

    def __init__(self, batch: int = 256) -> None:
        self._batch = batch
        self._pool = b""

    def next(self) -> str:
        if not self._pool:
            self._pool = os.urandom(16 * self._batch)
        raw, self._pool = self._pool[:16], self._pool[16:]
        return raw.hex()


@dataclass
class Outcome:
    """An engine's answer plus what it cost; becomes a TriageResult once it gets its metadata."""

    card: TriageCard
    engine: Literal["model", "heuristic"]
    model: str | None = None
    degraded_reason: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    retries: int = 0
    cached: bool = False
    error: str | None = None
    review: tuple[str, ...] = ()  # why a person should look: evidence overruled the answer, a label conflict
    # (key, card to reuse) when this outcome should be written to the idempotency cache
    cache_entry: tuple[str, TriageResult] | None = None
    tools: list[ToolUse] = field(default_factory=list)  # the look-ups the model made, for meta and the audit
    context: Context = field(default_factory=Context)  # what the context stage found for this card


# Inputs up to this size are prepared on the event loop (a thread hop costs more than the work).
INLINE_PREPARE_CHARS = 4096


class TriageService:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        metrics: Metrics,
        *,
        model: ModelClient | None = None,
        breaker: CircuitBreaker | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        identity: IdentityKeeper | None = None,
        replica: str | None = None,
        context: ContextStage | None = None,
        tools: ToolBox | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self.model = model
        # One template learner per process, shared with the alert intake: both must agree on identities.
        self.identity = identity or IdentityKeeper(store, monotonic=monotonic)
        # The alert's links, the team's runbook, recent changes (bot/context); the model's tools.
        self.context = context or ContextStage(
            store, RunbookLibrary(settings.runbooks, store, base_url=settings.runbook_url, monotonic=monotonic),
            change_window=settings.change_window, clock=clock,
        )
        self.tools = tools
        self.breaker = breaker or CircuitBreaker(settings.circuit_failures, settings.circuit_cooldown, monotonic)
        self.breaker.on_change = metrics.set_circuit
        self._clock = clock
        self._monotonic = monotonic
        self._policy = RoutePolicy(settings.strong_input_chars, settings.min_confidence)
        self._inflight: dict[str, asyncio.Task[Outcome]] = {}
        self._memo = Memo(settings.cache_ttl, clock)
        self._spent: float | None = None
        # Estimated cost of the model calls in flight (see _reserve).
        self._reserved = 0.0
        self._slots = LoopSemaphore(settings.model_concurrency)
        self._spent_day = -1
        self._spent_read = 0.0
        # Replicas sharing a store make one model call per input between them (None: this process is alone).
        self.flight = SharedFlight(store, replica or new_replica_id(), lease=settings.deadline + 5.0,
                                   replica_lease=settings.replica_lease, clock=clock,
                                   monotonic=monotonic) if store.shared else None
        # A candidate answering a sample of live triages in the background (bot/shadow), set by the wiring.
        self.shadow: ShadowRunner | None = None
        self._front = FrontCache()
        self._ids = TriageIds()

    @property
    def prompt_version(self) -> str:
        return self.model.prompt.version if self.model else HEURISTIC_PROMPT

    async def triage(
        self,
        raw: str | bytes,
        *,
        source: str = "api",
        engine: str | None = None,
        fingerprint: str | None = None,
        must_record: bool = False,
        count_after: bool = False,
    ) -> TriageResult:
        """Triage one input. Raises InputError for unusable input; every other failure degrades.

        `fingerprint` is given by callers that identified the input already.
        `must_record`: raise DatabaseUnavailable, as soon as the database is known to be down, rather than
        answer with a card that was never recorded (the HTTP API, whose clients can retry).
        `count_after`: the triage's metrics and log line are made once the caller has handed its answer on (at the
        event loop's next turn: for the HTTP API, once the response is written), not before it returns. The record
        is written before it returns either way.
        """
        started = self._monotonic()
        identifier = None if fingerprint is not None else await self.identity.ready()

        def identify(text: str, key: IdentityKey | None = None) -> str:
            if identifier is None:
                assert fingerprint is not None
                return fingerprint
            return identifier.identify(text, key).fingerprint

        limit = self.settings.max_input_chars
        if len(raw) > INLINE_PREPARE_CHARS:
            # Cleaning and redacting a long input is CPU work: off the event loop, so acks and health
            # checks are answered meanwhile. (Too long for the front cache, which only the loop touches.)
            prepared = await asyncio.to_thread(prepare, raw, limit, identify)
            [memory], changes = await self._look_up([(prepared.fingerprint, prepared.text)], must_record)
        elif (seen := self._front.peek(raw, limit)) is not None:
            prepared = replace(seen, fingerprint=identify(seen.text, seen.identity))
            [memory], changes = await self._look_up([(prepared.fingerprint, prepared.text)], must_record)
        else:
            clean = redacted_text(raw, limit)  # raises InputError for unusable input
            key = None if identifier is None else identity_key(clean.text)
            prepared, memory, changes = await self._front_and_look_up(clean, identify(clean.text, key), must_record)
            prepared.identity = key  # a later triage of the same text (alone or in a group) identifies from it
            self._front.keep(raw, limit, prepared)
        return await self._pipeline(prepared, memory, changes, source, engine, must_record, started, count_after)

    async def triage_redacted(
        self, clean: Redacted, *, fingerprint: str, source: str = "api", engine: str | None = None,
        must_record: bool = False,
    ) -> TriageResult:
        """Triage an input its caller cleaned, redacted and identified already (the alert intake does, once per
        alert): only the rest of the front stage (reading, pre-screen) runs here, then the pipeline."""
        started = self._monotonic()
        if len(clean.text) > INLINE_PREPARE_CHARS:
            prepared = await asyncio.to_thread(prepare_redacted, clean, lambda _: fingerprint)
            [memory], changes = await self._look_up([(fingerprint, prepared.text)], must_record)
        else:
            prepared, memory, changes = await self._front_and_look_up(clean, fingerprint, must_record)
        return await self._pipeline(prepared, memory, changes, source, engine, must_record, started)

    async def _front_and_look_up(
        self, clean: Redacted, fingerprint: str, must_record: bool
    ) -> tuple[Prepared, Memory, ChangeRows | None]:
        """The rest of the front stage (reading, pre-screen), then the memory and the changes in one trip to the
        store. One after the other: the store's worker needs the interpreter the front stage holds, so started
        together they would only wait on each other."""
        prepared = prepare_redacted(clean, lambda _: fingerprint)
        prepared.facts = facts_of(prepared)  # what the context stage looks up
        [memory], changes = await self._look_up([(fingerprint, clean.text)], must_record)
        return prepared, memory, changes

    async def _pipeline(
        self, prepared: Prepared, memory: Memory, changes: ChangeRows | None, source: str, engine: str | None,
        must_record: bool, started: float, count_after: bool = False,
    ) -> TriageResult:
        """From the look-ups to the recorded result: the context, the engine, the result, the record."""
        [context] = await self._gather_many([prepared], changes)
        outcome, memory = await self._engine(prepared, engine or "auto", started, memory, context, must_record)
        result = self._result(prepared, outcome, source, started, memory)
        failure = await self._finish_many([(result, prepared, outcome)], count_after)
        if must_record and failure is not None:
            raise failure
        if self.shadow is not None and failure is None:
            # After the live result is recorded; starts a background task and returns at once.
            self.shadow.offer(result, prepared, memory)
        return result

    async def triage_many(
        self, raws: Sequence[str | bytes], *, source: str = "api", engine: str | None = None
    ) -> list[TriageResult | InputError]:
        """Triage a group of inputs in their order, each stage once per input; an unusable one gives its InputError.

        Identities are learned in input order, memory and recent changes are read for the whole group in one
        trip to the store, and the group's records are written in one transaction (any identity templates due in
        the same trip) before any result is handed back. Model calls, when the engine asks for them, are made one
        at a time, as for single triages.
        """
        slots: list[Prepared | InputError] = []
        for raw in raws:
            try:
                slots.append(self._front.unidentified(raw, self.settings.max_input_chars))
            except InputError as exc:
                slots.append(exc)
        return await self.triage_prepared(slots, source=source, engine=engine)

    @property
    def front_cache(self) -> FrontCache:
        return self._front

    def front(self, raw: str | bytes) -> Prepared:
        """The pure front stage of one input, from this process's cache when it was seen; InputError if unusable."""
        return self._front.unidentified(raw, self.settings.max_input_chars)

    async def triage_prepared(
        self, slots: Sequence[Prepared | InputError], *, source: str = "api", engine: str | None = None
    ) -> list[TriageResult | InputError]:
        """`triage_many` for inputs through the front stage already (`prepare_unidentified`, or `front`)."""
        started = self._monotonic()
        identifier = await self.identity.ready()
        batch = [
            replace(p, fingerprint=identifier.identify(p.text, p.identity).fingerprint)
            for p in slots if isinstance(p, Prepared)
        ]
        memories, changes = await self._look_up([(p.fingerprint, p.text) for p in batch])
        contexts = await self._gather_many(batch, changes)
        done: list[tuple[TriageResult, Prepared, Outcome, Memory]] = []
        for prepared, memory, context in zip(batch, memories, contexts, strict=True):
            outcome, memory = await self._engine(prepared, engine or "auto", started, memory, context)
            done.append((self._result(prepared, outcome, source, started, memory), prepared, outcome, memory))
        failure = await self._finish_many([(result, prepared, outcome) for result, prepared, outcome, _ in done])
        if self.shadow is not None and failure is None:
            for result, prepared, _, memory in done:
                self.shadow.offer(result, prepared, memory)
        results = iter(result for result, *_ in done)
        return [slot if isinstance(slot, InputError) else next(results) for slot in slots]

    async def _engine(
        self, prepared: Prepared, engine: str, started: float, memory: Memory, context: Context,
        must_record: bool = False,
    ) -> tuple[Outcome, Memory]:
        """The engine's answer, held to the text's evidence and the incident's precedent, and the memory as the
        card shows it; never raises but DatabaseUnavailable (with `must_record`)."""
        try:
            outcome = await self._decide(prepared, engine, started, memory, context)
        except DatabaseUnavailable:
            if must_record:
                raise
            outcome = self._heuristic(prepared, "database_unavailable")
        except Exception as exc:  # the gateway's own bug must still give a card and a record
            log.exception("triage_internal_error", fingerprint=prepared.fingerprint)
            self.metrics.errors.labels("internal").inc()
            outcome = self._heuristic(prepared, "internal_error")
            outcome.error = repr(exc)
        # any engine's answer is held to the text's hard evidence; a disagreement asks for a person
        outcome.card, outcome.review = check_answer(outcome.card, prepared.evidence)
        # Precedent: the latest human verdict on this identity decides severity and category, whatever
        # the engine (and whatever the cache) said.
        outcome.card = with_precedent(outcome.card, memory.precedent)
        if outcome.engine == "heuristic" and context.steps:
            # The team's runbook knows better than generic rules what to do first.
            outcome.card = with_runbook_steps(outcome.card, context.steps)
        outcome.context = context
        # A verdict below what the alert's own label asks for is kept, and said on the card.
        memory = replace(memory, precedent=against_label(memory.precedent, prepared.evidence.label_least))
        return outcome, memory

    # --- decisions -----------------------------------------------------------------------------

    async def _look_up(
        self, items: Sequence[tuple[str, str]], must_record: bool = False
    ) -> tuple[list[Memory], ChangeRows | None]:
        """Incident memory (the precedent, similar earlier incidents) for each (fingerprint, text) of a group,
        and the recent changes, read in one trip to the store. A failing memory look-up only loses the memory;
        changes that could not be read here are None, and the context stage asks for them itself (and says so
        when that fails too)."""
        if not items:
            return [], None
        store = self.store
        since = self.context.changes_since()

        def read() -> tuple[list[dict[str, Any]], ChangeRows | None]:
            recalled = store.recall_many(items)
            if since is None:
                return recalled, None
            try:
                return recalled, (since, store.recent_changes(since))
            except Exception as exc:
                if is_outage(exc):
                    raise
                return recalled, None

        try:
            recalled, changes = await store.run(read)
        except DatabaseUnavailable:
            if must_record:
                raise
            self.metrics.errors.labels("memory").inc()
            return [Memory()] * len(items), None
        except Exception:  # memory is advice: a store problem must not cost the cards
            log.exception("memory_recall_failed", fingerprint=items[0][0], count=len(items))
            self.metrics.errors.labels("memory").inc()
            return [Memory()] * len(items), None
        return [memory_from(r) for r in recalled], changes

    async def _gather_many(self, batch: Sequence[Prepared], changes: ChangeRows | None = None) -> list[Context]:
        """Context for each card of a group (`changes`: the recent changes, when read with the memory); a failing
        look-up only loses that piece of context."""
        try:
            return await self.context.gather_many([facts_of(p) for p in batch], changes=changes)
        except Exception:  # context is advice: it must not cost the cards
            log.exception("context_failed", fingerprint=batch[0].fingerprint if batch else None)
            self.metrics.errors.labels("context").inc()
            return [Context()] * len(batch)

    async def _decide(
        self, prepared: Prepared, engine: str, started: float, memory: Memory, context: Context | None = None
    ) -> Outcome:
        context = context or Context()
        if engine == "heuristic":
            return self._heuristic(prepared, None)
        if self.model is None:
            return self._heuristic(prepared, "no_api_key" if engine == "model" else None)
        budget = await self._budget()
        tier = first_tier(prepared.prescreen, len(prepared.text), self._policy, budget)
        if tier is None:
            return self._heuristic(prepared, "budget_exhausted")
        model = self._model_name(tier)
        key = cache_key(prepared.text, self.prompt_version, model, memory.cache_tag + context.cache_tag)
        if self._memo.complete is None:
            await self._memo.load(self.store)
        cached = self._memo.get(key)
        # A shared store is written by other replicas too: there a miss in this process's memo proves nothing.
        if cached is None and not self._memo.complete:
            cached = await self.store.run(self.store.get_cached, key)
        if cached is not None:
            self.metrics.cache_hits.inc()
            return Outcome(cached.card, cached.meta.engine, cached.meta.model, cached=True)
        task = self._inflight.get(key)
        if task is not None:
            self.metrics.cache_hits.inc()
            shared = await asyncio.shield(task)
            return Outcome(shared.card, shared.engine, shared.model, shared.degraded_reason, cached=True)
        task = asyncio.create_task(self._fly(prepared, tier, budget, key, started, memory, context))
        self._inflight[key] = task
        task.add_done_callback(lambda _: self._inflight.pop(key, None))
        return await asyncio.shield(task)

    async def _fly(
        self, prepared: Prepared, tier: Tier, budget: BudgetState, key: str, started: float, memory: Memory,
        context: Context,
    ) -> Outcome:
        """Ask the model, unless another replica already is: then serve its answer from the shared cache."""
        if self.flight is None:
            return await self._ask_model(prepared, tier, budget, key, started, memory, context)
        try:
            landed = await self.flight.lead_or_wait(key, until=started + self.settings.deadline)
        except FlightWaitExpired:
            # The other replica's call is still going: this request's deadline has come all the same.
            self.metrics.errors.labels("deadline").inc()
            return self._heuristic(prepared, "deadline")
        if landed is not None:
            self.metrics.cache_hits.inc()
            return Outcome(landed.card, landed.meta.engine, landed.meta.model, cached=True)
        try:
            outcome = await self._ask_model(prepared, tier, budget, key, started, memory, context)
            if outcome.cache_entry is not None:
                # In the shared cache before the flight lands, so the replicas waiting on it find it there.
                await self.store.run(self.store.put_cached, *outcome.cache_entry, self.settings.cache_ttl)
                outcome.cache_entry = None
        finally:
            await self.flight.land(key)
        return outcome

    async def _ask_model(
        self, prepared: Prepared, tier: Tier, budget: BudgetState, key: str, started: float, memory: Memory,
        context: Context,
    ) -> Outcome:
        admitted = self.breaker.enter()
        if admitted is None:
            self.metrics.errors.labels("circuit_open").inc()
            return self._heuristic(prepared, "circuit_open")
        deadline = started + self.settings.deadline
        spent = Outcome(prepared.prescreen, "heuristic")
        answer: ModelAnswer | None = None
        failure: ModelError | None = None
        session: ToolSession | None = None
        try:
            async with asyncio.timeout(max(deadline - self._monotonic(), 0.0)):
                session = await self.tools.session(deadline) if self.tools is not None else None
                answer, failure = await self._call(tier, prepared, deadline, spent, memory, context, session)
                unusable = failure is not None and failure.kind == "invalid_output"
                if (answer is not None or unusable) and escalate(
                    tier, answer.card if answer else None, self._policy, budget
                ):
                    stronger, strong_failure = await self._call(
                        "strong", prepared, deadline, spent, memory, context, session
                    )
                    if stronger is not None and (answer is None or stronger.card.confidence >= answer.card.confidence):
                        answer = stronger
                    elif answer is None:
                        failure = strong_failure or failure
        except TimeoutError:
            failure = ModelError("deadline", self._model_name(tier), f"no answer within {self.settings.deadline}s")
            self.metrics.errors.labels("deadline").inc()
            self.breaker.record_failure()
        finally:
            # Whatever ended the phase (even an exception that is not a model error) settles a probe.
            self.breaker.settle(admitted)
        if answer is None:
            outcome = self._heuristic(prepared, failure.kind if failure else "model_error")
            outcome.error = str(failure) if failure else None
        else:
            outcome = Outcome(answer.card, "model", answer.model)
            entry = self._cacheable(prepared, answer)
            self._memo.put(key, entry)
            outcome.cache_entry = (key, entry)
        outcome.tokens_in, outcome.tokens_out = spent.tokens_in, spent.tokens_out
        outcome.cost_usd, outcome.retries = spent.cost_usd, spent.retries
        outcome.tools = list(session.uses) if session is not None else []
        return outcome

    async def _call(
        self, tier: Tier, prepared: Prepared, deadline: float, spent: Outcome, memory: Memory,
        context: Context | None = None, tools: ToolSession | None = None,
    ) -> tuple[ModelAnswer | None, ModelError | None]:
        """One model answer (or the error), adding its tokens and cost to `spent`.

        The call's estimated cost is reserved against the daily budget before it starts and released
        once its real cost is counted, so calls in flight together cannot overshoot the budget.
        """
        assert self.model is not None
        text = prepared.text
        model = self._model_name(tier)
        reserved = self._reserve(model, text)
        if reserved is None:
            self.metrics.errors.labels("budget_exhausted").inc()
            return None, ModelError("budget_exhausted", model, "the daily budget is spent or reserved")
        try:
            async with self._slots.get():
                began = self._monotonic()
                answer = await self.model.triage(
                    model, text, deadline, examples=memory.examples,
                    reading=prepared.reading.model_dump_json(exclude_defaults=True) if prepared.reading else "",
                    context=context.excerpt if context else "", tools=tools,
                )
        except ModelError as exc:
            self._account(spent, model, exc.tokens_in, exc.tokens_out, exc.retries)
            self.metrics.model_calls.labels(model, exc.kind).inc()
            self.metrics.errors.labels(exc.kind).inc()
            if exc.kind in _CIRCUIT_KINDS:
                self.breaker.record_failure()
            else:
                self.breaker.record_success()
            return None, exc
        finally:
            self._reserved -= reserved
        self.metrics.model_latency.labels(model).observe(self._monotonic() - began)
        self.metrics.model_calls.labels(model, "repaired" if answer.repaired else "ok").inc()
        self._account(spent, model, answer.tokens_in, answer.tokens_out, answer.retries)
        self.breaker.record_success()
        return answer, None

    def _reserve(self, model: str, text: str) -> float | None:
        """Reserve a call's worst-case cost; None when spending plus reservations already reach the budget.

        A call is let through while anything is left, so the budget is overshot by one call at most,
        however many requests arrive together.
        """
        estimate = estimate_cost(model, len(text) // 3 + PROMPT_TOKENS, MAX_OUTPUT_TOKENS, self.settings.prices)
        limit = self.settings.daily_budget_usd
        if limit is not None and (self._spent or 0.0) + self._reserved >= limit:
            return None
        self._reserved += estimate
        return estimate

    def _account(self, spent: Outcome, model: str, tokens_in: int, tokens_out: int, retries: int) -> None:
        cost = estimate_cost(model, tokens_in, tokens_out, self.settings.prices)
        spent.tokens_in += tokens_in
        spent.tokens_out += tokens_out
        spent.cost_usd += cost
        spent.retries += retries
        self._spent = (self._spent or 0.0) + cost
        self.metrics.cost.labels(model).inc(cost)
        self.metrics.tokens.labels(model, "in").inc(tokens_in)
        self.metrics.tokens.labels(model, "out").inc(tokens_out)

    def _heuristic(self, prepared: Prepared, reason: str | None) -> Outcome:
        return Outcome(prepared.prescreen, "heuristic", None, degraded_reason=reason)

    def _model_name(self, tier: Tier) -> str:
        return self.settings.model_strong if tier == "strong" else self.settings.model_fast

    async def _budget(self) -> BudgetState:
        if self.settings.daily_budget_usd is None:
            return "ok"
        now = self._clock()
        day = int(now // 86400)
        # Other replicas spend too: with a shared store the day's total is read again every so often.
        stale = self.store.shared and self._monotonic() - self._spent_read > SPENT_REFRESH_SECONDS
        if self._spent is None or day != self._spent_day or stale:
            self._spent_day = day
            self._spent_read = self._monotonic()
            self._spent = await self.store.run(self.store.spent_since, day * 86400.0)
        return budget_state(self._spent, self.settings.daily_budget_usd, self.settings.budget_fast_only_ratio)

    # --- results -------------------------------------------------------------------------------

    def _cacheable(self, prepared: Prepared, answer: ModelAnswer) -> TriageResult:
        meta = TriageMeta(
            triage_id="cache",
            engine="model",
            model=answer.model,
            prompt_version=self.prompt_version,
            fingerprint=prepared.fingerprint,
        )
        return TriageResult(**answer.card.model_dump(), meta=meta)

    def _result(
        self, prepared: Prepared, outcome: Outcome, source: str, started: float, memory: Memory,
        context: Context | None = None,
    ) -> TriageResult:
        context = context or outcome.context
        card = outcome.card
        meta = TriageMeta(
            triage_id=self._ids.next(),
            engine=outcome.engine,
            model=outcome.model,
            prompt_version=self.prompt_version if outcome.engine == "model" else HEURISTIC_PROMPT,
            cached=outcome.cached,
            degraded=outcome.degraded_reason is not None,
            degraded_reason=outcome.degraded_reason,
            # A person already decided this incident's labels: nothing left to review, unless their verdict
            # is below what the alert's own label asks for.
            needs_review=((card.confidence < self.settings.review_confidence or bool(outcome.review))
            and memory.precedent is None)
            or (memory.precedent is not None and memory.precedent.below_label is not None),
            latency_ms=round((self._monotonic() - started) * 1000, 3),
            cost_usd=round(outcome.cost_usd, 8),
            fingerprint=prepared.fingerprint,
            input_hash=prepared.input_hash,
            source=source,
            truncated=prepared.truncated,
            redactions=prepared.redactions,
            tokens_in=outcome.tokens_in,
            tokens_out=outcome.tokens_out,
            retries=outcome.retries,
            created_at=self._clock(),
            precedent=memory.precedent,
            similar=list(memory.similar),
            reading=prepared.reading,
            links=merge_links(prepared.links, context.links),
            runbook=context.runbook,
            changes=list(context.changes),
            tools=list(outcome.tools),
        )
        return TriageResult(**card.model_dump(), meta=meta)

    async def _finish_many(
        self, done: Sequence[tuple[TriageResult, Prepared, Outcome]], count_after: bool = False
    ) -> DatabaseUnavailable | None:
        """The records of a group in one transaction (group commit), then their metrics and log lines (at the
        loop's next turn with `count_after`); the outage that kept them from being recorded, if any."""
        if not done:
            return None
        entries = []
        for result, prepared, outcome in done:
            cache = None
            if outcome.cache_entry is not None:
                cache = (*outcome.cache_entry, self.settings.cache_ttl)
            entries.append(TriageRecord(result, prepared.text, outcome_label(result), outcome.error, cache))
        first = done[0][0].meta.triage_id
        store = self.store
        # Templates due to be saved go in the same trip to the store as the records, after them.
        templates = self.identity.due()
        keep = self.identity.keep

        def write() -> Exception | None:
            if len(entries) == 1:
                entry = entries[0]
                store.record_triage(entry.result, entry.text, outcome=entry.outcome, error=entry.error,
                                    cache=entry.cache)
            else:
                store.record_triages(entries)
            if templates is not None:
                try:
                    store.save_templates(templates, keep)
                except Exception as exc:  # the triages are recorded: a template problem is not theirs
                    return exc
            return None

        saved = templates is None
        try:
            # The metrics and log lines come after the write, not beside it: both hold the interpreter, and
            # the write would wait for them.
            unsaved = await store.run(write)
            saved = unsaved is None
        except DatabaseUnavailable as exc:
            self.metrics.errors.labels("store").inc()
            log.warning("triage_not_recorded", triage_id=first, count=len(entries), reason=exc.reason)
            return exc
        except Exception:  # a full disk must not turn a good card into an error for the caller
            self.metrics.errors.labels("store").inc()
            log.exception("triage_not_recorded", triage_id=first, count=len(entries))
            unsaved = None
        finally:
            if not saved:  # taken as saved, but not in the store: they go with the next write
                self.identity.put_back(templates)
            results = [result for result, _, _ in done]
            if count_after:
                asyncio.get_running_loop().call_soon(self._count, results)
            else:
                self._count(results)
        if unsaved is not None:
            self.metrics.errors.labels("store").inc()
            log.error("identity_templates_not_saved", exc_info=unsaved)
        for result, _, _ in done:
            for use in result.meta.tools:
                try:  # the audit trail of what the model looked up for this card
                    await self.store.run(
                        self.store.record_tool_call, result.meta.triage_id, use.model_dump(), result.meta.created_at
                    )
                except Exception:
                    self.metrics.errors.labels("store").inc()
                    log.exception("tool_call_not_recorded", triage_id=result.meta.triage_id)
        return None

    def _count(self, results: Sequence[TriageResult]) -> None:
        """The metrics and log lines of triages that are over."""
        for result in results:
            self._observe(result)
            for use in result.meta.tools:
                self.metrics.tool_calls.labels(use.server, use.tool, use.outcome).inc()

    def _observe(self, result: TriageResult) -> str:
        """Count and log one triage; its outcome label (ok, cached, degraded)."""
        meta = result.meta
        label = outcome_label(result)
        self.metrics.requests.labels(meta.engine, label).inc()
        self.metrics.latency.labels(meta.engine).observe(meta.latency_ms / 1000)
        log.info(
            "triage",
            triage_id=meta.triage_id,
            fingerprint=meta.fingerprint,
            source=meta.source,
            engine=meta.engine,
            model=meta.model,
            prompt_version=meta.prompt_version,
            category=result.category,
            severity=result.severity,
            confidence=result.confidence,
            latency_ms=meta.latency_ms,
            tokens_in=meta.tokens_in,
            tokens_out=meta.tokens_out,
            cost_usd=meta.cost_usd,
            retries=meta.retries,
            cached=meta.cached,
            outcome=label,
            degraded_reason=meta.degraded_reason,
            redactions=meta.redactions,
        )
        return label


def outcome_label(result: TriageResult) -> str:
    """How a triage ended, for its record and its metrics: cached, degraded or ok."""
    meta = result.meta
    return "cached" if meta.cached else "degraded" if meta.degraded else "ok"
