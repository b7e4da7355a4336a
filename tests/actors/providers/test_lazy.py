"""LazyProvider: builds the real provider (importing its module) on the first call only."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from actors.providers import registry
from actors.providers.base import GenerationRequest, ProviderError
from actors.providers.gateway import build_providers
from actors.providers.lazy import LazyProvider
from actors.providers.perplexity import PerplexityProvider
from actors.providers.registry import persona_for
from settings import ProviderSettings, Settings
from tests.fakes.perplexity_server import FakePerplexity

KEY = "pplx-lazy-secret-0123456789"


@pytest.fixture
def server() -> Iterator[FakePerplexity]:
    with FakePerplexity() as fake:
        yield fake  # type: ignore[misc]


def _settings(base_url: str) -> ProviderSettings:
    return Settings.from_env({"PERPLEXITY_API_KEY": KEY, "PERPLEXITY_BASE_URL": base_url}).providers["perplexity"]


def _request() -> GenerationRequest:
    return GenerationRequest(
        persona=persona_for("perplexity"), topic="Is remote work here to stay?",
        history=(), seq=1, messages_per_round=16, deadline=time.time() + 30,
    )


def test_build_providers_builds_nothing_until_the_first_call(server: FakePerplexity) -> None:
    settings = Settings.from_env({"PERPLEXITY_API_KEY": KEY, "PERPLEXITY_BASE_URL": server.url})
    provider = build_providers(settings)["perplexity"]
    assert isinstance(provider, LazyProvider) and not provider.loaded
    assert (provider.name, provider.model) == ("perplexity", settings.providers["perplexity"].model)
    server.enqueue(server.completed("Scout: the first call builds the provider."))

    reply = provider.generate(_request(), api_key=KEY, timeout=5)

    assert "first call builds" in reply.text
    assert provider.loaded and isinstance(provider.load(), PerplexityProvider)
    assert len(server.requests) == 1
    provider.close()


def test_closing_an_unused_provider_builds_nothing(server: FakePerplexity) -> None:
    provider = LazyProvider(_settings(server.url), registry.get("perplexity").provider_class)
    provider.close()
    assert not provider.loaded


def test_a_module_that_cannot_be_imported_is_a_provider_error(server: FakePerplexity) -> None:
    provider = LazyProvider(_settings(server.url), "actors.providers.no_such_sdk:Nothing")
    with pytest.raises(ProviderError) as info:
        provider.generate(_request(), api_key=KEY, timeout=5)
    assert info.value.kind == "internal" and not info.value.retryable
    assert KEY not in str(info.value) and not server.requests
