"""One typed Settings object, read once from the environment (tests pass their own)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator

# USD per one million tokens: (input, output). Overridable with TRIAGE_PRICES (JSON).
DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1": (2.00, 8.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5": (1.25, 10.00),
}

# env name -> (field name, parser)
_ENV: dict[str, str] = {
    "TRIAGE_DB": "db_path",
    "TRIAGE_DATABASE_URL": "database_url",
    "TRIAGE_REPLICA_LEASE": "replica_lease",
    "TRIAGE_DATABASE_POOL": "database_pool",
    "TRIAGE_DATABASE_TIMEOUT": "database_timeout",
    "OPENAI_API_KEY": "openai_api_key",
    "OPENAI_BASE_URL": "openai_base_url",
    "TRIAGE_MODEL_FAST": "model_fast",
    "TRIAGE_MODEL_STRONG": "model_strong",
    "TRIAGE_MODEL_TIMEOUT": "model_timeout",
    "TRIAGE_DEADLINE": "deadline",
    "TRIAGE_MODEL_ATTEMPTS": "model_attempts",
    "TRIAGE_MODEL_CONCURRENCY": "model_concurrency",
    "TRIAGE_DAILY_BUDGET_USD": "daily_budget_usd",
    "TRIAGE_PRICES": "prices",
    "TRIAGE_API_TOKEN": "api_token",
    "TRIAGE_CACHE_TTL": "cache_ttl",
    "TRIAGE_MAX_INPUT_CHARS": "max_input_chars",
    "TRIAGE_STRONG_INPUT_CHARS": "strong_input_chars",
    "TRIAGE_MIN_CONFIDENCE": "min_confidence",
    "TRIAGE_REVIEW_CONFIDENCE": "review_confidence",
    "TRIAGE_CIRCUIT_FAILURES": "circuit_failures",
    "TRIAGE_CIRCUIT_COOLDOWN": "circuit_cooldown",
    "TRIAGE_LOG_LEVEL": "log_level",
    "SLACK_BOT_TOKEN": "slack_bot_token",
    "SLACK_SIGNING_SECRET": "slack_signing_secret",
    "SLACK_APP_TOKEN": "slack_app_token",
    "SLACK_API_URL": "slack_api_url",
    "TRIAGE_ALERT_CHANNELS": "alert_channels",
    "TRIAGE_REVIEWER_GROUP": "reviewer_group",
    "TRIAGE_COALESCE_WINDOW": "coalesce_window",
    "TRIAGE_COUNTER_INTERVAL": "counter_interval",
    "TRIAGE_ALERTMANAGER_TOKEN": "alertmanager_token",
    "TRIAGE_ALERTMANAGER_CHANNEL": "alertmanager_channel",
    "TRIAGE_RETRY_INTERVAL": "retry_interval",
    "TRIAGE_SLACK_POST_INTERVAL": "slack_post_interval",
    "TRIAGE_RETENTION_DAYS": "retention_days",
    "TRIAGE_SHADOW_MODEL": "shadow_model",
    "TRIAGE_SHADOW_PROMPT": "shadow_prompt",
    "TRIAGE_SHADOW_RATE": "shadow_rate",
    "TRIAGE_SHADOW_BUDGET_SHARE": "shadow_budget_share",
    "TRIAGE_SHADOW_BASE_URL": "shadow_base_url",
    "TRIAGE_SHADOW_API_KEY": "shadow_api_key",
    "TRIAGE_RUNBOOKS": "runbooks",
    "TRIAGE_RUNBOOK_URL": "runbook_url",
    "TRIAGE_CHANGE_WINDOW": "change_window",
    "TRIAGE_MCP_CONFIG": "mcp_config",
    "TRIAGE_TOOL_CALLS": "tool_calls",
}


LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
# What the OpenAI client uses when no base URL is given.
OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
# Prefixes of the variables the gateway and its clients (openai, slack_sdk) read: for these an empty value
# means unset, so a copied .env.example with blank lines behaves like one without them.
ENV_PREFIXES = ("TRIAGE_", "OPENAI_", "SLACK_")


class ConfigError(ValueError):
    """An environment variable holds something the gateway cannot use."""


class Settings(BaseModel):
    """Everything the gateway can be told; defaults run locally with no keys at all."""

    db_path: str = "./triage.db"
    # postgresql://… : every replica shares this database instead of its own SQLite file
    database_url: str | None = None
    # Seconds without a heartbeat after which a replica counts as dead and its work is taken over.
    replica_lease: float = Field(default=10.0, gt=0)
    # PostgreSQL: connections in this process's pool (and store worker threads).
    database_pool: int = Field(default=8, ge=1, le=200)
    # Seconds to wait for a database connection, a lock or an answer before the database counts as down.
    database_timeout: float = Field(default=5.0, gt=0, le=120)

    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    model_fast: str = "gpt-4o-mini"
    model_strong: str = "gpt-4o"
    model_timeout: float = Field(default=20.0, gt=0)
    deadline: float = Field(default=45.0, gt=0)
    model_attempts: int = Field(default=3, ge=1, le=10)
    # Model calls in flight at once in this process; more wait their turn (a storm cannot fan out).
    model_concurrency: int = Field(default=8, ge=1)
    daily_budget_usd: float | None = Field(default=None, ge=0)
    # Share of the daily budget after which only the fast model is used.
    budget_fast_only_ratio: float = 0.8
    prices: dict[str, tuple[float, float]] = Field(default_factory=lambda: dict(DEFAULT_PRICES))

    api_token: SecretStr | None = None
    cache_ttl: float = Field(default=24 * 3600, ge=0)
    max_input_chars: int = Field(default=16_000, ge=200)
    strong_input_chars: int = Field(default=6_000, ge=1)
    min_confidence: float = Field(default=0.6, ge=0, le=1)
    review_confidence: float = Field(default=0.5, ge=0, le=1)
    circuit_failures: int = Field(default=5, ge=1)
    circuit_cooldown: float = Field(default=30.0, gt=0)
    log_level: str = "info"

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    alert_channels: list[str] = Field(default_factory=list)
    reviewer_group: str | None = None

    coalesce_window: float = Field(default=3600.0, ge=0)
    counter_interval: float = Field(default=10.0, ge=0)
    alertmanager_token: SecretStr | None = None
    alertmanager_channel: str | None = None
    retry_interval: float = Field(default=30.0, gt=0)
    # Slack allows about one message per second per channel; cards and counter updates are paced to it.
    slack_post_interval: float = Field(default=1.0, ge=0)
    # Triages, alerts, incidents and their feedback older than this are purged daily; 0 keeps everything.
    retention_days: float = Field(default=90.0, ge=0)

    # A candidate (another model and/or a prompt file) answering a sample of live triages in the background,
    # never shown; its answers are compared with the live cards and the people's verdicts (bot/shadow).
    shadow_model: str | None = None
    shadow_prompt: str | None = None
    shadow_rate: float = Field(default=0.1, ge=0, le=1)
    # The candidate's own share of TRIAGE_DAILY_BUDGET_USD, spent apart from the live triages' budget.
    shadow_budget_share: float = Field(default=0.1, ge=0, le=1)
    # The candidate on another OpenAI-compatible server (a self-hosted model beside a hosted one, say).
    shadow_base_url: str | None = None
    shadow_api_key: SecretStr | None = None

    # Context (bot/context): a folder of Markdown runbooks, the base URL they are published under, how far
    # back deploys and config changes count, the MCP servers the model may call and how many calls it gets.
    runbooks: str | None = None
    runbook_url: str | None = None
    change_window: float = Field(default=7200.0, ge=0)
    mcp_config: str | None = None
    tool_calls: int = Field(default=3, ge=0, le=20)

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().lower()
        if level not in LOG_LEVELS:
            raise ValueError(f"unknown log level {value!r}; use one of {', '.join(LOG_LEVELS)}")
        return level

    @field_validator("openai_base_url", "slack_api_url", "shadow_base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value

    @field_validator("model_fast", "model_strong")
    @classmethod
    def _model_name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a model name cannot be blank")
        return value.strip()

    @property
    def model_enabled(self) -> bool:
        return bool(self.openai_api_key)

    @property
    def shadow_enabled(self) -> bool:
        return bool(self.shadow_model or self.shadow_prompt)

    @property
    def database_label(self) -> str:
        """Where the store lives, safe to print (no password)."""
        if not self.database_url:
            return f"{self.db_path} (SQLite)"
        return f"{_without_password(self.database_url)} (PostgreSQL)"

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token and self.slack_signing_secret)

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> Settings:
        """Settings from environment variables; ConfigError names the variable that is wrong."""
        values: dict[str, Any] = {}
        fields = {field: env_name for env_name, field in _ENV.items()}
        for env_name, field in _ENV.items():
            raw = environ.get(env_name)
            if raw is None or raw.strip() == "":
                continue
            try:
                values[field] = _parse(field, raw.strip())
            except (ValueError, TypeError, IndexError, AttributeError) as exc:
                raise ConfigError(f"{env_name}: {exc}") from exc
        values.update(overrides)
        try:
            return cls(**values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{fields.get(str(e['loc'][0]), e['loc'][0]) if e['loc'] else 'settings'}: "
                + e["msg"].removeprefix("Value error, ")
                for e in exc.errors()
            )
            raise ConfigError(problems) from exc


def without_blanks(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment without the gateway's and its clients' variables that are set but blank."""
    return {
        name: value for name, value in environ.items()
        if not (name.startswith(ENV_PREFIXES) and value.strip() == "")
    }


def _parse(field: str, raw: str) -> Any:
    if field == "alert_channels":
        return [part.strip() for part in raw.split(",") if part.strip()]
    if field == "prices":
        table = json.loads(raw)
        merged = dict(DEFAULT_PRICES)
        merged.update({name: (float(p[0]), float(p[1])) for name, p in table.items()})
        return merged
    if field == "database_url":
        if not raw.startswith(("postgresql://", "postgres://")):
            raise ValueError("expected a postgresql:// URL (unset it to use the SQLite file of TRIAGE_DB)")
        return raw
    if field == "slack_api_url":
        return raw if raw.endswith("/") else raw + "/"
    return raw


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def reveal(value: SecretStr | None) -> str | None:
    """The plain value of a secret setting, for the one client that needs it; None when unset."""
    return value.get_secret_value() if value is not None else None
