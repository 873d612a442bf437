"""Secret redaction: mask credentials before text leaves the process, reaches a log or is stored."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

# Every variable-length part of every pattern is bounded, so no pattern can backtrack more than a
# constant amount per position: redaction stays linear in the input, whatever the input.
_VALUE_MAX = 512


@dataclass(frozen=True)
class _Rule:
    kind: str
    pattern: re.Pattern[str]
    # cheap lowercase substrings; the pattern only runs when one of them occurs
    hints: tuple[str, ...] = ()
    # decides whether a matched value really is a secret (False: leave it)
    accept: Callable[[str], bool] | None = None
    # also run when the text holds a password word of another language (see _FOREIGN)
    foreign: bool = False


# Words that follow "password:" or "password is" in alerts without being a password.
_NOT_SECRET_WORDS = (
    "true false yes no on off null nil none ok okay success successful failed failure fail error errors "
    "enabled disabled required optional missing empty blank invalid valid expired incorrect correct wrong "
    "unknown unset set reset changed rotated redacted hidden masked the a an not too being still now same "
    "weak strong bad good fine leaked exposed compromised stored hardcoded hard-coded visible present "
    "absent available unavailable provided supplied accepted rejected denied granted ignored used "
    "authentication authorization auth token secret password expiring expires due old new current "
    "correctly incorrectly locked unlocked in at for to from of by with and or is was closed opened open "
    "started ended terminated established timeout timed lost active inactive pending refused reused "
    "renewed revoked generated created deleted updated found notfound mismatch unauthorized forbidden"
)
_NOT_SECRETS = frozenset(_NOT_SECRET_WORDS.split())
_NUMBER = re.compile(r"\d{1,5}")
_PATH = re.compile(r"/[\w./-]{0,255}")
_PATH_SEGMENT = 32
_PATH_NAME = 16
_PLACEHOLDER = re.compile(r"\$\{[^}]{1,64}\}|\$[A-Z_][A-Z0-9_]{0,63}|\*{3,}|x{3,}|<[^>]{1,64}>|\{\{[^}]{1,64}\}\}"
    r"|%\(\w{1,64}\)[sdr]|%[sdr]")


def _looks_secret(value: str) -> bool:
    """A value worth hiding: not a status word, a small number, a placeholder, a path or an earlier mask."""
    if value.startswith("[REDACTED") or value.casefold() in _NOT_SECRETS:
        return False
    # a path has a few segments or a short name, and names of a readable size; one long run between slashes
    # is base64 that happens to hold "/"
    segments = value.split("/")
    path = (
        _PATH.fullmatch(value) is not None
        and (value.count("/") > 1 or len(value) <= 24)
        and max(map(len, segments)) <= _PATH_SEGMENT
        # a long segment is a file or directory name only when it reads like one (a dot, dash or underscore)
        and (max(map(len, segments)) <= _PATH_NAME or any(c in segment for segment in segments for c in "._-"))
    )
    return not (_NUMBER.fullmatch(value) or _PLACEHOLDER.fullmatch(value) or path)


def _entropy(value: str) -> float:
    counts: dict[str, int] = {}
    for char in value:
        counts[char] = counts.get(char, 0) + 1
    size = len(value)
    return -sum(n / size * math.log2(n / size) for n in counts.values())


def _high_entropy(value: str) -> bool:
    """Random-looking: letters and digits mixed, and many distinct symbols for its length."""
    if not _looks_secret(value) or not any(c.isdigit() for c in value) or not any(c.isalpha() for c in value):
        return False
    hexadecimal = all(c in "0123456789abcdefABCDEF" for c in value)
    return _entropy(value) >= (3.0 if hexadecimal else 3.5)


def _quoted_or_bare(minimum: int = 1, tag: str = "") -> str:
    """A value: double-quoted, single-quoted, quoted with escaped quotes (JSON in a log), or bare.

    Group names end in 'q' for quoted values and 'b' for bare ones; `tag` keeps them unique.
    """
    return (
        rf'"(?P<v{tag}1q>[^"\n]{{{minimum},{_VALUE_MAX}}})"'
        rf"|'(?P<v{tag}2q>[^'\n]{{{minimum},{_VALUE_MAX}}})'"
        rf'|\\"(?P<v{tag}3q>[^"\\\n]{{{minimum},{_VALUE_MAX}}})\\"'
        rf"|(?P<v{tag}4b>[^\s\"'`<>\\]{{{minimum},{_VALUE_MAX}}})"
    )


# "Password" in the languages alerts and tickets are written in.
_FOREIGN_WORDS = (
    r"passwort|kennwort|mot de passe|mot-de-passe|mdp|contrase|clave|senha|wachtwoord|senord|passord|adgangskode"
    r"|salasana|hasło|haslo|heslo|parola|jelsz|пароль|密码|口令|パスワード|비밀번호"
)
_FOREIGN = re.compile(_FOREIGN_WORDS)
_PASSWORD_WORDS = (
    r"passwort|kennwort|mot de passe|mot-de-passe|mdp|contrase(?:ñ|n)a|clave|senha|wachtwoord|l(?:ö|o)senord"
    r"|passord|adgangskode|salasana|has(?:ł|l)o|heslo|parola|jelsz(?:ó|o)|пароль|密码|口令|パスワード|비밀번호"
)
_SECRET_WORD = (
    r"pass(?:word|wd|phrase|code)?|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key"
    r"|account[_-]?key|signing[_-]?key|encryption[_-]?key|master[_-]?key|auth|credentials?|session"
    r"|sessid|signature|sig|key[_-]data|client[_-]certificate[_-]data|(?<![A-Za-z])pw(?![A-Za-z])"
)
_KEY_SUFFIX = r"(?:[_.-]?(?:key|id|value|token|secret|string|b64|base64)){0,2}"

_RULES: tuple[_Rule, ...] = (
    _Rule(
    "jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,4096}\.[A-Za-z0-9_-]{8,4096}\.[A-Za-z0-9_-]{0,4096}"), ("eyj",)
    ),
    _Rule("slack_token", re.compile(r"\bx(?:ox[abposre]|app)-[A-Za-z0-9-]{10,256}"), ("xox", "xapp-")),
    _Rule(
    "slack_webhook",
        re.compile(r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]{1,256}"),
        ("hooks.slack",),
    ),
    _Rule(
    "aws_access_key",
        re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA)[0-9A-Z]{16}\b"),
        ("akia", "asia", "abia", "acca", "agpa", "aida", "aipa", "anpa", "anva", "apka", "aroa"),
    ),
    _Rule(
    "github_token",
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{30,255})"),
        ("gh", "github_pat_"),
    ),
    _Rule(
    "gitlab_token",
        re.compile(
            r"\b(?:gl(?:pat|dt|rt|ptt|soat|ft|imt|cbt|oas|agent)-[A-Za-z0-9_-]{20,255}|GR1348941[A-Za-z0-9_-]{20,64})"
        ),
        ("gl", "gr1348941"),
    ),
    _Rule(
    "stripe_key",
        re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{10,255}|\bwhsec_[A-Za-z0-9]{20,255}"),
        ("_live_", "_test_", "whsec_"),
    ),
    _Rule("sendgrid_key", re.compile(r"\bSG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{30,64}"), ("sg.",)),
    _Rule("twilio_key", re.compile(r"\b(?:SK|AC)[0-9a-fA-F]{32}\b"), ("sk", "ac")),
    _Rule(
    "google_api_key",
        re.compile(r"\bAIza[0-9A-Za-z_-]{30,40}|\bGOCSPX-[A-Za-z0-9_-]{20,64}|\bya29\.[A-Za-z0-9_-]{20,2048}"),
        ("aiza", "gocspx-", "ya29."),
    ),
    _Rule(
    "openai_key",
        re.compile(r"\bsk-(?:proj-|svcacct-|admin-|ant-(?:api|admin)\d\d-)?[A-Za-z0-9_-]{20,255}"),
        ("sk-",),
    ),
    _Rule("npm_token", re.compile(r"\bnpm_[A-Za-z0-9]{36}\b"), ("npm_",)),
    _Rule("pypi_token", re.compile(r"\bpypi-AgE[A-Za-z0-9_-]{40,512}"), ("pypi-",)),
    _Rule(
    "api_token",
        re.compile(
            r"\b(?:hvs\.[A-Za-z0-9_-]{24,255}|dop_v1_[a-f0-9]{64}|shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}"
            r"|hf_[A-Za-z0-9]{30,64}|glc_[A-Za-z0-9+/=_-]{32,400}|xkeysib-[a-f0-9]{64}-[A-Za-z0-9]{16}"
            r"|dapi[a-f0-9]{32}|AGE-SECRET-KEY-1[0-9A-Z]{58}"
            r"|AT(?:ATT|CTT|BB|OA)[A-Za-z0-9_=+/-]{20,400})"
        ),
        ("hvs.", "dop_v1_", "shp", "hf_", "glc_", "xkeysib-", "dapi", "age-secret-key-", "atatt", "atctt", "atbb",
         "atoa"),
    ),
    _Rule(
    "url_password",
        # user-info runs to the last '@' before the host, so a password may hold '@', ':' and '/'
        re.compile(
            r"\b[A-Za-z][A-Za-z0-9+.-]{0,20}://[^\s/@:'\"<>]{0,128}:(?P<vb>[^\s'\"<>]{1,256})@(?=[\w\[])"
        ),
        ("://",),
    ),
    _Rule(
    "bearer_token",
        re.compile(
            r"(?i)(?:\bauthorization\\?[\"']?[ \t]{0,5}[:=][ \t]{0,5}\\?[\"']?"
            r"(?:(?:bearer|basic|token|digest|negotiate|apikey|sso-key)[ \t]{1,5})?|\bbearer[ \t]{1,5})"
            r"(?P<vb>[A-Za-z0-9\-._~+/=:]{8,4096})"
        ),
        ("authorization", "bearer"),
    ),
    _Rule(
    "cookie",
        re.compile(r"(?i)\b(?:set-)?cookie\\?[\"']?[ \t]{0,5}:[ \t]{0,5}\\?[\"']?(?P<vq>[^\n\"\\]{1,4096})"),
        ("cookie",),
        _looks_secret,
    ),
    _Rule(
    "cli_password",
        re.compile(
            r"(?i)(?<![\w-])--?(?:[\w-]{0,30}[_-])?(?:password|passwd|pass|token|secret|api-?key|apikey"
            r"|auth-token|access-key|secret-key|private-key)(?:[ \t]{1,5}|=)(?:" + _quoted_or_bare() + ")"
        ),
        ("--", "-pass", "-token", "-secret", "-key"),
        lambda value: _looks_secret(value) and not value.startswith("-"),
    ),
    _Rule(
    "cli_password",
        re.compile(
            r"\b(?:mysql|mysqldump|mysqladmin|mysqlimport|mysqlcheck|mysqlsh|mariadb(?:-dump)?)\b[^\n]{0,200}?"
            r"(?<=\s)-p(?:" + _quoted_or_bare(tag="m") + ")"
            r"|\bsshpass[ \t]{1,5}-p[ \t]{0,5}(?:" + _quoted_or_bare(tag="s") + ")"
            r"|\bredis-cli\b[^\n]{0,200}?(?<=\s)-a[ \t]{1,5}(?:" + _quoted_or_bare(tag="r") + ")"
            r"|(?<![\w-])(?:-u|--user)[ \t]{1,5}['\"]?[^\s:'\"]{1,64}:(?P<vb>[^\s'\"]{1,256})"
        ),
        ("mysql", "mariadb", "sshpass", "redis-cli", "-u", "--user"),
        _looks_secret,
    ),
    _Rule(
    "key_value",
        re.compile(
            rf"(?i)(?:{_SECRET_WORD}){_KEY_SUFFIX}\\?[\"']?[ \t]{{0,5}}(?:=>|:=|[:=])[ \t]{{0,5}}"
            r"(?:" + _quoted_or_bare() + ")"
        ),
        ("pass", "pwd", "secret", "token", "key", "auth", "credential", "session", "sessid", "sig", "pw"),
        _looks_secret,
    ),
    _Rule(
    "key_value",
        # the same in other languages ("Passwort: …", "contraseña=…"): its own rule, so that the common
        # English case does not pay for every language at every position
        re.compile(
            rf"(?i)(?:{_PASSWORD_WORDS})\w{{0,4}}\\?[\"']?[ \t]{{0,5}}(?:=>|:=|[:=])[ \t]{{0,5}}"
            r"(?:" + _quoted_or_bare(tag="l") + ")"
        ),
        ("\x00",),
        _looks_secret,
        foreign=True,
    ),
    _Rule(
    "named_value",
        # a setting named by one field and valued by another: <add key="ApiSecret" value="...">,
        # {"name": "DB_PASSWORD", "value": "..."} (container env), <Environment name="x/apiKey" value="...">
        re.compile(
            rf"(?i)\b(?:name|key)[\"']?[ \t]{{0,3}}[=:][ \t]{{0,3}}[\"']?[^\"'\s<>{{}}]{{0,64}}(?:{_SECRET_WORD})"
            r"[^\"'\s<>{}]{0,64}[\"']?[^<>{}\n]{0,200}?\bvalue[\"']?[ \t]{0,3}[=:][ \t]{0,3}"
            r"(?:" + _quoted_or_bare() + ")"
        ),
        ("value=", "value\"", "value'", "value:", "value =", "value\\"),
        _looks_secret,
    ),
    _Rule(
    "form_value",
        # URL-encoded bodies and query strings: `password=x&...`, and encoded JSON (`%22password%22%3A%22x%22`)
        re.compile(
            rf"(?i)(?:{_SECRET_WORD}){_KEY_SUFFIX}(?:%22|%27)?(?:%3D|%3A)(?:%20|\+)*(?:%22|%27)?"
            r"(?P<vb>(?:[^&\s\"'<>%]|%(?!2[27]|26)[0-9A-Fa-f]{2}){1,512})"
        ),
        ("%3d", "%3a"),
        _looks_secret,
    ),
    _Rule(
    "prose_password",
        re.compile(
            # the word as inflected ("lösenordet", "adgangskoden", "Kennworts")
            r"(?i)\b(?:password|passwd|passphrase|passcode|pwd|secret|api key|token|" + _PASSWORD_WORDS + r")\w{0,4}\b"
            r"(?:[ \t]{1,3}(?:for|of|f(?:ü|u)r|von|de|du|pour|para|per|voor|för)"
            r"(?:[ \t]{1,3}[\w@.-]{1,64}){1,3})?[ \t]{1,3}"
            r"(?:(?:(?:is|was|has[ \t]{1,3}been|got)[ \t]{1,3})?(?:set|changed|reset|updated)[ \t]{1,3}to"
            r"|(?:is|ist|lautet|est|es|è|é|e|är|er|on|jest|je|era|war|was|était)(?:[ \t]{1,3}(?:now|jetzt|nun"
            r"|maintenant|ahora|agora|ora|nu))?|(?:ge(?:ä|a)ndert|gesetzt)"
            r"[ \t]{1,3}(?:auf|zu))[ \t]{1,3}:?[ \t]{0,3}(?:" + _quoted_or_bare(3) + ")"
        ),
        ("pass", "pwd", "secret", "api key", "token"),
        _looks_secret,
        foreign=True,
    ),
    _Rule(
    "prose_password",
        # a password word followed by the password itself, no verb between ("la contraseña xjE8G6…")
        re.compile(
            r"(?i)\b(?:password|passwort|kennwort|" + _PASSWORD_WORDS + r")\w{0,4}[ \t]{1,3}"
            r"(?P<vb>[A-Za-z0-9!#$%*_+/=.@-]{8,128})"
        ),
        ("password", "passwort"),
        lambda value: _looks_secret(value) and any(c.isdigit() for c in value) and any(c.isalpha() for c in value),
        foreign=True,
    ),
    _Rule(
    "high_entropy",
        re.compile(
            r"(?i)\b(?:secret|token|key|password|passwd|credentials?|apikey|auth|signature|leaked|exposed)\w{0,24}"
            r"(?:[ \t]{0,3}[:=][ \t]{0,3}|[ \t]{1,3})[\"']?(?:(?:is|was|of|for)[ \t]{1,3})?"
            r"(?P<vb>[A-Za-z0-9+/_=.-]{16,1024})"
        ),
        ("secret", "token", "key", "pass", "credential", "auth", "signature", "leaked", "exposed"),
        _high_entropy,
    ),
)

_PEM_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----")
_PEM_END = re.compile(r"-----END [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----")
# Key material: base64 lines (in a text, a JSON string with `\n` escapes, or a log that indents them), PEM
# headers, and a truncation marker that cut through the block.
_KEY_LINE = re.compile(
    r"(?:[ \t]{0,16}(?:[A-Za-z0-9+/=]{8,128}|[A-Za-z-]{1,32}: [^\n]{0,128}"
    r"|\[\.\.\. \d{1,12} characters truncated \.\.\.\])"
    r"[ \t]{0,4}(?:\r?\n|(?:\\r)?\\n))"
)
# A line of key material above an END line whose BEGIN line is not in the text (cut off, or never pasted).
_ORPHAN_LINE = re.compile(r"[^\n]{0,48}?[A-Za-z0-9+/=]{16,128}[ \t]{0,4}")
_ORPHAN_LINES = 256
_TRAILING = ".,;:!?)]}"


def _mask_private_keys(text: str) -> tuple[str, int]:
    """Mask every private-key block: BEGIN to END, a BEGIN whose END was cut (to the end of its key lines),
    and key lines that end in an END line whose BEGIN was cut."""
    if "PRIVATE KEY" not in text:
        return text, 0
    pieces: list[str] = []
    position = count = 0
    while (begin := _PEM_BEGIN.search(text, position)) is not None:
        pieces.append(text[position : begin.start()])
        pieces.append("[REDACTED:private_key]")
        count += 1
        position = _key_block_end(text, begin.end())
    pieces.append(text[position:])
    text = "".join(pieces)
    if "-----END" in text:
        text, orphans = _mask_orphan_keys(text)
        count += orphans
    return text, count


def _mask_orphan_keys(text: str) -> tuple[str, int]:
    """Key lines that end in an END line with no BEGIN above them: walked back from each END line, at most
    _ORPHAN_LINES lines each, never past the previous one (linear in the text)."""
    pieces: list[str] = []
    position = count = 0
    for end in _PEM_END.finditer(text):
        if end.start() < position:
            continue
        start = _line_start(text, end.start(), position)
        for _ in range(_ORPHAN_LINES):
            line = _previous_line(text, start, position)
            if line is None or not _ORPHAN_LINE.fullmatch(text, *line):
                break
            start = line[0]
        if start >= _line_start(text, end.start(), position):
            continue
        pieces.append(text[position:start])
        pieces.append("[REDACTED:private_key]")
        position = end.end()
        count += 1
    if not count:
        return text, 0
    pieces.append(text[position:])
    return "".join(pieces), count


def _line_start(text: str, at: int, floor: int) -> int:
    """`at` moved back over the blanks that indent its line."""
    while at > floor and text[at - 1] in " \t":
        at -= 1
    return at


def _previous_line(text: str, at: int, floor: int) -> tuple[int, int] | None:
    """(start, end) of the line before the one starting at `at`, split by a line break or a JSON `\\n`."""
    if text.endswith("\\n", floor, at):
        end = at - 2
    elif text.endswith("\n", floor, at):
        end = at - 1 - (1 if text.endswith("\r\n", floor, at) else 0)
    else:
        return None
    window = max(floor, end - 200)
    start = max(text.rfind("\n", window, end) + 1, text.rfind("\\n", window, end) + 2, window)
    if end - start > 192 or start < floor:
        return None
    return start, end


def _key_block_end(text: str, start: int) -> int:
    """Where the key that begins at `start` ends: after its END line, else after its last line of key material."""
    position = start
    # the rest of the BEGIN line (a line break or a JSON "\n")
    newline = re.compile(r"[ \t]{0,4}(?:\r?\n|(?:\\r)?\\n)").match(text, position)
    if newline:
        position = newline.end()
    while True:
        end = _PEM_END.match(text, position + len(text[position:]) - len(text[position:].lstrip(" \t")))
        if end is not None:
            return end.end()
        line = _KEY_LINE.match(text, position)
        if line is None:
            # no END line: the key runs to the end of its base64 (the last line may lack a line break)
            tail = re.compile(r"[ \t]{0,16}[A-Za-z0-9+/=]{8,128}").match(text, position)
            return tail.end() if tail else position
        position = line.end()


_JWT_START = re.compile(r"\beyJ[A-Za-z0-9_-]{8,4096}")
_B64URL_RUN = re.compile(r"[A-Za-z0-9_-]{1,4096}")
# What may sit between two pieces of a token wrapped over lines: a line break with indentation, a quote
# closing and reopening a string, a backslash continuation, a `+` of concatenation.
_WRAP = re.compile(r"(?:[\"']?[ \t]{0,8}[+\\]?[ \t]{0,8}(?:\r?\n|\\n)[ \t]{0,16}[+]?[ \t]{0,8}[\"']?)")
_JWT_MIN_WRAPPED_LINE = 20
_JWT_REST = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{8,4096}\.[A-Za-z0-9_-]{16,4096}")


def _mask_jwts(text: str) -> tuple[str, int]:
    """Mask JSON Web Tokens, also when wrapped over several lines or split around their dots."""
    if "eyJ" not in text:
        return text, 0
    pieces: list[str] = []
    position = count = 0
    for start in _JWT_START.finditer(text):
        if start.start() < position:
            continue
        end, dots, line = start.end(), 0, len(start.group())
        while True:
            here = end
            wrap = _WRAP.match(text, here)
            # A line break continues the token when the line was a full wrapped line or the next one starts
            # with the dot before the next segment.
            if wrap and wrap.end() > here and (line >= _JWT_MIN_WRAPPED_LINE or text.startswith(".", wrap.end())):
                here, line = wrap.end(), 0
            if text.startswith(".", here):
                dots += 1
                here += 1
                line += 1
                after = _WRAP.match(text, here)
                if after and after.end() > here:
                    here, line = after.end(), 0
            elif here == end:
                break
            run = _B64URL_RUN.match(text, here)
            if run is None:
                break
            wrapped_word = line == 0 and not text.startswith(".", here - 1)
            if wrapped_word and len(run.group()) < 16 and not text.startswith(".", run.end()):
                break  # the next line starts with a word, not with the rest of the token
            end, line = run.end(), line + len(run.group())
        if dots >= 2 or (dots == 1 and "eyJ" in text[start.end() : end]):
            pieces.append(text[position : start.start()])
            pieces.append("[REDACTED:jwt]")
            position = end
            count += 1
            if dots == 1:
                # Cut at the end of its line (a logger wrapping long lines under a new header): the rest of
                # the payload and the signature follow on the next line.
                rest = _JWT_REST.search(text, end, min(len(text), end + 400))
                if rest is not None and "\n" in text[end : rest.start()]:
                    pieces.append(text[position : rest.start()])
                    pieces.append("[REDACTED:jwt]")
                    position = rest.end()
    if not count:
        return text, 0
    pieces.append(text[position:])
    return "".join(pieces), count


_PUTTY = re.compile(
    r"(?i)(?:Private-Lines:[ \t]{0,4}\d{1,4}[ \t]{0,4}(?:\r?\n|(?:\\r)?\\n)"
    r"(?:[ \t]{0,16}[A-Za-z0-9+/=]{1,128}[ \t]{0,4}(?:\r?\n|(?:\\r)?\\n|$)){1,256}"
    r"|Private-(?:MAC|Hash):[ \t]{0,4}[0-9a-f]{16,128}|Argon2-Salt:[ \t]{0,4}[0-9a-f]{8,128})"
)

def _mask_putty(text: str) -> tuple[str, int]:
    """Mask a PuTTY key file's private lines and MAC (its public lines are not secret)."""
    if "Private-" not in text and "private-" not in text and "Argon2-Salt" not in text:
        return text, 0
    return _PUTTY.subn("[REDACTED:private_key]", text)


