"""Secrets told in sentences: "the password is …", "contraseña xjE8…", a secret word before a random-looking value."""

from __future__ import annotations

import re

from bot.redaction.rule import Rule, quoted_or_bare
from bot.redaction.values import high_entropy, looks_secret
from bot.redaction.words import PASSWORD_WORDS

PROSE_RULES: tuple[Rule, ...] = (
    Rule(
        "prose_password",
        re.compile(
            # the word as inflected ("lösenordet", "adgangskoden", "Kennworts")
            r"(?i)\b(?:password|passwd|passphrase|passcode|pwd|secret|api key|token|" + PASSWORD_WORDS + r")\w{0,4}\b"
            r"(?:[ \t]{1,3}(?:for|of|f(?:ü|u)r|von|de|du|pour|para|per|voor|för)"
            r"(?:[ \t]{1,3}[\w@.-]{1,64}){1,3})?[ \t]{1,3}"
            r"(?:(?:(?:is|was|has[ \t]{1,3}been|got)[ \t]{1,3})?(?:set|changed|reset|updated)[ \t]{1,3}to"
            r"|(?:is|ist|lautet|est|es|è|é|e|är|er|on|jest|je|era|war|was|était)(?:[ \t]{1,3}(?:now|jetzt|nun"
            r"|maintenant|ahora|agora|ora|nu))?|(?:ge(?:ä|a)ndert|gesetzt)"
            r"[ \t]{1,3}(?:auf|zu))[ \t]{1,3}:?[ \t]{0,3}(?:" + quoted_or_bare(3) + ")"
        ),
        ("pass", "pwd", "secret", "api key", "token"),
        looks_secret,
        foreign=True,
    ),
    Rule(
        "prose_password",
        # a password word followed by the password itself, no verb between ("la contraseña xjE8G6…")
        re.compile(
            r"(?i)\b(?:password|passwort|kennwort|" + PASSWORD_WORDS + r")\w{0,4}[ \t]{1,3}"
            r"(?P<vb>[A-Za-z0-9!#$%*_+/=.@-]{8,128})"
        ),
        ("password", "passwort"),
        lambda value: looks_secret(value) and any(c.isdigit() for c in value) and any(c.isalpha() for c in value),
        foreign=True,
    ),
    Rule(
        "high_entropy",
        re.compile(
            r"(?i)\b(?:secret|token|key|password|passwd|credentials?|apikey|auth|signature|leaked|exposed)\w{0,24}"
            r"(?:[ \t]{0,3}[:=][ \t]{0,3}|[ \t]{1,3})[\"']?(?:(?:is|was|of|for)[ \t]{1,3})?"
            r"(?P<vb>[A-Za-z0-9+/_=.-]{16,1024})"
        ),
        ("secret", "token", "key", "pass", "credential", "auth", "signature", "leaked", "exposed"),
        high_entropy,
    ),
)
