"""Credentials never leave the process: unit forms, eval sets untouched, linear time, and the real pipeline."""

from __future__ import annotations

import io
import json
import sqlite3

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import create_app
from bot.observability import configure_logging
from bot.redaction import redact
from tests.conftest import GatewayFactory
from tests.fakes.openai_server import FakeOpenAI
from tests.secret_forms import SECRET_FORMS, pieces
from tests.servers import serve
from tests.test_evals import EVALS

FORM_IDS = [name for name, _, _ in SECRET_FORMS]


@pytest.mark.parametrize(("name", "text", "secret"), SECRET_FORMS, ids=FORM_IDS)
def test_each_credential_form_is_masked_whole_and_its_kind_named(name: str, text: str, secret: str) -> None:
    masked, kinds = redact(text)
    assert kinds, name
    assert all(f"[REDACTED:{kind}]" in masked for kind in kinds)
    leaked = [piece for piece in pieces(secret) if piece in masked]
    assert not leaked, masked


def test_alert_texts_in_the_eval_sets_are_left_alone() -> None:
    touched = []
    # the on-call tuning set quotes leaked keys on purpose (a leaked credential is a security alert), and the fresh
    # batches are payloads as tools send them: SNS signatures, access key ids in findings
    quoting = ("oncall-dev.jsonl",)
    for path in sorted(path for path in EVALS.glob("*.jsonl")
                       if path.name not in quoting and "fresh-" not in path.name):
        for line in path.read_text(encoding="utf-8").splitlines():
            case = json.loads(line)
            if redact(case["text"])[1]:
                touched.append(case["id"])
    assert touched == []


@pytest.mark.parametrize(
    "text",
    [
        "Basic authentication failed for user=root; token expired; severity=critical instance=node-1:9100",
        "password: incorrect for user admin from 10.0.0.7",
        "PWD=/home/deploy OLDPWD=/ ran make",
        "session: closed by peer",
        "max_tokens=4096 reached",
        "Invalid token: expired",
        "the password is wrong",
        "auth-service-7d9f8b6c5-x2k4q is crash looping",
        "Accepted publickey for deploy from 10.1.2.3 port 51234 ssh2: RSA SHA256:Qm9yZXZlcg",
    ],
)
def test_ordinary_alert_wording_is_not_mistaken_for_a_secret(text: str) -> None:
    assert redact(text) == (text, [])


def test_redaction_keeps_the_key_name_for_context() -> None:
    text, _ = redact("api_key: 'abc123def456' client_secret=zzzzyyyy")
    assert "api_key: '[REDACTED:key_value]'" in text
    assert "client_secret=[REDACTED:key_value]" in text


def test_an_unterminated_private_key_is_masked_to_the_end() -> None:
    text, kinds = redact("dump:\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU\n[cut]")
    assert kinds == ["private_key"] and "b3BlbnNz" not in text


# --- properties: any text, huge text --------------------------------------------------------------
_SECRET = st.sampled_from(SECRET_FORMS)
_NOISE = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=200)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(before=_NOISE, form=_SECRET, after=_NOISE)
def test_a_credential_is_masked_whatever_surrounds_it(before: str, form: tuple[str, str, str], after: str) -> None:
    _, text, secret = form
    masked, kinds = redact(f"{before}\n{text}\n{after}")
    assert kinds
    assert secret not in masked


@settings(max_examples=200)
@given(_NOISE)
def test_redaction_never_fails_and_is_stable(text: str) -> None:
    once, _ = redact(text)
    assert redact(once)[0] == once


ADVERSARIAL = [
    " " * 1_000_000,
    "a" * 1_000_000,
    "a://" * 250_000,
    "password=" * 110_000,
    "-----BEGIN PRIVATE KEY-----" * 37_000,
    "eyJ" + "a" * 999_990,
    "mysql " * 160_000 + "x",
    "secret " * 140_000,
    "x://u:" + "@" * 999_990,
    "Cookie: " + "a=b; " * 199_000,
    ("token = " + "Ab1" * 20 + " ") * 14_000,
]


@pytest.mark.parametrize("text", ADVERSARIAL, ids=[f"{t[:12]!r}x{len(t)}" for t in ADVERSARIAL])
def test_a_megabyte_of_hostile_text_is_handled_in_linear_time(text: str) -> None:
    # every quantifier in the patterns is bounded: a quadratic pattern would take minutes here
    masked, _ = redact(text)
    assert isinstance(masked, str)


@settings(max_examples=5, deadline=None)
@given(st.sampled_from(["=", ":", " ", "@", "://", "-p", "--token ", '"', "eyJ", "AKIA", "\n", "sk-"]))
def test_a_megabyte_of_one_repeated_fragment_finishes(fragment: str) -> None:
    redact(fragment * (1_000_000 // len(fragment)))


# --- through the real pipeline ----------------------------------------------------------------------
def _database_dump(path: str) -> str:
    with sqlite3.connect(path) as conn:
        return "\n".join(conn.iterdump())


def test_no_credential_reaches_the_answer_the_model_the_database_or_the_log(
    fake_openai: FakeOpenAI, gateways: GatewayFactory
) -> None:
    stream = io.StringIO()
    configure_logging("debug", stream)
    gateway = gateways.build(fake_openai)
    answers: list[str] = []
    kinds: dict[str, list[str]] = {}
    try:
        with serve(create_app(gateway.settings, gateway.service)) as url:
            for name, text, _ in SECRET_FORMS:
                response = httpx.post(f"{url}/v1/triage", json={"text": text}, timeout=20)
                assert response.status_code == 200, response.text
                answers.append(response.text)
                kinds[name] = response.json()["meta"]["redactions"]
    finally:
        configure_logging("info")
    assert fake_openai.calls >= len(SECRET_FORMS)
    sent = "\n".join(request["raw"] for request in fake_openai.requests)
    places = {
        "answer": "\n".join(answers),
        "model request": sent,
        "database": _database_dump(gateway.settings.db_path),
        "log": stream.getvalue(),
    }
    assert "[REDACTED:" in places["model request"] and "[REDACTED:" in places["database"]
    for name, _, secret in SECRET_FORMS:
        assert kinds[name], name
        for place, content in places.items():
            leaked = [piece for piece in pieces(secret) if piece in content]
            assert not leaked, f"{name}: {leaked[:1]} in the {place}"
