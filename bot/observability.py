"""Logs (structlog, JSON lines) and Prometheus metrics on a registry of the caller's."""

from __future__ import annotations

import logging
import platform
import sys
from importlib import metadata
from typing import TextIO

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

CIRCUIT_VALUES = {"closed": 0, "half_open": 1, "open": 2}
DISTRIBUTION = "triage-gateway"


def version() -> str:
    """The installed version of the gateway (from the package metadata)."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


def build_info() -> dict[str, str]:
    return {"version": version(), "python": platform.python_version()}


def configure_logging(level: str = "info", stream: TextIO | None = None) -> None:
    """One JSON object per line on stderr (or `stream`)."""
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stderr),
        cache_logger_on_first_use=False,
    )
    _route_stdlib_logging(numeric, stream or sys.stderr)


class _JSONHandler(logging.StreamHandler):
    """Marks the handler this module installs, so configuring again replaces it and nothing else."""


def _route_stdlib_logging(level: int, stream: TextIO) -> None:
    """uvicorn, Bolt, slack_sdk and APScheduler log through the stdlib: give them the same JSON lines."""
    handler = _JSONHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.stdlib.add_logger_name,
                structlog.stdlib.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _JSONHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    # Libraries log each HTTP request and job run at INFO: only their warnings, unless debugging.
    root.setLevel(level if level <= logging.DEBUG else max(level, logging.WARNING))


class Metrics:
    """Every metric the gateway exposes, registered on one registry (a fresh one per test)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.http_requests = Counter(
            "triage_http_requests", "HTTP requests by method, route template and status",
            ["method", "route", "status"], registry=r,
        )
        self.http_latency = Histogram(
            "triage_http_request_duration_seconds", "HTTP request duration by method and route template",
            ["method", "route"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.build = Info("triage_build", "The running gateway: version and Python", registry=r)
        self.build.info(build_info())
        self.database_up = Gauge("triage_database_up", "1 while the database answers, 0 while it is down",
                                 registry=r)
        self.database_up.set(1)
        self.requests = Counter(
            "triage_requests", "Triages by engine and outcome", ["engine", "outcome"], registry=r
        )
        self.model_latency = Histogram(
            "triage_model_latency_seconds",
            "Latency of model answers",
            ["model"],
            buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60),
            registry=r,
        )
        self.model_calls = Counter("triage_model_calls", "Model calls by outcome", ["model", "outcome"], registry=r)
        self.retries = Counter("triage_model_retries", "Model call retries", ["model", "kind"], registry=r)
        self.errors = Counter("triage_errors", "Errors by kind", ["kind"], registry=r)
        self.cache_hits = Counter("triage_cache_hits", "Results served from the idempotency cache", registry=r)
        self.circuit = Gauge("triage_circuit_state", "Model circuit: 0 closed, 1 half-open, 2 open", registry=r)
        self.cost = Counter("triage_cost_usd", "Estimated model spend in USD", ["model"], registry=r)
        self.tokens = Counter("triage_tokens", "Tokens used", ["model", "direction"], registry=r)
        self.tool_calls = Counter("triage_tool_calls", "Tool calls the model made, by outcome",
                                  ["server", "tool", "outcome"], registry=r)
        self.alerts = Counter("triage_alerts", "Alerts taken in by the intake, by what became of them", ["outcome"],
                              registry=r)
        self.slack_writes = Counter("triage_slack_writes", "Cards posted and redrawn by the card pump",
                                    ["kind", "outcome"], registry=r)
        self.queue_depth = Gauge("triage_queue_depth", "Unfinished work waiting in the store",
                                 ["queue", "state"], registry=r)
        self.queue_oldest = Gauge("triage_queue_oldest_seconds", "Age of the oldest unfinished entry",
                                  ["queue", "state"], registry=r)
        self.latency = Histogram(
            "triage_latency_seconds",
            "End-to-end triage latency",
            ["engine"],
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
            registry=r,
        )

    def set_queues(self, stats: list[tuple[str, str, int, float | None]], now: float) -> None:
        """Queue depth and age of the oldest entry per queue and state, from the store's queue_stats."""
        self.queue_depth.clear()
        self.queue_oldest.clear()
        for queue, state, rows, oldest in stats:
            self.queue_depth.labels(queue, state).set(rows)
            self.queue_oldest.labels(queue, state).set(max(0.0, now - oldest) if oldest is not None else 0.0)

    def set_database(self, up: bool) -> None:
        self.database_up.set(1 if up else 0)

    def set_circuit(self, state: str) -> None:
        self.circuit.set(CIRCUIT_VALUES.get(state, 0))
