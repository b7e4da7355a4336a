"""check_model against each fake provider's models endpoint, through the real SDKs."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from actors.providers.catalog import ModelCheck, ModelWatch, Offered, check_model, judge
from settings import Settings
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.perplexity_server import FakePerplexity
from tests.fakes.server import FakeServer, Received, Script
from tests.registry_views import DEFAULT_MODELS

NOW = 1_795_996_800.0  # 2026-11-30T00:00:00Z
KEY = "sk-catalog-SECRET-key"


def base_url(name: str, fake: FakeServer) -> str:
    return f"{fake.url}/v1" if name == "openai" else fake.url


@pytest.fixture(params=["openai", "anthropic", "perplexity", "gemini"])
def fake(request: pytest.FixtureRequest) -> Iterator[tuple[str, FakeServer]]:
    server: FakeServer = {"openai": FakeOpenAI, "anthropic": FakeAnthropic,
                          "perplexity": FakePerplexity, "gemini": FakeGemini}[request.param]()
    server.start()
    yield request.param, server
    server.stop()


def provider_settings(name: str, fake: FakeServer, model: str | None = None):  # noqa: ANN201
    env = {f"{name.upper()}_API_KEY": KEY, f"{name.upper()}_BASE_URL": base_url(name, fake)}
    if model:
        env[f"{name.upper()}_MODEL"] = model
    return Settings.from_env(env).providers[name]


def test_the_default_model_is_offered(fake: tuple[str, FakeServer]) -> None:
    name, server = fake
    check = check_model(provider_settings(name, server), KEY, timeout=5, now=NOW)
    assert check.status == "ok", check
    assert len(server.listings) == 1 and not server.requests


def test_an_unlisted_model_is_unknown(fake: tuple[str, FakeServer]) -> None:
    name, server = fake
    check = check_model(provider_settings(name, server, "no-such-model"), KEY, timeout=5, now=NOW)
    assert check.status == "unknown" and check.warns
    assert "4 models listed" in (check.detail or "")


def test_a_known_retirement_is_reported(fake: tuple[str, FakeServer]) -> None:
    name, server = fake
    retiring = {"openai": "gpt-5-mini", "anthropic": "claude-sonnet-4-5",
                "gemini": "gemini-2.5-flash", "perplexity": None}[name]
    if retiring is None:  # no Perplexity model has an announced retirement
        assert check_model(provider_settings(name, server), KEY, timeout=5, now=NOW).status == "ok"
        return
    server.offered = [{"id": retiring}, *server.offered]
    check = check_model(provider_settings(name, server, retiring), KEY, timeout=5, now=NOW)
    expected = "retired" if name == "anthropic" else "retiring"  # Sonnet 4.5 retires today
    assert check.status == expected and check.warns, check


def test_the_endpoint_s_own_lifecycle_fields_are_read() -> None:
    with FakeOpenAI() as openai_fake, FakeAnthropic() as anthropic_fake:
        openai_fake.offered = [{"id": "gpt-6.1-terra", "shutdown_date": "2027-03-01"}]
        anthropic_fake.offered = [
            {"id": "claude-sonnet-5-5-20261001"},
            {"id": "claude-old", "lifecycle": "retired", "retires_at": "2026-06-01T00:00:00Z"},
        ]
        terra = check_model(provider_settings("openai", openai_fake), KEY, timeout=5, now=NOW)
        sonnet = check_model(provider_settings("anthropic", anthropic_fake), KEY, timeout=5, now=NOW)
        old = check_model(provider_settings("anthropic", anthropic_fake, "claude-old"), KEY, timeout=5, now=NOW)
    assert (terra.status, terra.detail) == ("retiring", "retires on 2027-03-01")
    assert (sonnet.status, sonnet.detail) == ("ok", "offered as claude-sonnet-5-5-20261001")
    assert old.status == "retired"


def test_a_refused_key_is_an_error_without_the_key() -> None:
    with FakeOpenAI(api_key="the-right-key") as server:
        check = check_model(provider_settings("openai", server), KEY, timeout=5, now=NOW)
    assert check.status == "error" and check.detail == "HTTP 401"
    assert KEY not in str(check)


def test_judge_is_pure() -> None:
    offered = [Offered("gemini-3.8-flash"), Offered("gemini-2.5-flash")]
    assert judge("gemini", "models/gemini-3.8-flash", offered, NOW).status == "ok"
    assert judge("gemini", "gemini-2.5-flash", offered, NOW + 86_400).status == "retired"
    assert judge("gemini", DEFAULT_MODELS["gemini"], [], NOW).status == "unknown"


class SlowListing(FakeOpenAI):
    """OpenAI's fake whose model listing answers only once ``release`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.asked, self.release = threading.Event(), threading.Event()

    def models_script(self, received: Received) -> Script:
        self.asked.set()
        self.release.wait(10)
        return super().models_script(received)


def test_stop_waits_for_the_check_in_flight() -> None:
    # A check builds TLS contexts and clients. The engine stopped right after the first
    # check began and the process exited under it: OpenSSL's exit cleanup ran while the
    # check's thread parsed the CA store (SIGSEGV, tests/test_startup_imports.py in CI).
    reports: list[tuple[str, ModelCheck]] = []
    with SlowListing() as fake:
        watch = ModelWatch([provider_settings("openai", fake)], lambda name, check: reports.append((name, check)),
                           lambda: NOW, timeout=10).start()
        assert fake.asked.wait(10)
        threading.Timer(0.2, fake.release.set).start()  # the check ends while stop waits
        watch.stop()
        alive = watch.is_alive()
    assert not alive, "stop returned with the check still running"
    assert [(name, check.status) for name, check in reports] == [("openai", "ok")]  # and no second round
