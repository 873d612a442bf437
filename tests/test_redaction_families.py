"""Property tests: generated credentials of each family, embedded in generated logs, never survive redaction."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from urllib.parse import quote, urlencode

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.redaction import redact
from bot.triage.front import redacted_text

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
WORDS = ("connection", "timeout", "retrying", "worker", "started", "request", "upstream", "failed", "pod",
         "node", "cache", "db", "latency", "ok", "GET", "POST", "/api/v1/items", "status=500", "user=alice")
PROSE = {
    "de": ["Das Passwort ist {pw}", "Das Kennwort für den Admin lautet {pw}", "Passwort: {pw}"],
    "fr": ["le mot de passe est {pw}", "Mot de passe : {pw}"],
    "es": ["la contraseña es {pw}", "contraseña: {pw}"],
    "pt": ["a senha é {pw}"],
    "nl": ["het wachtwoord is {pw}"],
    "sv": ["lösenordet är {pw}", "lösenord: {pw}"],
    "pl": ["hasło: {pw}"],
    "it": ["la password è {pw}"],
    "en": ["the password is {pw}", "password was changed to {pw}", "pw: {pw}", "PW={pw}", "user/pw: bob/{pw}"],
}

FAST = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))

password = st.text(
    alphabet="abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789!#$%*-_", min_size=10, max_size=24
).filter(lambda s: any(c.isdigit() for c in s) and any(c.isalpha() for c in s))
b64_blob = st.text(alphabet=B64, min_size=40, max_size=300)
log_line = st.lists(st.sampled_from(WORDS), min_size=0, max_size=12).map(" ".join)
log_lines = st.lists(log_line, min_size=0, max_size=6).map("\n".join)


def embed(before: str, secret_text: str, after: str) -> str:
    return "\n".join(part for part in (before, secret_text, after) if part)


def chunks(secret: str, size: int = 12) -> list[str]:
    """Pieces of a secret long enough to matter: none of them may survive."""
    return [secret[i : i + size] for i in range(0, max(len(secret) - size + 1, 1), size)]


def assert_hidden(text: str, secret: str, size: int = 12) -> None:
    out, kinds = redact(text)
    for piece in chunks(secret, size):
        assert piece not in out, (piece, out)
    assert kinds


@FAST
@given(before=log_lines, after=log_lines, key=b64_blob, indent=st.integers(0, 8))
# base64 whose "/" makes it look like a path of long, unreadable names
@example(before="", after="", key="/" + "0" * 32 + "/000000", indent=0)
def test_kubeconfig_client_key_data(before: str, after: str, key: str, indent: int) -> None:
    pad = " " * indent
    config = f"{pad}users:\n{pad}- name: admin\n{pad}  user:\n{pad}    client-key-data: {key}\n{pad}    token: x"
    assert_hidden(embed(before, config, after), key)


@FAST
@given(
    before=log_lines, after=log_lines,
    entries=st.dictionaries(st.from_regex(r"[a-zA-Z][a-zA-Z0-9_.-]{0,20}", fullmatch=True), password,
                            min_size=1, max_size=5),
    as_json=st.booleans(), string_data=st.booleans(),
)
def test_kubernetes_secret_data(before: str, after: str, entries: dict[str, str], as_json: bool,
                                string_data: bool) -> None:
    field = "stringData" if string_data else "data"
    values = {k: v if string_data else base64.b64encode(v.encode()).decode() for k, v in entries.items()}
    if as_json:
        manifest = json.dumps({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, field: values})
    else:
        lines = "\n".join(f"  {k}: {v}" for k, v in values.items())
        manifest = f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n{field}:\n{lines}\ntype: Opaque"
    out, _ = redact(embed(before, manifest, after))
    for value in values.values():
        assert value not in out, out


@FAST
@given(before=log_lines, after=log_lines, lines=st.lists(st.text(alphabet=B64, min_size=20, max_size=64),
                                                          min_size=1, max_size=8),
       mac=st.text(alphabet="0123456789abcdef", min_size=40, max_size=64))
def test_putty_keys(before: str, after: str, lines: list[str], mac: str) -> None:
    body = "\n".join(lines)
    key = (f"PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: ops\nPublic-Lines: 1\n"
           f"AAAAC3NzaC1lZDI1NTE5AAAAIE\nPrivate-Lines: {len(lines)}\n{body}\nPrivate-MAC: {mac}")
    out, _ = redact(embed(before, key, after))
    assert mac not in out and all(line not in out for line in lines), out


def _segment(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@FAST
@given(before=log_lines, after=log_lines, claims=st.dictionaries(st.sampled_from(["sub", "name", "role", "tenant"]),
                                                                  st.text(min_size=1, max_size=30), min_size=1),
       signature=st.binary(min_size=32, max_size=64), width=st.integers(20, 80), indent=st.integers(0, 6),
       split_at_dots=st.booleans())
def test_jwt_split_across_lines(before: str, after: str, claims: dict[str, str], signature: bytes, width: int,
                                indent: int, split_at_dots: bool) -> None:
    token = ".".join((_segment(b'{"alg":"HS256","typ":"JWT"}'), _segment(json.dumps(claims).encode()),
                      _segment(signature)))
    if split_at_dots:
        head, payload, sig = token.split(".")
        wrapped = f"{head}\n{' ' * indent}.{payload}\n{' ' * indent}.{sig}"
    else:
        wrapped = ("\n" + " " * indent).join(token[i : i + width] for i in range(0, len(token), width))
    out, _ = redact(embed(before, f"Authorization header was: {wrapped}", after))
    assert token.split(".")[2][:16] not in out.replace("\n", "").replace(" ", ""), out
    assert token.split(".")[1][:16] not in out.replace("\n", "").replace(" ", ""), out


@FAST
@given(before=log_lines, after=log_lines, pw=password,
       key=st.sampled_from(["password", "passwd", "client_secret", "access_token", "api_key", "pwd", "pw"]),
       encode_json=st.booleans())
def test_url_encoded_form_bodies(before: str, after: str, pw: str, key: str, encode_json: bool) -> None:
    if encode_json:
        body = quote(json.dumps({"username": "bob", key: pw}), safe="")
    else:
        body = urlencode({"grant_type": "password", "username": "bob", key: pw, "scope": "read"})
    out, _ = redact(embed(before, f"POST /oauth/token body={body}", after))
    assert quote(pw, safe="") not in out and quote_plus_free(pw) not in out, out


def quote_plus_free(value: str) -> str:
    return quote(value, safe="").replace("%20", "+")


@FAST
@given(before=log_lines, pw=password,
       name=st.sampled_from(["password", "db_password", "pw", "passwd", "secret_key", "api_token", "auth_token",
                             "self.password", "smtp_pass"]),
       quote_char=st.sampled_from(["'", '"']))
def test_python_traceback_locals(before: str, pw: str, name: str, quote_char: str) -> None:
    trace = (f"Traceback (most recent call last):\n  File \"app/db.py\", line 42, in connect\n"
             f"    conn = driver.connect(host, user, {name.split('.')[-1]})\n"
             f"    {name} = {quote_char}{pw}{quote_char}\n    host = 'db-1'\n"
             f"ConnectionError: authentication failed")
    assert_hidden(embed(before, trace, ""), pw, size=len(pw))


@FAST
@given(before=log_lines, after=log_lines, pw=password, language=st.sampled_from(sorted(PROSE)), data=st.data())
def test_passwords_in_prose_of_several_languages(before: str, after: str, pw: str, language: str,
                                                 data: st.DataObject) -> None:
    template = data.draw(st.sampled_from(PROSE[language]))
    assert_hidden(embed(before, template.format(pw=pw) + ".", after), pw, size=len(pw))


@FAST
@given(before=log_lines, after=log_lines, body=st.text(alphabet=B64URL + "=", min_size=40, max_size=180),
       key=st.sampled_from(["JIRA_API_TOKEN=", "atlassian_token: ", "confluence token ", "\"api_token\": \"",
                            "Atlassian API token "]))
def test_atlassian_tokens(before: str, after: str, body: str, key: str) -> None:
    token = "ATATT3" + body
    assert_hidden(embed(before, key + token, after), token)


@FAST
@given(head=st.integers(2_000, 40_000), key_lines=st.lists(st.text(alphabet=B64, min_size=64, max_size=64),
                                                           min_size=30, max_size=60),
       tail=st.integers(0, 3_000), json_escaped=st.booleans())
def test_a_key_whose_begin_line_truncation_drops_is_still_masked(head: int, key_lines: list[str], tail: int,
                                                                 json_escaped: bool) -> None:
    newline = "\\n" if json_escaped else "\n"
    block = newline.join(["-----BEGIN RSA PRIVATE KEY-----", *key_lines, "-----END RSA PRIVATE KEY-----"])
    text = "x " * (head // 2) + "\n" + block + "\n" + "y " * (tail // 2) + "\nthe end"
    kept = redacted_text(text, 4_000).text
    assert all(line not in kept for line in key_lines), kept[-2000:]


def test_a_megabyte_of_blanks_and_of_key_lines_is_redacted_in_linear_time() -> None:
    for text in (" " * 1_000_000, ("A" * 64 + "\n") * 15_000 + "-----END RSA PRIVATE KEY-----",
                 ("eyJ" + "a" * 30 + "\n.") * 20_000, "data:\n" + "  k: v\n" * 100_000):
        started = time.monotonic()
        redact(text)
        assert time.monotonic() - started < 5.0


def test_credential_forms_written_independently_are_all_masked() -> None:
    """A batch of forms written by someone who never saw the rules (tests/fixtures/secrets_batch_a.jsonl)."""
    path = Path(__file__).parent / "fixtures" / "secrets_batch_a.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(rows) >= 40
    missed = []
    for row in rows:
        kept = redacted_text(row["text"], 16_000).text
        missed += [(row["id"], row["form"]) for secret in row["secrets"] if secret in kept]
    assert missed == []