_K8S_SECRET_KIND = re.compile(r"(?i)[\"']?kind[\"']?[ \t]{0,4}:[ \t]{0,4}[\"']?Secret\b")
_YAML_DATA = re.compile(r"(?m)^([ \t]{0,32})(?:-[ \t]{1,4})?(?:data|stringData|binaryData):[ \t]{0,8}$")
_YAML_ENTRY = re.compile(r"([ \t]{1,64})([\w.-]{1,253}):[ \t]{0,8}(.{0,4096})")
_JSON_DATA = re.compile(r"[\"'](?:data|stringData|binaryData)[\"'][ \t]{0,8}:[ \t]{0,8}\{([^{}]{0,65536})\}")
_JSON_ENTRY = re.compile(r"(\\?[\"'][\w.-]{1,253}\\?[\"'][ \t]{0,8}:[ \t]{0,8}\\?[\"'])([^\"'\\]{1,8192})")
_BASE64_VALUE = re.compile(r"[A-Za-z0-9+/]{8,8192}={0,2}")


def _mask_secret_data(text: str) -> tuple[str, int]:
    """Mask the values of a Kubernetes Secret's `data` / `stringData` (YAML or JSON).

    With `kind: Secret` in the text every value goes; without it only base64 values (a Secret's data pasted
    on its own), so a ConfigMap's plain settings stay readable.
    """
    if "ata" not in text:
        return text, 0
    yaml_block = _YAML_DATA.search(text) is not None
    if not yaml_block and not ('"data"' in text or "'data'" in text or "Data\"" in text or "Data'" in text):
        return text, 0
    is_secret = _K8S_SECRET_KIND.search(text) is not None
    count = 0

    def hidden(value: str) -> bool:
        value = value.strip().strip("\"'")
        if not value or value in ("|", ">", "|-", ">-", "{}") or value.startswith("[REDACTED"):
            return False
        return is_secret or (_BASE64_VALUE.fullmatch(value) is not None and len(value) % 4 == 0)

    lines = text.split("\n") if yaml_block else []
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        out.append(line)
        index += 1
        header = _YAML_DATA.fullmatch(line)
        if header is None:
            continue
        depth = len(header.group(1).expandtabs())
        block_depth: int | None = None
        while index < len(lines):
            entry_line = lines[index]
            indent = len(entry_line) - len(entry_line.lstrip(" \t"))
            if entry_line.strip() and indent <= depth:
                break
            if block_depth is not None and (indent > block_depth or not entry_line.strip()):
                if entry_line.strip():
                    out.append(entry_line[:indent] + "[REDACTED:secret_data]")
                    count += 1
                else:
                    out.append(entry_line)
                index += 1
                continue
            entry = _YAML_ENTRY.fullmatch(entry_line)
            block_depth = None
            if entry is not None and entry.group(3).strip() in ("|", ">", "|-", ">-", "|+", ">+") and is_secret:
                block_depth = len(entry.group(1))
                out.append(entry_line)
            elif entry is not None and hidden(entry.group(3)):
                out.append(f"{entry.group(1)}{entry.group(2)}: [REDACTED:secret_data]")
                count += 1
            else:
                out.append(entry_line)
            index += 1
    if yaml_block:
        text = "\n".join(out)

    def json_block(match: re.Match[str]) -> str:
        nonlocal count

        def value(entry: re.Match[str]) -> str:
            nonlocal count
            if not hidden(entry.group(2)):
                return entry.group(0)
            count += 1
            return entry.group(1) + "[REDACTED:secret_data]"

        inner = _JSON_ENTRY.sub(value, match.group(1))
        return match.group(0)[: match.start(1) - match.start()] + inner + "}"

    text = _JSON_DATA.sub(json_block, text)
    return text, count


