"""Credentials a protocol or a command line carries: URL user-info, Authorization headers, cookies, CLI flags."""

from __future__ import annotations

import re

from bot.redaction.rule import Rule, quoted_or_bare
from bot.redaction.values import looks_secret

CREDENTIAL_RULES: tuple[Rule, ...] = (
    Rule(
        "url_password",
        # user-info runs to the last '@' before the host, so a password may hold '@', ':' and '/'
        re.compile(
            r"\b[A-Za-z][A-Za-z0-9+.-]{0,20}://[^\s/@:'\"<>]{0,128}:(?P<vb>[^\s'\"<>]{1,256})@(?=[\w\[])"
        ),
        ("://",),
    ),
    Rule(
        "bearer_token",
        re.compile(
            r"(?i)(?:\bauthorization\\?[\"']?[ \t]{0,5}[:=][ \t]{0,5}\\?[\"']?"
            r"(?:(?:bearer|basic|token|digest|negotiate|apikey|sso-key)[ \t]{1,5})?|\bbearer[ \t]{1,5})"
            r"(?P<vb>[A-Za-z0-9\-._~+/=:]{8,4096})"
        ),
        ("authorization", "bearer"),
    ),
    Rule(
        "cookie",
        re.compile(r"(?i)\b(?:set-)?cookie\\?[\"']?[ \t]{0,5}:[ \t]{0,5}\\?[\"']?(?P<vq>[^\n\"\\]{1,4096})"),
        ("cookie",),
        looks_secret,
    ),
    Rule(
        "cli_password",
        re.compile(
            r"(?i)(?<![\w-])--?(?:[\w-]{0,30}[_-])?(?:password|passwd|pass|token|secret|api-?key|apikey"
            r"|auth-token|access-key|secret-key|private-key)(?:[ \t]{1,5}|=)(?:" + quoted_or_bare() + ")"
        ),
        ("--", "-pass", "-token", "-secret", "-key"),
        lambda value: looks_secret(value) and not value.startswith("-"),
    ),
    Rule(
        "cli_password",
        re.compile(
            r"\b(?:mysql|mysqldump|mysqladmin|mysqlimport|mysqlcheck|mysqlsh|mariadb(?:-dump)?)\b[^\n]{0,200}?"
            r"(?<=\s)-p(?:" + quoted_or_bare(tag="m") + ")"
            r"|\bsshpass[ \t]{1,5}-p[ \t]{0,5}(?:" + quoted_or_bare(tag="s") + ")"
            r"|\bredis-cli\b[^\n]{0,200}?(?<=\s)-a[ \t]{1,5}(?:" + quoted_or_bare(tag="r") + ")"
            r"|(?<![\w-])(?:-u|--user)[ \t]{1,5}['\"]?[^\s:'\"]{1,64}:(?P<vb>[^\s'\"]{1,256})"
        ),
        ("mysql", "mariadb", "sshpass", "redis-cli", "-u", "--user"),
        looks_secret,
    ),
)
