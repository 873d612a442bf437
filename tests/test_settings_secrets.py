"""Secret settings stay hidden and every log line is JSON, the libraries' included."""

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


def test_library_logs_are_json_lines() -> None:
    import io
    import json
    import logging

    from bot.observability import configure_logging

    stream = io.StringIO()
    configure_logging("info", stream)
    try:
        logging.getLogger("triage.library.server").warning("port %s busy", 8080)
        logging.getLogger("triage.library.client").info("HTTP Request: noise")
    finally:
        configure_logging("info")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    seen = [(e["logger"], e["level"], e["event"]) for e in lines]
    assert seen == [("triage.library.server", "warning", "port 8080 busy")]
