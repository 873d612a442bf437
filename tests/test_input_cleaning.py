"""Garbage in, honest card out: ANSI escapes, NUL and bidi controls cleaned; binary input reported."""

from __future__ import annotations

import contextlib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.triage.errors import InputError
from bot.triage.normalize import normalize, undecodable_share
from tests.conftest import GatewayFactory


def test_terminal_colours_and_cursor_codes_are_removed_whole() -> None:
    raw = "\x1b[1;31mERROR\x1b[0m \x1b]0;title\x07disk full on \x1b[Knode-1\x1b(B"
    assert normalize(raw, 1000).text == "ERROR disk full on node-1"


def test_nul_bytes_and_bidi_overrides_are_removed() -> None:
    raw = "pass\u200bword=hunter2xyz\x00 on \u202edb-1\u202c \ufeffis down"
    assert normalize(raw, 1000).text == "password=hunter2xyz on db-1 is down"


def test_runs_of_undecodable_bytes_become_one_marker_that_counts_them() -> None:
    text = normalize(b"core dump: " + bytes(range(0x80, 0xC0)) + b" end", 1000).text
    assert text == "core dump: [64 undecodable bytes] end"
    assert 0.5 < undecodable_share(text) < 1


def test_plain_text_has_no_undecodable_share() -> None:
    assert undecodable_share("PostgreSQL is down on pg-1") == 0.0


async def test_binary_input_is_reported_unknown_and_sent_to_review(gateways: GatewayFactory) -> None:
    noise = random.Random(7).randbytes(4000)
    result = await gateways.build().service.triage(noise + b" disk full postgres down P1")
    assert result.category == "unknown"
    assert result.meta.needs_review
    assert "binary or undecodable" in result.summary


async def test_a_secret_split_by_a_zero_width_space_is_still_masked(gateways: GatewayFactory) -> None:
    gateway = gateways.build()
    result = await gateway.service.triage("deploy log: DB_PASS\u200b=Pr0d#Db@Pass99 then crash on api-1")
    assert "Pr0d#Db@Pass99" not in result.model_dump_json()
    assert "key_value" in result.meta.redactions


@settings(max_examples=150)
@given(st.binary(max_size=2000))
def test_any_bytes_clean_to_valid_text_or_a_clear_refusal(raw: bytes) -> None:
    try:
        text = normalize(raw, 16000).text
    except InputError:
        return
    assert "\x1b" not in text and "\x00" not in text and "\u202e" not in text
    assert 0.0 <= undecodable_share(text) <= 1.0


@pytest.mark.parametrize(
    "raw",
    ["\x1b[" * 400_000, "\x1b]" + "x" * 999_990, "\ufffd" * 1_000_000, "\u202e\u200b" * 500_000],
    ids=["open-csi", "open-osc", "undecodable", "bidi"],
)
def test_a_megabyte_of_escapes_is_cleaned_in_linear_time(raw: str) -> None:
    with contextlib.suppress(InputError):
        normalize(raw, 16000)
