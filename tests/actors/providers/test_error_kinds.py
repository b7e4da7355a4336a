"""Error kinds carry their retryability, and the one retry loop follows it exactly.

The loop is driven through ``ProviderChain`` with the real provider classes against the
fake servers in ``tests/fakes/``, which answer in each provider's own wire format.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from actors.clock import SystemClock
from actors.providers import registry
from actors.providers.base import GenerationRequest, ProviderError, Source
from actors.providers.budget import DailyBudget
from actors.providers.chain import ProviderChain
from actors.providers.errors import ErrorKind
from actors.providers.gateway import build_gateways
from actors.providers.pricing import PriceTable
from actors.providers.resilience import Backoff
from actors.providers.templates import TemplateWriter
from settings import ProviderSettings, Settings
from tests.fakes import anthropic_server, openai_server
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.perplexity_server import FakePerplexity
from tests.fakes.server import FakeServer, Script

ATTEMPTS = 3

#: Every kind and whether the same provider may be asked again.
RETRYABLE: dict[ErrorKind, bool] = {
    ErrorKind.HTTP: False,
    ErrorKind.UNAVAILABLE: True,
    ErrorKind.SPEND_LIMIT: False,
    ErrorKind.AUTH: False,
    ErrorKind.TIMEOUT: True,
    ErrorKind.TOO_LARGE: True,
    ErrorKind.CONNECTION: True,
    ErrorKind.MALFORMED: True,
    ErrorKind.EMPTY: True,
    ErrorKind.FAILED: True,
    ErrorKind.BLOCKED: False,
    ErrorKind.QUALITY: True,
    ErrorKind.MODERATION: False,
    ErrorKind.MODERATION_UNAVAILABLE: False,
    ErrorKind.INTERNAL: False,
}


def test_every_kind_says_whether_it_is_retried() -> None:
    assert set(RETRYABLE) == set(ErrorKind)
    for kind, retryable in RETRYABLE.items():
        assert kind.retryable is retryable, kind
        assert ProviderError("x", kind=kind).retryable is retryable, kind


def test_every_retryable_kind_and_every_refused_reply_counts_against_the_circuit() -> None:
    refused = {ErrorKind.QUALITY, ErrorKind.TOO_LARGE, ErrorKind.MODERATION}
    assert {k for k in ErrorKind if k.unhealthy} == {k for k, r in RETRYABLE.items() if r} | refused


@pytest.mark.parametrize(("kind", "status", "stored"), [
    (ErrorKind.UNAVAILABLE, 529, "529"),
    (ErrorKind.SPEND_LIMIT, 429, "429"),
    (ErrorKind.HTTP, 400, "400"),
    (ErrorKind.HTTP, None, "http"),
    (ErrorKind.AUTH, 401, "auth"),
    (ErrorKind.TIMEOUT, None, "timeout"),
    (ErrorKind.MODERATION_UNAVAILABLE, None, "moderation_unavailable"),
])
def test_the_stored_error_class_keeps_its_values(kind: ErrorKind, status: int | None, stored: str) -> None:
    # api_calls.error_class holds these strings: old rows and exports must stay valid.
    assert ProviderError("x", kind=kind, status=status).error_class == stored
    # ... and the metrics' outcome label too: the HTTP kinds stay one "http".
    assert kind.outcome == ("http" if stored.isdigit() else stored)


# -- the retry loop against the fakes --------------------------------------------------------

Case = tuple[str, Callable[[Any], Script], ErrorKind]

CASES: list[Case] = [
    ("openai", lambda f: openai_server.error(503, type="server_error"), ErrorKind.UNAVAILABLE),
    ("openai", lambda f: openai_server.error(400, code="bad_request"), ErrorKind.HTTP),
    ("openai", lambda f: openai_server.error(401, code="invalid_api_key"), ErrorKind.AUTH),
    ("openai", lambda f: openai_server.error(429, code="insufficient_quota", type="insufficient_quota"),
     ErrorKind.SPEND_LIMIT),
    ("openai", lambda f: Script(200, raw="{not json"), ErrorKind.MALFORMED),
    ("anthropic", lambda f: anthropic_server.error(529, "overloaded_error"), ErrorKind.UNAVAILABLE),
    ("anthropic", lambda f: anthropic_server.error(400, "invalid_request_error"), ErrorKind.HTTP),
    ("anthropic", lambda f: anthropic_server.error(401, "authentication_error"), ErrorKind.AUTH),
    ("anthropic", lambda f: anthropic_server.error(
        429, "rate_limit_error", error_code="enforced_spend_limit_reached"), ErrorKind.SPEND_LIMIT),
    ("anthropic", lambda f: Script(200, raw="{not json"), ErrorKind.MALFORMED),
    ("perplexity", lambda f: f.error(502, "Bad gateway", "server_error"), ErrorKind.UNAVAILABLE),
    ("perplexity", lambda f: f.error(400, "Bad request"), ErrorKind.HTTP),
    ("perplexity", lambda f: f.error(429, "Out of credit", "insufficient_quota", "insufficient_quota"),
     ErrorKind.SPEND_LIMIT),
    ("perplexity", lambda f: f.failed_run(), ErrorKind.FAILED),
    ("gemini", lambda f: f.error(503, "The model is overloaded."), ErrorKind.UNAVAILABLE),
    ("gemini", lambda f: f.error(404, "models/x is not found"), ErrorKind.HTTP),
    ("gemini", lambda f: f.invalid_key(), ErrorKind.AUTH),
    ("gemini", lambda f: f.blocked_prompt(), ErrorKind.BLOCKED),
    ("gemini", lambda f: f.success(""), ErrorKind.EMPTY),
]

FAKES: dict[str, Callable[[], FakeServer]] = {
    "openai": FakeOpenAI, "anthropic": FakeAnthropic, "perplexity": FakePerplexity, "gemini": FakeGemini,
}


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeServer]]:
    servers = {name: make().start() for name, make in FAKES.items()}
    try:
        yield servers
    finally:
        for server in servers.values():
            server.stop()


def base_url(fake: FakeServer) -> str:
    return str(getattr(fake, "base_url", fake.url))


def provider_settings(name: str, fake: FakeServer) -> Settings:
    """Every provider, only ``name`` configured (on ``fake``): its fallbacks are templates."""
    return Settings(providers={
        other: ProviderSettings(
            name=other, api_keys=(f"key-{other}",) if other == name else (), base_url=base_url(fake),
            model=registry.get(other).model, requests_per_minute=600,
            fallbacks=tuple(p for p in registry.names() if p != other),
        )
        for other in registry.names()
    }, provider_max_attempts=ATTEMPTS)


def chain_for(name: str, settings: Settings) -> ProviderChain:
    clock = SystemClock()
    return ProviderChain(
        name, (name, *settings.providers[name].fallbacks), build_gateways(settings, clock),
        TemplateWriter(), PriceTable.load(), DailyBudget(None, clock), clock, ATTEMPTS,
        backoff=Backoff(rand=lambda: 0.0),  # no real waits between the retries
    )


@pytest.mark.parametrize(("name", "script", "kind"), CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_the_retry_loop_retries_exactly_the_retryable_kinds(
    fakes: dict[str, FakeServer], name: str, script: Callable[[Any], Script], kind: ErrorKind
) -> None:
    fake = fakes[name]
    fake.reset()  # type: ignore[attr-defined]
    settings = provider_settings(name, fake)
    request = GenerationRequest(registry.persona_for(name), "Night trains", (), 1, 16, time.time() + 20)
    fake.enqueue(script(fake))
    with pytest.raises(ProviderError) as caught:  # the provider classifies the wire answer
        registry.get(name).provider_type()(settings.providers[name]).generate(
            request, api_key=f"key-{name}", timeout=10)
    assert caught.value.kind is kind
    fake.reset()  # type: ignore[attr-defined]
    fake.enqueue(*[script(fake)] * (ATTEMPTS + 1))

    outcome = chain_for(name, settings).generate(request)

    own = [call for call in outcome.calls if call.provider == name]
    assert len(fake.requests) == len(own) == (ATTEMPTS if RETRYABLE[kind] else 1)
    assert {call.error_class for call in own} == {caught.value.error_class}
    assert outcome.source is Source.TEMPLATE
