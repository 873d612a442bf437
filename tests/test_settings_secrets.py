"""Secret settings never show in a repr, a dump or a log line, and still reach the clients that need them."""

from __future__ import annotations

from bot.settings import Settings, reveal

SECRETS = {
    "OPENAI_API_KEY": "sk-test-abcdefghijklmnop",
    "TRIAGE_API_TOKEN": "api-token-0123456789",
    "SLACK_BOT_TOKEN": "xoxb-1111-2222-abcdefgh",
    "SLACK_SIGNING_SECRET": "signing-secret-98765",
    "SLACK_APP_TOKEN": "xapp-1-A111-222-abcdef",
    "TRIAGE_ALERTMANAGER_TOKEN": "am-token-55555555",
}


def test_secrets_are_hidden_in_repr_and_dumps() -> None:
    settings = Settings.from_env(SECRETS)
    shown = repr(settings) + str(settings) + settings.model_dump_json()
    for value in SECRETS.values():
        assert value not in shown


def test_secrets_reach_their_clients() -> None:
    settings = Settings.from_env(SECRETS)
    assert reveal(settings.openai_api_key) == SECRETS["OPENAI_API_KEY"]
    assert reveal(settings.slack_signing_secret) == SECRETS["SLACK_SIGNING_SECRET"]
    assert settings.model_enabled and settings.slack_enabled
    assert reveal(Settings().openai_api_key) is None
