"""Hostile text: normalisation, redaction and fingerprints stay correct and linear on pathological input."""

from __future__ import annotations

import json
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.identity import fingerprint
from bot.identity.mask import canonical
from bot.redaction import redact
from bot.triage.errors import InputError
from bot.triage.front import prepare
from bot.triage.heuristics import analyse
from bot.triage.normalize import MAX_COMBINING_RUN, normalize, strip_escapes

MB = 1_000_000
CAP = 16_000

# What a sender can put in front of the gateway in one megabyte (the figures behind benchmarks/hostile.py).
PATHOLOGICAL = {
    "tabs then a word": "\t" * MB + "disk full",
    "spaces then a word": " " * MB + "disk full",
    "a word, spaces, a word": "disk" + " " * MB + "full",
    "blank lines": "disk\n" + "\n \t" * (MB // 3) + "full",
    "hyphenated run": "a-" * (MB // 2),
    "dotted run": "a." * (MB // 2),
    "jwt-like run": "eyJ-" * (MB // 4),
    "nested brackets": "[" * (MB // 2) + "]" * (MB // 2),
    "deep json": '{"a":' * (MB // 5) + "1" + "}" * (MB // 5),
    "numbers": "1." * (MB // 2) + "x",
    "stacked accents": "a" + "\u0301\u0316" * (MB // 2),
    "carriage returns": "\r" * MB + "x",
}


@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
def test_a_megabyte_of_pathological_text_is_cut_to_the_cap_and_keeps_its_ends(name: str) -> None:
    raw = PATHOLOGICAL[name]
    prepared = prepare(raw, CAP)
    assert 0 < len(prepared.text) <= CAP
    assert prepared.fingerprint and prepared.prescreen.steps
    assert unicodedata.normalize("NFD", prepared.text)[0] == raw.strip()[0]


def test_blank_padding_around_a_word_leaves_the_word() -> None:
    norm = normalize("\t" * MB + "disk full on node-1" + " \n" * (MB // 4), CAP)
    assert norm.text == "disk full on node-1"


def test_words_on_both_sides_of_a_huge_blank_run_are_kept_and_the_cut_is_marked() -> None:
    norm = normalize("disk" + " " * MB + "full", CAP)
    assert norm.truncated and norm.original_chars == MB + 8
    assert norm.text.startswith("disk") and norm.text.endswith("full")
    assert "characters truncated" in norm.text


def test_a_megabyte_of_blanks_is_empty() -> None:
    with pytest.raises(InputError, match="empty"):
        normalize(" \t\n\r" * (MB // 4), CAP)


def test_stacked_combining_marks_are_capped() -> None:
    text = normalize("e" + "\u0301\u0316" * 500, CAP).text
    assert sum(1 for c in unicodedata.normalize("NFD", text) if unicodedata.combining(c)) == MAX_COMBINING_RUN
    # Ordinary accents are untouched (and composed).
    assert normalize("cafe\u0301 down", CAP).text == "café down"


def test_a_deeply_nested_json_body_is_just_text() -> None:
    raw = json.dumps({"text": "x"})[:-1] + "," + '"a":[' * 10_000 + "]" * 10_000 + "}"
    assert prepare(raw, CAP).text


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(" \t\r\n\x00\x07\x1b\u0301\u200b-.a1[]{}\"é"), max_size=3000),
       st.integers(min_value=200, max_value=2000))
def test_normalised_text_is_clean_bounded_and_stable(raw: str, cap: int) -> None:
    try:
        norm = normalize(raw, cap)
    except InputError:
        # nothing but blanks, control characters and terminal escape sequences
        assert not strip_escapes(raw).strip(" \t\r\n\x00\x07\x1b\u200b") or not normalize(raw * 2, cap * 4).text
        return
    text = norm.text
    assert len(text) <= cap
    assert text == text.strip()
    assert "\n\n\n" not in text and "\t" not in text and "\r" not in text
    assert not any(line.endswith(" ") for line in text.split("\n"))
    assert not any(ord(c) < 32 and c != "\n" for c in text)
    assert normalize(text, cap).text == text


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=2000), st.integers(min_value=100, max_value=5000))
def test_any_text_normalises_or_is_refused_as_empty(raw: str, cap: int) -> None:
    try:
        norm = normalize(raw, cap)
    except InputError:
        return
    assert norm.text and len(norm.text) <= cap
    norm.text.encode("utf-8")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab0-.:/@=eyJ xZ_"), max_size=2000))
def test_redaction_and_fingerprints_accept_any_text(raw: str) -> None:
    text, kinds = redact(raw)
    assert kinds == sorted(kinds)
    assert fingerprint(text) == fingerprint(text)
    assert len(fingerprint(raw)) == 16


def test_pod_names_still_lose_their_hashes() -> None:
    assert canonical("payments-api-7d9f8b6c5d-x2k4p restarted") == "<*> restarted"
    assert fingerprint("api-7d9f8b6c5d-x2k4p down") == fingerprint("api-5c6b7a8d9e-q9w8e down")


def test_tokens_after_separators_are_still_redacted() -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    for before in ("token:", "(", " ", "\n", '"'):
        text, kinds = redact(f"x{before}{jwt}")
        assert "jwt" in kinds and jwt not in text
    text, kinds = redact("dsn=(postgres://app:hunter2@db:5432/x)")
    assert "hunter2" not in text


def test_the_rules_read_a_word_before_a_huge_blank_run_in_one_pass() -> None:
    # The rules also see text that did not come through normalisation (eval cases, library callers): a
    # pattern retried from every blank of a run would make this take minutes instead of a blink.
    small = analyse("disk (instance db-1) " + " " * 2_000 + "full")
    big = analyse("disk (instance db-1) " + " " * 1_000_000 + "full")
    assert big.category == small.category and big.severity == small.severity
