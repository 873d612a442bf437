"""Helpers every benchmark needs: free loopback ports, waiting for a server, percentiles, the model request."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from bot.triage.model import MAX_OUTPUT_TOKENS
from bot.triage.model import _response_format as response_format
from bot.triage.prompt import Prompt

QUIET: dict[str, Any] = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}


class Processes:
    """A benchmark's child processes: started from the repository root with it on PYTHONPATH, stopped on exit."""

    def __init__(self) -> None:
        self.root = Path(__file__).resolve().parents[1]
        self.env = {**os.environ, "PYTHONPATH": str(self.root)}
        self.procs: list[subprocess.Popen[Any]] = []

    def start(self, cmd: list[str], extra: dict[str, str] | None = None, **kw: Any) -> subprocess.Popen[Any]:
        proc = subprocess.Popen(cmd, env={**self.env, **(extra or {})}, cwd=self.root, **kw)
        self.procs.append(proc)
        return proc

    def fakes(self, latency: float) -> tuple[str, str]:
        """The fake Slack Web API and the fake model (answering after `latency` s): their base URLs."""
        slack = self.start([sys.executable, "-m", "tests.fakes.slack"], stdout=subprocess.PIPE, text=True)
        model = self.start([sys.executable, "-m", "tests.fakes.openai_server", "--latency", str(latency)],
                           stdout=subprocess.PIPE, text=True)
        assert slack.stdout is not None and model.stdout is not None
        return slack.stdout.readline().strip(), model.stdout.readline().strip()

    def __enter__(self) -> Processes:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
        for proc in self.procs:
            proc.wait(10)


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
