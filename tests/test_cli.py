"""The triage-bot command as a user runs it: a real process, real files."""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from bot.cli import is_loopback, parser
from tests.fakes.openai_server import FakeOpenAI


def run(args: list[str], tmp_path: Path, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SLACK_", "TRIAGE_"))}
    environ.update({"TRIAGE_DB": str(tmp_path / "cli.db"), **env})
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args], input=stdin, capture_output=True, text=True, env=environ,
        timeout=60, check=False,
    )


def test_triage_prints_a_readable_card(tmp_path: Path) -> None:
    done = run(["triage", "FATAL: the database system is shutting down"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "1. " in done.stdout and "engine: heuristic" in done.stdout and "triage id:" in done.stdout


def test_triage_json_reads_stdin_and_matches_the_api_shape(tmp_path: Path) -> None:
    done = run(["triage", "--json"], tmp_path, stdin="OOMKilled: container api exceeded its memory limit\n")
    body = json.loads(done.stdout)
    assert set(body) == {"category", "severity", "summary", "steps", "confidence", "meta"}
    assert body["meta"]["source"] == "cli"


def test_triage_uses_the_model_when_configured(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    done = run(["triage", "--json", "disk full"], tmp_path, OPENAI_API_KEY="k", OPENAI_BASE_URL=fake_openai.base_url)
    assert json.loads(done.stdout)["meta"]["engine"] == "model" and fake_openai.calls == 1


def test_empty_input_is_a_clear_error(tmp_path: Path) -> None:
    done = run(["triage"], tmp_path, stdin="  \n")
    assert done.returncode == 2 and "empty" in done.stderr


def test_jsonl_keeps_order_and_turns_bad_lines_into_error_lines(tmp_path: Path) -> None:
    lines = [
        json.dumps({"id": "a", "text": "Redis down on cache-1"}),
        "{broken",
        json.dumps({"id": "c", "text": ""}),
        json.dumps({"id": 4, "text": "SSL certificate expires in 3 days"}),
    ]
    done = run(["triage", "--jsonl"], tmp_path, stdin="\n".join(lines) + "\n")
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert [o.get("id") for o in out] == ["a", None, "c", 4]
    assert "error" in out[1] and out[1]["line"] == 2 and "empty" in out[2]["error"]
    assert out[0]["meta"]["engine"] == "heuristic" and "severity" in out[3]
    assert done.returncode == 1


def test_serve_refuses_a_public_address_without_a_token(tmp_path: Path) -> None:
    done = run(["serve", "--host", "0.0.0.0", "--port", "0"], tmp_path)
    assert done.returncode == 2 and "TRIAGE_API_TOKEN" in done.stderr


def test_loopback_detection() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3")


def test_every_subcommand_is_documented_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    commands = next(a.choices for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name in commands:
        assert f"triage-bot {name}" in readme, name


def test_every_env_variable_is_documented() -> None:
    from bot.settings import _ENV

    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    example = (root / ".env.example").read_text()
    for name in _ENV:
        assert name in readme, name
        assert name in example, name


def test_bad_configuration_is_a_clear_error_naming_the_variable(tmp_path: Path) -> None:
    for env, name in ((dict(TRIAGE_MODEL_TIMEOUT="abc"), "TRIAGE_MODEL_TIMEOUT"),
                      (dict(TRIAGE_PRICES="{bad"), "TRIAGE_PRICES"),
                      (dict(TRIAGE_DB=str(tmp_path / "missing" / "x.db")), "TRIAGE_DB")):
        done = run(["triage", "disk full"], tmp_path, **env)
        assert done.returncode == 2 and name in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_report_refuses_a_database_that_does_not_exist(tmp_path: Path) -> None:
    done = run(["report"], tmp_path, TRIAGE_DB=str(tmp_path / "typo.db"))
    assert done.returncode == 2 and "no database" in done.stderr
    assert not (tmp_path / "typo.db").exists()


def test_jsonl_error_line_keeps_the_id(tmp_path: Path) -> None:
    done = run(["triage", "--jsonl"], tmp_path, stdin='{"id": "x"}\n')
    expected = {"id": "x", "line": 1, "error": 'each line must be a JSON object with a string "text"'}
    assert json.loads(done.stdout) == expected


def test_jsonl_gives_one_fingerprint_per_kind_of_line_and_keeps_it_across_runs(tmp_path: Path) -> None:
    users = ["alice", "bob", "carol", "dave", "erin"]
    lines = []
    for n in range(60):
        if n % 2:
            text = f"Dec 10 06:55:{n % 60:02d} gate sshd[{2400 + n}]: Accepted password for {users[n % 5]} from " \
                   f"10.0.{n}.7 port {40000 + n} ssh2"
        else:
            text = f"PacketResponder {n % 3} for block blk_{n * 7919} terminating"
        lines.append(json.dumps({"id": n, "text": text}))
    stdin = "\n".join(lines) + "\n"
    first = [json.loads(line) for line in run(["triage", "--jsonl"], tmp_path, stdin=stdin).stdout.splitlines()]
    assert [o["id"] for o in first] == list(range(60))
    prints: dict[int, set[str]] = {0: set(), 1: set()}
    for o in first:
        prints[o["id"] % 2].add(o["meta"]["fingerprint"])
    assert all(len(p) == 1 for p in prints.values()) and prints[0] != prints[1]
    # A second process learns nothing new: it reads the templates the first one stored.
    later = "Accepted password for zoe from 10.1.1.1 port 2 ssh2"
    again = json.loads(run(["triage", "--json", later], tmp_path).stdout)
    assert {again["meta"]["fingerprint"]} == prints[1]


def test_jsonl_in_groups_keeps_order_records_every_line_and_matches_single_triage(tmp_path: Path) -> None:
    texts = ["Redis down on cache-1", "SSL certificate expires in 3 days", "OOMKilled: container api exceeded",
             "FATAL: the database system is shutting down"]
    lines = []
    for n in range(300):  # more than two groups, with repeats and a bad line inside a group
        lines.append("{broken" if n == 150 else json.dumps({"id": n, "text": f"{texts[n % 4]} (host-{n % 7})"}))
    done = run(["triage", "--jsonl"], tmp_path, stdin="\n".join(lines) + "\n")
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert [o.get("id") for o in out] == [None if n == 150 else n for n in range(300)]
    assert out[150]["line"] == 151 and "error" in out[150] and done.returncode == 1
    with sqlite3.connect(tmp_path / "cli.db") as conn:
        recorded = {row[0] for row in conn.execute("select id from triages")}
    assert recorded == {o["meta"]["triage_id"] for o in out if "meta" in o} and len(recorded) == 299
    # Grouped work gives the card one triage gives, and the same identity for the same kind of line.
    (tmp_path / "alone").mkdir()
    alone = json.loads(run(["triage", "--json", json.loads(lines[7])["text"]], tmp_path / "alone").stdout)
    assert {k: out[7][k] for k in ("severity", "category", "summary", "steps")} == {
        k: alone[k] for k in ("severity", "category", "summary", "steps")
    }
    assert out[7]["meta"]["fingerprint"] == out[7 + 28]["meta"]["fingerprint"]


def test_jsonl_lines_are_ascii_json_whatever_the_text_holds(tmp_path: Path) -> None:
    text = "Disk full on café-node — 98 % used 😀 \"quoted\" back\\slash"
    done = run(["triage", "--jsonl"], tmp_path, stdin=json.dumps({"id": "ü", "text": text}) + "\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.isascii() and len(done.stdout.splitlines()) == 1
    line = json.loads(done.stdout)
    assert line["id"] == "ü" and set(line) == {"id", "category", "severity", "summary", "steps", "confidence", "meta"}
    with sqlite3.connect(tmp_path / "cli.db") as conn:
        stored = json.loads(conn.execute("select result from triages").fetchone()[0])
    assert {k: v for k, v in line.items() if k != "id"} == stored

