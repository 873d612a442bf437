"""Normalisation, truncation and secret redaction."""

from __future__ import annotations

import pytest

from bot.redaction import redact
from bot.triage.errors import InputError, InputTooLarge
from bot.triage.normalize import HARD_LIMIT_CHARS, normalize


@pytest.mark.parametrize("raw", ["", "   ", "\n\t\n", b"", "\x00\x01"])
def test_empty_input_is_rejected_with_a_clear_message(raw: str | bytes) -> None:
    with pytest.raises(InputError, match="empty"):
        normalize(raw, 1000)


def test_bad_utf8_is_decoded_safely() -> None:
    norm = normalize(b"disk \xff\xfe full on node-1", 1000)
    assert norm.text == "disk \ufffd\ufffd full on node-1"


def test_lone_surrogates_do_not_break_encoding() -> None:
    assert normalize("alert \ud800 fired", 1000).text.encode("utf-8")


def test_line_endings_control_chars_and_blank_runs_are_cleaned() -> None:
    norm = normalize("a\r\nb\x07\n\n\n\n\nc   \n", 1000)
    assert norm.text == "a\nb\n\nc"
    assert not norm.truncated


def test_huge_input_keeps_head_and_tail_and_says_so() -> None:
    text = "HEAD " + "x" * 50_000 + " TAIL"
    norm = normalize(text, 2000)
    assert norm.truncated and norm.original_chars == len(text)
    assert len(norm.text) <= 2000
    assert norm.text.startswith("HEAD ") and norm.text.endswith(" TAIL")
    assert "characters truncated" in norm.text


def test_absurdly_large_input_is_refused() -> None:
    with pytest.raises(InputTooLarge):
        normalize("x" * (HARD_LIMIT_CHARS + 1), 1000)


SECRETS = {
    "aws_access_key": "AKIAIOSFODNN7EXAMPLE",
    "bearer_token": "Authorization: Bearer abcDEF123456ghiJKL789",
    "url_password": "postgres://app:hunter2secret@db.internal:5432/billing",
    "key_value": "password=Sup3rS3cret!",
    "private_key": "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "slack_token": "xoxb-1234567890-0987654321-AbCdEfGhIjKl",
    "openai_key": "sk-proj-abcdefghijklmnopqrstuvwxyz0123",
}
SECRET_VALUES = [
    "AKIAIOSFODNN7EXAMPLE", "abcDEF123456ghiJKL789", "hunter2secret", "Sup3rS3cret!", "MIIEpAIBAAKCAQEA",
    "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "xoxb-1234567890", "sk-proj-abcdefghij",
]


@pytest.mark.parametrize("kind", sorted(SECRETS))
def test_each_kind_of_secret_is_masked_and_named(kind: str) -> None:
    text, kinds = redact(f"error while connecting: {SECRETS[kind]} (retrying)")
    assert kind in kinds
    assert f"[REDACTED:{kind}]" in text
    assert not any(value in text for value in SECRET_VALUES)