def _replacer(rule: _Rule, found: list[int]) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        whole = match.group(0)
        name = next((n for n in match.re.groupindex if n.startswith("v") and match.group(n) is not None), None)
        if name is None:  # the whole match is the secret
            found[0] += 1
            return f"[REDACTED:{rule.kind}]"
        start, end = match.span(name)
        value = match.group(name)
        if name.endswith("b"):  # a bare value: sentence punctuation after it is not part of it
            kept = value.rstrip(_TRAILING)
            end -= len(value) - len(kept)
            value = kept
        if not value or (rule.accept is not None and not rule.accept(value)):
            return whole
        found[0] += 1
        offset = match.start()
        return f"{whole[: start - offset]}[REDACTED:{rule.kind}]{whole[end - offset :]}"

    return replace


def redact(text: str) -> tuple[str, list[str]]:
    """Return the text with secrets masked and the sorted kinds that were found."""
    kinds: set[str] = set()
    for kind, masker in (
        ("private_key", _mask_private_keys),
        ("private_key", _mask_putty),
        ("jwt", _mask_jwts),
        ("secret_data", _mask_secret_data),
    ):
        text, masked = masker(text)
        if masked:
            kinds.add(kind)
    lowered = text.lower()
    foreign = _FOREIGN.search(lowered) is not None
    for rule in _RULES:
        if rule.hints and not (rule.foreign and foreign) and not any(hint in lowered for hint in rule.hints):
            continue
        found = [0]
        replaced = rule.pattern.sub(_replacer(rule, found), text)
        if found[0]:
            kinds.add(rule.kind)
            text = replaced
            lowered = text.lower()
    return text, sorted(kinds)
