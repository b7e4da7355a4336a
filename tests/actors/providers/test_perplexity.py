"""PerplexityProvider against a fake Agent API on 127.0.0.1, through the real httpx2 client."""

from __future__ import annotations

import dataclasses
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate

import httpx2
import pytest

from actors.providers import registry
from actors.providers.base import Citation, GenerationRequest, ProviderError, Turn
from actors.providers.perplexity import PerplexityProvider
from actors.providers.registry import persona_for
from settings import ProviderSettings
from tests.actors.providers.history import NEWEST_FOUR, SMALL_BUDGET, long_history, sent_markers
from tests.fakes.perplexity_server import ALLOWED_FIELDS, FakePerplexity
from tests.fakes.server import Script

KEY = "pplx-test-secret-0123456789"
EARLIER_WORDS = "remote work erodes mentoring for junior engineers"


@pytest.fixture(scope="module")
def shared_server() -> Iterator[FakePerplexity]:
    # One server per module: stopping one waits out serve_forever's 0.5 s poll.
    with FakePerplexity() as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture
def server(shared_server: FakePerplexity) -> FakePerplexity:
    shared_server.reset()
    return shared_server


@pytest.fixture
def provider(server: FakePerplexity) -> Iterator[PerplexityProvider]:
    provider = PerplexityProvider(_settings(server.url))
    yield provider
    provider.close()


def _settings(base_url: str) -> ProviderSettings:
    return ProviderSettings(
        name="perplexity", api_keys=(KEY,), base_url=base_url, model="perplexity/sonar",
        requests_per_minute=60, fallbacks=(),
    )


def _request() -> GenerationRequest:
    history = (
        Turn("openai", "Orion", "Remote work lets small teams hire anywhere."),
        Turn("anthropic", "Clio", f"I worry that {EARLIER_WORDS}."),
    )
    return GenerationRequest(
        persona=persona_for("perplexity"), topic="Is remote work here to stay?",
        history=history, seq=3, messages_per_round=16, deadline=time.time() + 30,
    )


def _fail(provider: PerplexityProvider, timeout: float = 5.0) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        provider.generate(_request(), api_key=KEY, timeout=timeout)
    assert KEY not in str(info.value)
    return info.value


def test_success_sends_only_allowed_fields_and_parses_the_reply(
    server: FakePerplexity, provider: PerplexityProvider
) -> None:
    server.enqueue(server.completed("Scout: Surveys show teams ship faster [1], but [2] disagrees."))

    reply = provider.generate(_request(), api_key=KEY, timeout=5)

    [received] = server.requests
    assert received.path == "/v1/agent"
    assert received.header("authorization") == f"Bearer {KEY}"
    body = received.body
    assert set(body) == ALLOWED_FIELDS
    assert body["model"] == "perplexity/sonar"
    assert body["tools"] == [{"type": "web_search"}]
    assert body["max_output_tokens"] == 400
    assert "Scout" in body["instructions"]
    assert {item["role"] for item in body["input"]} <= {"user", "assistant"}
    assert body["input"][-1]["role"] == "user"
    assert EARLIER_WORDS in body["input"][-1]["content"]
    assert reply.text == "Surveys show teams ship faster, but disagrees."
    assert reply.model == "perplexity/sonar"
    assert (reply.prompt_tokens, reply.completion_tokens) == (812, 96)
    assert reply.cost_usd == pytest.approx(0.005908)
    assert reply.citations == (
        Citation("https://example.org/survey", "Remote work survey"),
        Citation("https://example.org/onboarding", "Onboarding study"),
    )


def test_default_answer_passes_the_strict_fake(provider: PerplexityProvider) -> None:
    reply = provider.generate(_request(), api_key=KEY, timeout=5)
    assert reply.text.startswith("Scout here with data")


def test_the_fake_refuses_unknown_fields(server: FakePerplexity) -> None:
    body = {"model": "perplexity/sonar", "input": "hi", "temperature": 0.2}
    response = httpx2.post(f"{server.url}/v1/responses", json=body,
                          headers={"Authorization": "Bearer x"})
    assert response.status_code == 400
    assert "temperature" in response.json()["error"]["message"]


def test_citations_are_http_only_deduplicated_and_capped(
    server: FakePerplexity, provider: PerplexityProvider
) -> None:
    results = [{"url": "ftp://example.org/x", "title": "ftp"},
               {"url": "javascript:alert(1)", "title": "js"},
               {"url": "https://a.example/0", "title": "first"},
               {"url": "https://a.example/0", "title": "duplicate"}]
    results += [{"url": f"https://b.example/{i}", "title": str(i)} for i in range(10)]
    server.enqueue(server.completed("Evidence suggests otherwise.", results=results))

    citations = provider.generate(_request(), api_key=KEY, timeout=5).citations

    assert len(citations) == 8
    assert citations[0] == Citation("https://a.example/0", "first")
    assert len({c.url for c in citations}) == 8


