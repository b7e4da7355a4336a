"""ProviderChain with the real OpenAI and Anthropic provider classes against loopback fakes."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest

from actors.clock import SystemClock
from actors.providers import registry
from actors.providers.base import GenerationRequest, Source
from actors.providers.budget import DailyBudget
from actors.providers.chain import ProviderChain
from actors.providers.gateway import Gateways, build_gateways
from actors.providers.pricing import PriceTable
from actors.providers.registry import persona_for
from actors.providers.resilience import Backoff, CircuitState
from actors.providers.templates import TemplateWriter
from settings import ProviderSettings, Settings
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.anthropic_server import error as anthropic_error
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.server import Trickle


@pytest.fixture
def openai_fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key="sk-openai-SECRET", model="gpt-5-mini-2025-08-07") as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture
def anthropic_fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(api_key="sk-ant-SECRET") as fake:
        yield fake  # type: ignore[misc]


def _chain(openai_fake: FakeOpenAI, anthropic_fake: FakeAnthropic) -> tuple[ProviderChain, Gateways]:
    """The ``anthropic`` agent's chain with the real OpenAI and Anthropic providers."""
    urls = {"openai": openai_fake.base_url, "anthropic": anthropic_fake.base_url}
    keys = {"openai": ("sk-openai-SECRET",), "anthropic": ("sk-ant-SECRET",)}
    models = {"openai": "gpt-5-mini", "anthropic": "claude-sonnet-test", "perplexity": "perplexity/sonar", "gemini": "gemini-2.5-flash"}
    settings = Settings(
        providers={
            name: ProviderSettings(
                name=name,
                api_keys=keys.get(name, ()),
                base_url=urls.get(name, "http://127.0.0.1:9"),
                model=models[name],
                requests_per_minute=60,
                fallbacks=tuple(p for p in registry.names() if p != name),
            )
            for name in registry.names()
        }
    )
    clock = SystemClock()
    gateways = build_gateways(settings, clock)
    chain = ProviderChain(
        "anthropic",
        ("anthropic", *settings.providers["anthropic"].fallbacks),
        gateways,
        TemplateWriter(),
        PriceTable.load(),
        DailyBudget(None, clock),
        clock,
        settings.provider_max_attempts,
        backoff=Backoff(rand=lambda: 0.0),  # no real waits between the retries
    )
    return chain, gateways


def _request() -> GenerationRequest:
    return GenerationRequest(persona_for("anthropic"), "Remote work", (), 1, 16, time.time() + 20.0)


def test_500_on_anthropic_every_time_falls_back_to_openai(
    openai_fake: FakeOpenAI, anthropic_fake: FakeAnthropic, caplog: pytest.LogCaptureFixture
) -> None:
    anthropic_fake.enqueue(*[anthropic_error(500, "api_error", "Internal server error")] * 10)
    chain, gateways = _chain(openai_fake, anthropic_fake)
    request = _request()
    try:
        with caplog.at_level(logging.WARNING, logger="roundtable.chain"):
            outcome = chain.generate(request)
    finally:
        gateways.close()

    assert (outcome.source, outcome.provider, outcome.model) == (Source.FALLBACK, "openai", "gpt-5-mini-2025-08-07")
    assert outcome.fallback_reason is not None
    assert outcome.fallback_reason.startswith("anthropic: 500 ")
    assert outcome.fallback_reason.endswith(" after 3 tries")
    assert outcome.content and outcome.prompt_tokens == 120 and outcome.cost_usd > 0
    assert len(anthropic_fake.requests) == 3 and len(openai_fake.requests) == 1
    assert [(c.provider, c.ok, c.status_code) for c in outcome.calls] == [
        ("anthropic", False, 500), ("anthropic", False, 500), ("anthropic", False, 500), ("openai", True, None)
    ]
    assert gateways["anthropic"].breaker.state is CircuitState.OPEN  # threshold 3 reached
    assert "agent anthropic: fell back to openai (anthropic: 500" in caplog.text
    assert "SECRET" not in caplog.text


def test_an_over_long_reply_is_a_failed_attempt_not_a_cut_message(
    openai_fake: FakeOpenAI, anthropic_fake: FakeAnthropic
) -> None:
    # Long words: cut at MAX_REPLY_CHARS it would fit the word limit and be shown, cut off.
    sentence = "Orion, infrastructure considerations notwithstanding, hybrid arrangements demonstrate durability. "
    anthropic_fake.reply = "Clio: " + sentence * 30  # 240 words, about 2,900 characters
    chain, gateways = _chain(openai_fake, anthropic_fake)
    try:
        outcome = chain.generate(_request())
    finally:
        gateways.close()

    assert (outcome.source, outcome.provider) == (Source.FALLBACK, "openai")
    assert outcome.fallback_reason == "anthropic: quality (rejected: too long: 240 words) after 3 tries"
    assert len(anthropic_fake.requests) == 3
    assert [(c.provider, c.ok, c.error_class) for c in outcome.calls] == [
        ("anthropic", False, "quality"), ("anthropic", False, "quality"), ("anthropic", False, "quality"),
        ("openai", True, None),
    ]
    assert all(c.cost_usd > 0 for c in outcome.calls)  # the refused replies were paid for


def test_a_trickling_provider_falls_back_within_the_deadline_and_its_circuit_opens(
    openai_fake: FakeOpenAI, anthropic_fake: FakeAnthropic
) -> None:
    anthropic_fake.mode = Trickle(0.05)  # headers at once, then a byte every 50 ms
    chain, gateways = _chain(openai_fake, anthropic_fake)
    outcomes, late = [], []
    try:
        for seq in range(1, 5):
            request = GenerationRequest(persona_for("anthropic"), "Remote work", (), seq, 16, time.time() + 2.5)
            outcomes.append(chain.generate(request))
            late.append(time.time() - request.deadline)
    finally:
        gateways.close()

    assert [(o.source, o.provider) for o in outcomes] == [(Source.FALLBACK, "openai")] * 4
    assert all(lateness < 0.5 for lateness in late), late
    for outcome in outcomes[:3]:
        assert outcome.fallback_reason is not None and outcome.fallback_reason.startswith("anthropic: timeout")
        assert [(c.provider, c.ok, c.error_class) for c in outcome.calls] == [
            ("anthropic", False, "timeout"), ("openai", True, None)
        ]
    # Three trickles in a row: the circuit opened and the fourth message skipped Clio's API.
    assert gateways["anthropic"].breaker.state is CircuitState.OPEN
    assert outcomes[3].fallback_reason == "anthropic: circuit open"
    assert len(anthropic_fake.requests) == 3


def test_a_provider_answering_junk_opens_its_circuit(
    openai_fake: FakeOpenAI, anthropic_fake: FakeAnthropic
) -> None:
    anthropic_fake.reply = "Fine."  # refused by the quality gate every time
    chain, gateways = _chain(openai_fake, anthropic_fake)
    try:
        first = chain.generate(_request())
        second = chain.generate(_request())
    finally:
        gateways.close()
    assert (first.source, first.provider) == (Source.FALLBACK, "openai")
    assert first.fallback_reason == "anthropic: quality (rejected: too short: 1 words) after 3 tries"
    assert gateways["anthropic"].breaker.state is CircuitState.OPEN
    assert second.fallback_reason == "anthropic: circuit open"
    assert len(anthropic_fake.requests) == 3
