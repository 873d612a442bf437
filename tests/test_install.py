"""A regular (non-editable) install works: the wheel is built from the shipped files, installed into a fresh
virtualenv, and serves cards with a model configured and without.

The fresh virtualenv borrows the dependencies of the development one through a `.pth` line (so the test runs
offline and in seconds) but holds its own copy of the gateway: only what the wheel ships can be imported.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.openai_server import VALID_CARD, FakeOpenAI

ROOT = Path(__file__).resolve().parents[1]
# What a Docker build or `pip install .` sees of the repository (see deploy/Dockerfile).
SHIPPED = ("pyproject.toml", "README.md", "LICENSE", "bot")
ALERT = "[FIRING:1] KubePodCrashLooping payments-api-0 is crash looping in prod"


class Installed:
    def __init__(self, venv: Path, work: Path, seconds: float) -> None:
        self.venv = venv
        self.work = work
        self.seconds = seconds

    @property
    def command(self) -> str:
        return str(self.venv / "bin" / "triage-bot")

    def env(self, **extra: str) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("TRIAGE_", "OPENAI_", "SLACK_"))}
        keep.pop("PYTHONPATH", None)
        return {**keep, "TRIAGE_DB": str(self.work / "triage.db"), **extra}

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.command, *args], cwd=self.work, env=self.env(**env), capture_output=True, text=True, timeout=60,
            check=False,
        )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    started = time.monotonic()
    base = tmp_path_factory.mktemp("install")
    source, dist, venv, work = base / "src", base / "dist", base / "venv", base / "work"
    source.mkdir()
    work.mkdir()
    for name in SHIPPED:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), str(source)],
                   check=True, capture_output=True, text=True, cwd=base)
    wheel = next(dist.glob("triage_gateway-*.whl"))
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([*pip, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)],
                   check=True, capture_output=True, text=True)
    # The dependencies come from the development environment, after the venv's own site-packages.
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, "_dev_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    yield Installed(venv, work, time.monotonic() - started)


def test_the_wheel_ships_the_prompts_and_rules_and_the_license(installed: Installed) -> None:
    code = (
        "import bot, importlib.metadata as m; from importlib import resources; "
        "print(bot.__file__); "
        "print(resources.files('bot').joinpath('prompts').joinpath('triage.md').is_file()); "
        "print(resources.files('bot.triage').joinpath('rules.toml').is_file()); "
        "print(m.metadata('triage-gateway')['License-Expression'])"
    )
    out = subprocess.run([str(installed.venv / "bin" / "python"), "-c", code], cwd=installed.work,
                         env=installed.env(), capture_output=True, text=True, check=True).stdout.split()
    assert out[0].startswith(str(installed.venv)), "the gateway must come from the wheel, not the source tree"
    assert out[1:] == ["True", "True", "Apache-2.0"]


def test_version_and_a_heuristic_card_without_a_model(installed: Installed) -> None:
    version = installed.run("--version")
    assert version.returncode == 0 and version.stdout.startswith("triage-bot ")
    answer = installed.run("triage", "--json", ALERT)
    assert answer.returncode == 0, answer.stderr
    card = json.loads(answer.stdout)
    assert card["meta"]["engine"] == "heuristic" and card["severity"] in ("P0", "P1", "P2", "P3")


def test_the_installed_server_answers_with_the_model(installed: Installed, fake_openai: FakeOpenAI) -> None:
    env = {"OPENAI_API_KEY": "test-key", "OPENAI_BASE_URL": fake_openai.base_url, "TRIAGE_LOG_LEVEL": "info"}
    with served(installed, env) as url:
        body = json.dumps({"text": ALERT}).encode()
        request = urllib.request.Request(f"{url}/v1/triage", body, {"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            card = json.loads(response.read())
        with urllib.request.urlopen(f"{url}/readyz", timeout=10) as response:
            ready = json.loads(response.read())
    assert card["meta"]["engine"] == "model", card["meta"]
    assert card["summary"] == VALID_CARD["summary"]
    assert fake_openai.calls >= 1
    assert ready["status"] == "ready"


def test_a_blank_base_url_from_a_copied_env_file_means_the_default(installed: Installed) -> None:
    # .env.example copied as it is: every variable present, most of them blank.
    blank = {name: "" for name in ("OPENAI_BASE_URL", "TRIAGE_DATABASE_URL", "TRIAGE_API_TOKEN", "TRIAGE_PRICES")}
    answer = installed.run("triage", "--json", ALERT, **blank)
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout)["meta"]["engine"] == "heuristic"


class served:
    """`triage-bot serve --port 0` from the installed wheel; the URL comes from its "listening on" event."""

    def __init__(self, installed: Installed, env: dict[str, str]) -> None:
        self.installed = installed
        self.env = env

    def __enter__(self) -> str:
        self.process = subprocess.Popen(
            [self.installed.command, "serve", "--port", "0"], cwd=self.installed.work,
            env=self.installed.env(**self.env), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        )
        assert self.process.stderr is not None
        self.lines: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            if not line:
                break
            self.lines.append(line)
            event = json.loads(line)  # every line on stderr is a JSON event
            if event["event"] == "listening on":
                return f"http://127.0.0.1:{event['port']}"
        self.process.kill()
        raise AssertionError("the server did not say where it listens:\n" + "".join(self.lines))

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=15)
        assert self.process.stderr is not None
        rest = self.process.stderr.read()
        for line in rest.splitlines():
            json.loads(line)  # shutdown logs are JSON too
        self.process.stderr.close()


def test_the_install_test_stays_quick(installed: Installed) -> None:
    print(f"wheel built and installed into a fresh virtualenv in {installed.seconds:.1f} s")
    assert installed.seconds < 60
