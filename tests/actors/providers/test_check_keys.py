"""``check_keys`` against the real provider classes and the loopback fake servers."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from actors.providers.check import check_keys
from settings import PROVIDERS, ProviderSettings, Settings
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import FakeOpenAI


@pytest.fixture
def openai_fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key="sk-openai-good", model="gpt-5-mini-2025-08-07") as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture
def anthropic_fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(api_key="sk-ant-good") as fake:
        yield fake  # type: ignore[misc]


def settings_for(openai_fake: FakeOpenAI, anthropic_fake: FakeAnthropic, anthropic_key: str) -> Settings:
    urls = {"openai": openai_fake.base_url, "anthropic": anthropic_fake.base_url}
    keys = {"openai": ("sk-openai-good",), "anthropic": (anthropic_key,)}
    models = {"openai": "gpt-5-mini", "anthropic": "claude-sonnet-test", "perplexity": "perplexity/sonar", "gemini": "gemini-2.5-flash"}
    return Settings(
        providers={
            name: ProviderSettings(
                name=name,
                api_keys=keys.get(name, ()),
                base_url=urls.get(name, "http://127.0.0.1:9"),
                model=models[name],
                requests_per_minute=60,
                fallbacks=(),
            )
            for name in PROVIDERS
        }
    )


def test_one_ok_one_401_prints_the_table_and_exits_1(openai_fake: FakeOpenAI, anthropic_fake: FakeAnthropic) -> None:
    out = io.StringIO()
    code = check_keys(settings_for(openai_fake, anthropic_fake, "sk-ant-WRONG-SECRET"), out, timeout=5.0)
    assert code == 1
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["provider", "model", "key", "result", "latency"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert list(rows) == ["openai", "anthropic", "perplexity", "gemini"]
    assert rows["openai"].split()[:5] == ["openai", "gpt-5-mini", "1/1", "ok", "(gpt-5-mini-2025-08-07)"]
    assert rows["openai"].endswith(" ms")
    assert rows["anthropic"].split()[:4] == ["anthropic", "claude-sonnet-test", "1/1", "401"]
    assert "auth" in rows["anthropic"] and rows["anthropic"].endswith(" ms")
    assert rows["perplexity"].split()[2:] == ["-", "not", "configured", "-"]
    assert rows["gemini"].split()[2:] == ["-", "not", "configured", "-"]
    assert "SECRET" not in out.getvalue() and "sk-" not in out.getvalue()
    assert len(openai_fake.requests) == 1 and len(anthropic_fake.requests) == 1


def test_all_configured_ok_exits_0(openai_fake: FakeOpenAI, anthropic_fake: FakeAnthropic) -> None:
    out = io.StringIO()
    assert check_keys(settings_for(openai_fake, anthropic_fake, "sk-ant-good"), out, timeout=5.0) == 0
    assert out.getvalue().count(" ok (") == 2
