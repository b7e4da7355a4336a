"""GeminiProvider against a fake Gemini API on 127.0.0.1, through the real google-genai SDK."""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from actors.providers import registry
from actors.providers.base import GenerationRequest, ProviderError, Turn
from actors.providers.gemini import GeminiProvider
from actors.providers.registry import persona_for
from settings import ProviderSettings
from tests.actors.providers.history import NEWEST_FOUR, SMALL_BUDGET, long_history, sent_markers
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.server import Script

ROOT = Path(__file__).resolve().parents[3]
KEY = "AIza-test-secret-0123456789"
MODEL = "gemini-2.5-flash"
EARLIER_WORDS = "offices will become places for rituals, not routines"


@pytest.fixture(scope="module")
def shared_server() -> Iterator[FakeGemini]:
    # One server per module: stopping one waits out serve_forever's 0.5 s poll.
    with FakeGemini() as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture
def server(shared_server: FakeGemini) -> FakeGemini:
    shared_server.reset()
    return shared_server


@pytest.fixture
def provider(server: FakeGemini) -> Iterator[GeminiProvider]:
    provider = GeminiProvider(_settings(server.url))
    yield provider
    provider.close()


def _settings(base_url: str) -> ProviderSettings:
    return ProviderSettings(
        name="gemini", api_keys=(KEY,), base_url=base_url, model=MODEL,
        requests_per_minute=60, fallbacks=(),
    )


def _request() -> GenerationRequest:
    history = (
        Turn("openai", "Orion", "Hybrid schedules are the practical middle ground."),
        Turn("gemini", "Lyra", "Imagine cities redrawn around neighbourhood hubs."),
        Turn("anthropic", "Clio", f"Perhaps {EARLIER_WORDS}."),
    )
    return GenerationRequest(
        persona=persona_for("gemini"), topic="Is remote work here to stay?",
        history=history, seq=4, messages_per_round=16, deadline=time.time() + 30,
    )


def _fail(provider: GeminiProvider, timeout: float = 5.0) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        provider.generate(_request(), api_key=KEY, timeout=timeout)
    assert KEY not in str(info.value)
    return info.value


def test_success_sends_the_transcript_and_parses_the_reply(
    server: FakeGemini, provider: GeminiProvider
) -> None:
    reply = provider.generate(_request(), api_key=KEY, timeout=5)

    [received] = server.requests
    assert received.path == f"/v1beta/models/{MODEL}:generateContent"
    assert received.header("x-goog-api-key") == KEY
    body = received.body
    assert "Lyra" in body["systemInstruction"]["parts"][0]["text"]
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert EARLIER_WORDS in body["contents"][-1]["parts"][0]["text"]
    assert body["contents"][-1]["parts"][0]["text"].startswith("Clio: ")
    assert body["generationConfig"]["maxOutputTokens"] == 400
    # google-genai 3.6 passes ThinkingConfig through in snake_case; proto3 JSON accepts both.
    thinking = body["generationConfig"]["thinkingConfig"]
    assert thinking.get("thinkingBudget", thinking.get("thinking_budget")) == 0
    assert reply.text.startswith("Picture offices as festivals")  # "Lyra:" label removed
    assert reply.model == "gemini-2.5-flash-001"
    assert (reply.prompt_tokens, reply.completion_tokens) == (640, 88)
    assert reply.cost_usd is None and reply.citations == ()


def test_model_falls_back_to_the_configured_one(
    server: FakeGemini, provider: GeminiProvider
) -> None:
    body = server.response_body("A future of hubs.")
    del body["modelVersion"]
    server.enqueue(Script(200, body))
    assert provider.generate(_request(), api_key=KEY, timeout=5).model == MODEL


def test_rate_limit_is_retryable_with_retry_after(
    server: FakeGemini, provider: GeminiProvider
) -> None:
    server.enqueue(server.rate_limited("37s"))
    error = _fail(provider)
    assert (error.kind, error.status, error.retryable, error.retry_after) == ("unavailable", 429, True, 37.0)
    assert "RESOURCE_EXHAUSTED" in str(error)


def test_retry_after_header_wins(server: FakeGemini, provider: GeminiProvider) -> None:
    server.enqueue(server.error(429, "slow down", headers={"Retry-After": "3"}))
    assert _fail(provider).retry_after == 3.0


@pytest.mark.parametrize("status", [500, 503, 504])
def test_server_errors_are_retryable(
    server: FakeGemini, provider: GeminiProvider, status: int
) -> None:
    server.enqueue(server.error(status, "The model is overloaded."))
    error = _fail(provider)
    assert (error.kind, error.status, error.retryable) == ("unavailable", status, True)


