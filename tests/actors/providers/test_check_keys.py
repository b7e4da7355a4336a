"""``check_keys`` against the real provider classes and the loopback fake servers."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from actors.providers import registry
from actors.providers.check import check_keys
from settings import ProviderSettings, Settings
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import FakeOpenAI


class FixedClock:
    def __init__(self, t: float) -> None:
        self.t = t

    def now(self) -> float:
        return self.t


NOV_30 = FixedClock(1_795_996_800.0)  # 2026-11-30T00:00:00Z: gpt-5-mini retires 2026-12-11


@pytest.fixture
def openai_fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key="sk-openai-good", model="gpt-6.1-terra-2026-10-01") as fake:
        fake.offered = [{"id": "gpt-6.1-terra"}, {"id": "gpt-5-mini", "shutdown_date": "2026-12-11"}]
        yield fake  # type: ignore[misc]


@pytest.fixture
def anthropic_fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(api_key="sk-ant-good") as fake:
        fake.offered = [{"id": "claude-sonnet-test-20261001"}]
        yield fake  # type: ignore[misc]


def settings_for(
    openai_fake: FakeOpenAI, anthropic_fake: FakeAnthropic, anthropic_key: str, openai_model: str = "gpt-6.1-terra"
) -> Settings:
    urls = {"openai": openai_fake.base_url, "anthropic": anthropic_fake.base_url}
    keys = {"openai": ("sk-openai-good",), "anthropic": (anthropic_key,)}
    models = {"openai": openai_model, "anthropic": "claude-sonnet-test", "perplexity": "perplexity/sonar", "gemini": "gemini-2.5-flash"}
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
            for name in registry.names()
        }
    )


def test_one_ok_one_401_prints_the_table_and_exits_1(openai_fake: FakeOpenAI, anthropic_fake: FakeAnthropic) -> None:
    out = io.StringIO()
    code = check_keys(settings_for(openai_fake, anthropic_fake, "sk-ant-WRONG-SECRET"), out, timeout=5.0)
    assert code == 1
    lines = out.getvalue().split("\n\n")[0].splitlines()  # the keys table
    assert lines[0].split() == ["provider", "model", "key", "result", "latency"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert list(rows) == ["openai", "anthropic", "perplexity", "gemini"]
    assert rows["openai"].split()[:5] == ["openai", "gpt-6.1-terra", "1/1", "ok", "(gpt-6.1-terra-2026-10-01)"]
    assert rows["openai"].endswith(" ms")
    assert rows["anthropic"].split()[:4] == ["anthropic", "claude-sonnet-test", "1/1", "401"]
    assert "auth" in rows["anthropic"] and rows["anthropic"].endswith(" ms")
    assert rows["perplexity"].split()[2:] == ["-", "not", "configured", "-"]
    assert rows["gemini"].split()[2:] == ["-", "not", "configured", "-"]
    assert "SECRET" not in out.getvalue() and "sk-" not in out.getvalue()
    assert len(openai_fake.requests) == 1 and len(anthropic_fake.requests) == 1
    # The models endpoint answers the wrong key with 401 too: an error, not a verdict.
    assert "anthropic  claude-sonnet-test  error: HTTP 401" in out.getvalue()


def test_all_configured_ok_exits_0(openai_fake: FakeOpenAI, anthropic_fake: FakeAnthropic) -> None:
    out = io.StringIO()
    assert check_keys(settings_for(openai_fake, anthropic_fake, "sk-ant-good"), out, timeout=5.0) == 0
    assert out.getvalue().count(" ok (") == 2


def test_the_models_endpoints_say_whether_each_model_is_offered(
    openai_fake: FakeOpenAI, anthropic_fake: FakeAnthropic
) -> None:
    out = io.StringIO()
    assert check_keys(settings_for(openai_fake, anthropic_fake, "sk-ant-good"), out, timeout=5.0) == 0
    models = out.getvalue().split("\n\n")[1].splitlines()
    assert models[0].split() == ["provider", "model", "offered"]
    assert models[1].split() == ["openai", "gpt-6.1-terra", "ok"]
    assert models[2].split()[:3] == ["anthropic", "claude-sonnet-test", "ok:"]
    assert "warning" not in out.getvalue()
    assert len(openai_fake.listings) == 1 and len(anthropic_fake.listings) == 1


def test_a_retiring_model_warns_and_an_unknown_one_fails(
    openai_fake: FakeOpenAI, anthropic_fake: FakeAnthropic
) -> None:
    out = io.StringIO()
    retiring = settings_for(openai_fake, anthropic_fake, "sk-ant-good", openai_model="gpt-5-mini")
    assert check_keys(retiring, out, timeout=5.0, clock=NOV_30) == 0  # it still works today
    assert ("warning: openai model gpt-5-mini is retiring (retires on 2026-12-11); "
            "set OPENAI_MODEL to a current model") in out.getvalue()
    out = io.StringIO()
    unknown = settings_for(openai_fake, anthropic_fake, "sk-ant-good", openai_model="gpt-9-imaginary")
    assert check_keys(unknown, out, timeout=5.0, clock=NOV_30) == 1
    assert "warning: openai model gpt-9-imaginary is unknown (not offered to this key" in out.getvalue()
