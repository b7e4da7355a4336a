"""Settings of issue 10: per-provider budgets, LOG_FORMAT, ALERT_WEBHOOK_URL, default models."""

from __future__ import annotations

import pytest

from settings import Settings, SettingsError
from tests.registry_views import DEFAULT_MODELS


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.log_format == "text"
    assert settings.alert_webhook_url is None
    assert all(p.daily_budget_usd is None for p in settings.providers.values())
    assert {name: p.model for name, p in settings.providers.items()} == DEFAULT_MODELS


def test_no_default_model_is_one_that_retires_this_winter() -> None:
    retired_or_retiring = ("gpt-5-", "gpt-5.4-mini", "claude-sonnet-4-5", "gemini-2.5-")
    for model in DEFAULT_MODELS.values():
        assert not model.startswith(retired_or_retiring) and model not in ("gpt-5", "gpt-5-mini")
    assert DEFAULT_MODELS["gemini"].startswith("gemini-3.")


def test_values_are_read() -> None:
    settings = Settings.from_env({
        "OPENAI_DAILY_BUDGET_USD": "1.5", "LOG_FORMAT": "json",
        "ALERT_WEBHOOK_URL": "https://hooks.example.com/services/T0/B0/secret",
    })
    assert settings.providers["openai"].daily_budget_usd == 1.5
    assert settings.providers["gemini"].daily_budget_usd is None
    assert settings.log_format == "json"
    assert settings.alert_webhook_url == "https://hooks.example.com/services/T0/B0/secret"
    assert "secret" not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ANTHROPIC_DAILY_BUDGET_USD", "-1"),
        ("GEMINI_DAILY_BUDGET_USD", "lots"),
        ("LOG_FORMAT", "xml"),
        ("ALERT_WEBHOOK_URL", "ftp://hooks.example.com/x"),
        ("ALERT_WEBHOOK_URL", "https://"),
        ("SHUTDOWN_GRACE_SECONDS", "-1"),
        ("WS_COMPRESSION", "maybe"),
    ],
)
def test_bad_values_name_the_setting_in_one_line(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({name: value})
    assert info.value.name == name and "\n" not in str(info.value)


def test_a_bad_webhook_url_is_not_echoed() -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({"ALERT_WEBHOOK_URL": "hooks.example.com/services/SECRET"})
    assert "SECRET" not in str(info.value)