@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors_are_not_retryable(
    server: FakeGemini, provider: GeminiProvider, status: int
) -> None:
    server.enqueue(server.error(status, "Permission denied.", "PERMISSION_DENIED"))
    error = _fail(provider)
    assert (error.kind, error.status, error.retryable) == ("auth", status, False)


def test_an_invalid_key_is_auth_though_google_says_400(
    server: FakeGemini, provider: GeminiProvider
) -> None:
    server.enqueue(server.invalid_key())
    error = _fail(provider)
    assert (error.kind, error.status, error.retryable) == ("auth", 400, False)


@pytest.mark.parametrize("status", [400, 404, 413, 422])
def test_request_errors_are_not_retryable(
    server: FakeGemini, provider: GeminiProvider, status: int
) -> None:
    server.enqueue(server.error(status, "Request contains an invalid argument."))
    error = _fail(provider)
    assert (error.kind, error.status, error.retryable) == ("http", status, False)


def test_a_hang_becomes_a_timeout_quickly(server: FakeGemini, provider: GeminiProvider) -> None:
    server.enqueue(Script(hang_seconds=5))
    started = time.monotonic()
    error = _fail(provider, timeout=0.3)
    assert (error.kind, error.retryable) == ("timeout", True)
    assert time.monotonic() - started < 2


def test_nothing_listening_is_a_connection_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = GeminiProvider(_settings(f"http://127.0.0.1:{port}"))
    try:
        error = _fail(provider, timeout=2)
    finally:
        provider.close()
    assert (error.kind, error.retryable) == ("connection", True)


def test_malformed_json(server: FakeGemini, provider: GeminiProvider) -> None:
    server.enqueue(Script(200, raw='{"candidates": [{"content": '))
    error = _fail(provider)
    assert (error.kind, error.retryable) == ("malformed", True)


def test_empty_text(server: FakeGemini, provider: GeminiProvider) -> None:
    server.enqueue(server.success("", finish_reason="MAX_TOKENS"))
    error = _fail(provider)
    assert (error.kind, error.retryable) == ("empty", True)
    assert "MAX_TOKENS" in str(error)


def test_a_blocked_prompt(server: FakeGemini, provider: GeminiProvider) -> None:
    server.enqueue(server.blocked_prompt("PROHIBITED_CONTENT"))
    error = _fail(provider)
    assert (error.kind, error.retryable) == ("blocked", False)
    assert "PROHIBITED_CONTENT" in str(error)


def test_a_safety_stop_without_text_is_blocked(
    server: FakeGemini, provider: GeminiProvider
) -> None:
    server.enqueue(server.safety_stop())
    error = _fail(provider)
    assert (error.kind, error.retryable) == ("blocked", False)
    assert "SAFETY" in str(error)


def test_concurrent_calls_share_one_provider(server: FakeGemini, provider: GeminiProvider) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(
            lambda _: provider.generate(_request(), api_key=KEY, timeout=5), range(8)))
    assert all(reply.text for reply in replies)
    assert len(server.requests) == 8


def test_exactly_one_request_per_generate(server: FakeGemini, provider: GeminiProvider) -> None:
    server.enqueue(server.error(503, "The model is overloaded."))
    _fail(provider)
    assert len(server.requests) == 1


def test_one_client_per_key_is_reused(server: FakeGemini, provider: GeminiProvider) -> None:
    provider.generate(_request(), api_key=KEY, timeout=5)
    provider.generate(_request(), api_key=KEY, timeout=5)
    provider.generate(_request(), api_key="AIza-other-key", timeout=5)
    assert len(provider._clients) == 2
    assert [r.header("x-goog-api-key") for r in server.requests] == [KEY, KEY, "AIza-other-key"]


def test_a_key_echoed_by_the_api_is_redacted(server: FakeGemini, provider: GeminiProvider) -> None:
    server.enqueue(server.error(403, f"Key {KEY} is suspended.", "PERMISSION_DENIED"))
    assert "***" in str(_fail(provider))


def test_importing_emits_no_warnings() -> None:
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", "import actors.providers.gemini"],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr


def test_a_long_history_is_trimmed_to_the_gemini_budget(
    server: FakeGemini, provider: GeminiProvider
) -> None:
    small = dataclasses.replace(registry.get("gemini"), history_chars=SMALL_BUDGET)
    request = dataclasses.replace(_request(), history=long_history())

    with registry.registered(small):
        provider.generate(request, api_key=KEY, timeout=5)

    [sent] = server.requests
    assert sent_markers(sent.body) == NEWEST_FOUR  # the newest turns that fit, in order
