"""Credentials with a provider's own format: JWTs, Slack, AWS, GitHub, GitLab, Stripe, OpenAI and other API tokens."""

from __future__ import annotations

import re

from bot.redaction.rule import Rule

PROVIDER_RULES: tuple[Rule, ...] = (
    Rule(
        "jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,4096}\.[A-Za-z0-9_-]{8,4096}\.[A-Za-z0-9_-]{0,4096}"), ("eyj",)
    ),
    Rule("slack_token", re.compile(r"\bx(?:ox[abposre]|app)-[A-Za-z0-9-]{10,256}"), ("xox", "xapp-")),
    Rule(
        "slack_webhook",
        re.compile(r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]{1,256}"),
        ("hooks.slack",),
    ),
    Rule(
        "aws_access_key",
        re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA)[0-9A-Z]{16}\b"),
        ("akia", "asia", "abia", "acca", "agpa", "aida", "aipa", "anpa", "anva", "apka", "aroa"),
    ),
    Rule(
        "github_token",
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{30,255})"),
        ("gh", "github_pat_"),
    ),
    Rule(
        "gitlab_token",
        re.compile(
            r"\b(?:gl(?:pat|dt|rt|ptt|soat|ft|imt|cbt|oas|agent)-[A-Za-z0-9_-]{20,255}|GR1348941[A-Za-z0-9_-]{20,64})"
        ),
        ("gl", "gr1348941"),
    ),
    Rule(
        "stripe_key",
        re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{10,255}|\bwhsec_[A-Za-z0-9]{20,255}"),
        ("_live_", "_test_", "whsec_"),
    ),
    Rule("sendgrid_key", re.compile(r"\bSG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{30,64}"), ("sg.",)),
    Rule("twilio_key", re.compile(r"\b(?:SK|AC)[0-9a-fA-F]{32}\b"), ("sk", "ac")),
    Rule(
        "google_api_key",
        re.compile(r"\bAIza[0-9A-Za-z_-]{30,40}|\bGOCSPX-[A-Za-z0-9_-]{20,64}|\bya29\.[A-Za-z0-9_-]{20,2048}"),
        ("aiza", "gocspx-", "ya29."),
    ),
    Rule(
        "openai_key",
        re.compile(r"\bsk-(?:proj-|svcacct-|admin-|ant-(?:api|admin)\d\d-)?[A-Za-z0-9_-]{20,255}"),
        ("sk-",),
    ),
    Rule("npm_token", re.compile(r"\bnpm_[A-Za-z0-9]{36}\b"), ("npm_",)),
    Rule("pypi_token", re.compile(r"\bpypi-AgE[A-Za-z0-9_-]{40,512}"), ("pypi-",)),
    Rule(
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
)
