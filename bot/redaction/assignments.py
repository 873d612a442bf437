"""Secrets given a name: `password=…`, `"apiKey": …`, name/value pairs and URL-encoded forms."""

from __future__ import annotations

import re

from bot.redaction.rule import Rule, quoted_or_bare
from bot.redaction.values import looks_secret
from bot.redaction.words import KEY_SUFFIX, PASSWORD_WORDS, SECRET_WORD

ASSIGNMENT_RULES: tuple[Rule, ...] = (
    Rule(
        "key_value",
        re.compile(
            rf"(?i)(?:{SECRET_WORD}){KEY_SUFFIX}\\?[\"']?[ \t]{{0,5}}(?:=>|:=|[:=])[ \t]{{0,5}}"
            r"(?:" + quoted_or_bare() + ")"
        ),
        ("pass", "pwd", "secret", "token", "key", "auth", "credential", "session", "sessid", "sig", "pw"),
        looks_secret,
    ),
    Rule(
        "key_value",
        # the same in other languages ("Passwort: …", "contraseña=…"): its own rule, so that the common
        # English case does not pay for every language at every position
        re.compile(
            rf"(?i)(?:{PASSWORD_WORDS})\w{{0,4}}\\?[\"']?[ \t]{{0,5}}(?:=>|:=|[:=])[ \t]{{0,5}}"
            r"(?:" + quoted_or_bare(tag="l") + ")"
        ),
        ("\x00",),
        looks_secret,
        foreign=True,
    ),
    Rule(
        "named_value",
        # a setting named by one field and valued by another: <add key="ApiSecret" value="...">,
        # {"name": "DB_PASSWORD", "value": "..."} (container env), <Environment name="x/apiKey" value="...">
        re.compile(
            rf"(?i)\b(?:name|key)[\"']?[ \t]{{0,3}}[=:][ \t]{{0,3}}[\"']?[^\"'\s<>{{}}]{{0,64}}(?:{SECRET_WORD})"
            r"[^\"'\s<>{}]{0,64}[\"']?[^<>{}\n]{0,200}?\bvalue[\"']?[ \t]{0,3}[=:][ \t]{0,3}"
            r"(?:" + quoted_or_bare() + ")"
        ),
        ("value=", "value\"", "value'", "value:", "value =", "value\\"),
        looks_secret,
    ),
    Rule(
        "form_value",
        # URL-encoded bodies and query strings: `password=x&...`, and encoded JSON (`%22password%22%3A%22x%22`)
        re.compile(
            rf"(?i)(?:{SECRET_WORD}){KEY_SUFFIX}(?:%22|%27)?(?:%3D|%3A)(?:%20|\+)*(?:%22|%27)?"
            r"(?P<vb>(?:[^&\s\"'<>%]|%(?!2[27]|26)[0-9A-Fa-f]{2}){1,512})"
        ),
        ("%3d", "%3a"),
        looks_secret,
    ),
)