@pytest.mark.parametrize(
    ("cost", "expected"),
    [({"currency": "USD", "input_cost": 0.001, "output_cost": 0.002}, 0.003),
     ({"currency": "EUR", "total_cost": 1.0}, None),
     ({}, None)],
)
def test_cost_is_read_defensively(
    server: FakePerplexity, provider: PerplexityProvider, cost: dict, expected: float | None
) -> None:
    server.enqueue(server.completed("Some text.", cost=cost))
    assert provider.generate(_request(), api_key=KEY, timeout=5).cost_usd == (
        pytest.approx(expected) if expected is not None else None)


def test_rate_limit_is_retryable_with_retry_after(
    server: FakePerplexity, provider: PerplexityProvider
) -> None:
    server.enqueue(server.rate_limited("7"))
    error = _fail(provider)
    assert (error.kind, error.status, error.retryable, error.retry_after) == ("unavailable", 429, True, 7.0)
    assert "request_rate_limit_exceeded" in str(error)


def test_retry_after_as_an_http_date(server: FakePerplexity, provider: PerplexityProvider) -> None:
    server.enqueue(server.rate_limited(formatdate(time.time() + 30, usegmt=True)))
    error = _fail(provider)
    assert error.retry_after is not None and 25 < error.retry_after <= 30


@pytest.mark.parametrize("status", [408, 409, 500, 502, 503])
def test_server_errors_are_retryable(
    server: FakePerplexity, provider: PerplexityProvider, status: int
) -> None:
    server.enqueue(server.error(status, "try again", "server_error"))
    error = _fail(provider)
    assert (error.kind, error.status, error.retryable) == ("unavailable", status, True)


@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors_are_not_retryable(
    server: FakePerplexity, provider: PerplexityProvider, status: int
) -> None:
    server.enqueue(server.error(status, "Invalid API key", "authentication_error"))
    error = _fail(provider)
    assert (error.kind, error.status, error.retryable) == ("auth", status, False)


@pytest.mark.parametrize("status", [400, 404, 413, 422])
def test_request_errors_are_not_retryable(
    server: FakePerplexity, provider: PerplexityProvider, status: int
) -> None:
    server.enqueue(server.error(status, "bad request"))
    error = _fail(provider)
    assert (error.kind, error.status, error.retryable) == ("http", status, False)


def test_a_hang_becomes_a_timeout_quickly(
    server: FakePerplexity, provider: PerplexityProvider
) -> None:
    server.enqueue(Script(hang_seconds=5))
    started = time.monotonic()
    error = _fail(provider, timeout=0.3)
    assert (error.kind, error.retryable) == ("timeout", True)
    assert time.monotonic() - started < 2


def test_nothing_listening_is_a_connection_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = PerplexityProvider(_settings(f"http://127.0.0.1:{port}"))
    try:
        error = _fail(provider, timeout=2)
    finally:
        provider.close()
    assert (error.kind, error.retryable) == ("connection", True)


def test_malformed_json(server: FakePerplexity, provider: PerplexityProvider) -> None:
    server.enqueue(Script(200, raw='{"id": "resp_1", "output": ['))
    error = _fail(provider)
    assert (error.kind, error.retryable) == ("malformed", True)


def test_empty_text(server: FakePerplexity, provider: PerplexityProvider) -> None:
    server.enqueue(server.completed("   "))
    error = _fail(provider)
    assert (error.kind, error.retryable) == ("empty", True)


def test_a_failed_run_is_http_200_with_status_failed(
    server: FakePerplexity, provider: PerplexityProvider
) -> None:
    server.enqueue(server.failed_run("model crashed"))
    error = _fail(provider)
    assert (error.kind, error.retryable, error.status) == ("failed", True, None)
    assert "model crashed" in str(error)


def test_concurrent_calls_share_one_provider(server: FakePerplexity, provider: PerplexityProvider) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(
            lambda _: provider.generate(_request(), api_key=KEY, timeout=5), range(8)))
    assert all(reply.text for reply in replies)
    assert len(server.requests) == 8


def test_exactly_one_request_per_generate(
    server: FakePerplexity, provider: PerplexityProvider
) -> None:
    server.enqueue(server.error(503, "overloaded", "server_error"))
    _fail(provider)
    assert len(server.requests) == 1


def test_a_key_echoed_by_the_api_is_redacted(
    server: FakePerplexity, provider: PerplexityProvider
) -> None:
    server.enqueue(server.error(401, f"Invalid API key {KEY}", "authentication_error"))
    assert "***" in str(_fail(provider))


def test_a_long_history_is_trimmed_to_the_perplexity_budget(
    server: FakePerplexity, provider: PerplexityProvider
) -> None:
    small = dataclasses.replace(registry.get("perplexity"), history_chars=SMALL_BUDGET)
    request = dataclasses.replace(_request(), history=long_history())

    with registry.registered(small):
        provider.generate(request, api_key=KEY, timeout=5)

    [sent] = server.requests
    assert sent_markers(sent.body) == NEWEST_FOUR  # the newest turns that fit, in order
