"""Helpers every benchmark needs: free loopback ports, waiting for a server, percentiles, the model request."""

from __future__ import annotations

import socket
import time
from typing import Any

import httpx

from bot.triage.model import MAX_OUTPUT_TOKENS
from bot.triage.model import _response_format as response_format
from bot.triage.prompt import Prompt


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, timeout: float = 30.0) -> None:
    """Poll `url` until it answers below 500; exit the benchmark if it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise SystemExit(f"{url} did not start")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile; 0 for no values."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def model_request(prompt: Prompt, alert: str) -> dict[str, Any]:
    """Keyword arguments for chat.completions.create: the request the gateway sends the model for one alert."""
    return {
        "model": "gpt-4o-mini",
        "messages": prompt.messages(alert),
        "temperature": 0,
        "max_tokens": MAX_OUTPUT_TOKENS,
        "response_format": response_format("json_schema"),
    }
