"""OpenAIProvider: the real openai SDK against a fake Chat Completions server on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from collections.abc import Iterator
from email.utils import formatdate

import pytest

from actors.providers import registry
from actors.providers.base import GenerationRequest, ProviderError, Reply, Turn
from actors.providers.openai import OpenAIProvider
from actors.providers.prompts import MAX_OUTPUT_TOKENS_REASONING
from actors.providers.registry import personas
from settings import ProviderSettings
from tests.actors.providers.history import NEWEST_FOUR, SMALL_BUDGET, long_history, sent_markers
from tests.fakes.openai_server import FakeOpenAI, completion, error
from tests.fakes.server import Script

KEY = "sk-test-openai-0123456789abcdef"
MODEL = "gpt-5-mini"
EARLIER_WORDS = "lighthouse keepers knew the sea better than any sensor"
PERSONA = {p.agent: p for p in personas()}["openai"]


@pytest.fixture(scope="module")
def shared_server() -> Iterator[FakeOpenAI]:
    # One server per module: stopping one waits out serve_forever's 0.5 s poll.
    server = FakeOpenAI(model="gpt-5-mini-2026-08-07").start()
    yield server  # type: ignore[misc]
    server.stop()


@pytest.fixture
def fake(shared_server: FakeOpenAI) -> FakeOpenAI:
    shared_server.reset()
    return shared_server


@pytest.fixture
def provider(fake: FakeOpenAI) -> Iterator[OpenAIProvider]:
    provider = OpenAIProvider(_settings(fake.base_url))
    yield provider
    provider.close()


def _settings(base_url: str) -> ProviderSettings:
    return ProviderSettings(
        name="openai", api_keys=(KEY,), base_url=base_url, model=MODEL,
        requests_per_minute=60, fallbacks=(),
    )


def _request() -> GenerationRequest:
    history = (
        Turn("openai", "Orion", "Automation cut the cost of every light by ninety percent."),
        Turn("anthropic", "Clio", f"Yet {EARLIER_WORDS}."),
    )
    return GenerationRequest(
        persona=PERSONA, topic="Should lighthouses be automated?", history=history,
        seq=3, messages_per_round=16, deadline=time.time() + 30,
    )


def _failure(provider: OpenAIProvider, *, timeout: float = 5.0) -> ProviderError:
    """Run one generate that must fail; check the key never leaks into the error."""
    with pytest.raises(ProviderError) as caught:
        provider.generate(_request(), api_key=KEY, timeout=timeout)
    assert KEY not in str(caught.value)
    assert KEY not in repr(caught.value)
    return caught.value


def test_success_sends_one_chat_completion(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    fake.reply = "Orion:   Clio, sensors   never sleep.\n\nThat is the point."

    reply = provider.generate(_request(), api_key=KEY, timeout=5.0)

    assert len(fake.requests) == 1
    sent = fake.requests[0]
    assert (sent.method, sent.path) == ("POST", "/v1/chat/completions")
    assert sent.header("authorization") == f"Bearer {KEY}"
    assert sent.body["model"] == MODEL
    messages = sent.body["messages"]
    assert messages[0]["role"] == "system"
    assert "You are Orion" in messages[0]["content"]
    assert [m["role"] for m in messages[1:]] == ["user", "assistant", "user"]
    assert f"Clio: Yet {EARLIER_WORDS}." in messages[-1]["content"]
    assert sent.body["max_completion_tokens"] == MAX_OUTPUT_TOKENS_REASONING
    assert "max_tokens" not in sent.body
    assert "temperature" not in sent.body
    assert reply == Reply(
        text="Clio, sensors never sleep. That is the point.",
        model="gpt-5-mini-2026-08-07", prompt_tokens=120, completion_tokens=60,
    )


def test_reply_can_echo_the_request(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    fake.reply = lambda received: f"You said: {received.body['messages'][-1]['content']}"

    reply = provider.generate(_request(), api_key=KEY, timeout=5.0)

    assert EARLIER_WORDS in reply.text


def test_concurrent_calls_share_one_client(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    replies: list[Reply] = []
    def call() -> None:
        replies.append(provider.generate(_request(), api_key=KEY, timeout=5.0))

    threads = [threading.Thread(target=call) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert len(replies) == 6
    assert len(provider._clients) == 1


def test_each_key_gets_its_own_client(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    provider.generate(_request(), api_key=KEY, timeout=5.0)
    provider.generate(_request(), api_key="sk-second-key", timeout=5.0)

    assert [r.header("authorization") for r in fake.requests] == [
        f"Bearer {KEY}", "Bearer sk-second-key",
    ]


def test_429_is_retryable_with_retry_after(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    fake.enqueue(error(429, code="rate_limit_exceeded", headers={"Retry-After": "7"}))

    err = _failure(provider)

    assert (err.kind, err.status, err.retryable, err.retry_after) == ("unavailable", 429, True, 7.0)
    assert str(err) == "openai: 429 rate_limit_exceeded"
    assert len(fake.requests) == 1


def test_retry_after_as_an_http_date(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    in_30_s = formatdate(time.time() + 30, usegmt=True)
    fake.enqueue(error(429, code="rate_limit_exceeded", headers={"Retry-After": in_30_s}))

    err = _failure(provider)

    assert err.retry_after is not None and 25 <= err.retry_after <= 31


def test_quota_429_is_not_retryable(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    fake.enqueue(error(429, code="insufficient_quota", type="insufficient_quota"))

    err = _failure(provider)

    assert (err.kind, err.status, err.retryable) == ("spend_limit", 429, False)


@pytest.mark.parametrize("status", [408, 409, 500, 502, 503])
def test_transient_statuses_are_retryable_and_not_retried_by_the_sdk(
    fake: FakeOpenAI, provider: OpenAIProvider, status: int
) -> None:
    fake.enqueue(error(status, code="server_error", type="server_error"))

    err = _failure(provider)

    assert (err.kind, err.status, err.retryable) == ("unavailable", status, True)
    assert len(fake.requests) == 1  # max_retries=0: our chain owns the only retry loop


@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors_rest_the_key(fake: FakeOpenAI, provider: OpenAIProvider, status: int) -> None:
    # Real OpenAI echoes part of the key in its 401 message; ours must not carry it.
    fake.enqueue(Script(status, {"error": {"message": f"Incorrect API key provided: {KEY}",
                                           "type": "invalid_request_error", "param": None,
                                           "code": KEY}}))

    err = _failure(provider)

    assert (err.kind, err.status, err.retryable) == ("auth", status, False)


@pytest.mark.parametrize("status", [400, 404, 413, 422])
def test_request_errors_are_not_retryable(
    fake: FakeOpenAI, provider: OpenAIProvider, status: int
) -> None:
    fake.enqueue(error(status, code="unsupported_parameter"))

    err = _failure(provider)

    assert (err.kind, err.status, err.retryable) == ("http", status, False)
    assert str(err) == f"openai: {status} unsupported_parameter"


def test_a_hang_times_out_quickly(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    fake.enqueue(Script(hang_seconds=5))

    started = time.monotonic()
    err = _failure(provider, timeout=0.3)

    assert time.monotonic() - started < 2.0
    assert (err.kind, err.retryable) == ("timeout", True)
    assert len(fake.requests) == 1


def test_connection_refused_is_retryable() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nobody listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = OpenAIProvider(_settings(f"http://127.0.0.1:{port}/v1"))
    try:
        err = _failure(provider)
    finally:
        provider.close()

    assert (err.kind, err.retryable) == ("connection", True)


@pytest.mark.parametrize(
    "script",
    [Script(raw="{not json"), Script(200, {"id": "chatcmpl-x", "object": "chat.completion"}),
     Script(200, {"choices": []}), Script(200, [1, 2])],
    ids=["not-json", "no-choices", "empty-choices", "not-an-object"],
)
def test_malformed_answers(fake: FakeOpenAI, provider: OpenAIProvider, script: Script) -> None:
    fake.enqueue(script)

    err = _failure(provider)

    assert (err.kind, err.retryable) == ("malformed", True)


@pytest.mark.parametrize("text", [None, "", "   \n "])
def test_empty_text(fake: FakeOpenAI, provider: OpenAIProvider, text: str | None) -> None:
    fake.enqueue(Script(200, completion(text, finish_reason="length")))

    err = _failure(provider)

    assert (err.kind, err.retryable) == ("empty", True)
    assert str(err) == "openai: empty reply (length)"


def test_content_filter_is_blocked(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    fake.enqueue(Script(200, completion(None, finish_reason="content_filter")))

    err = _failure(provider)

    assert (err.kind, err.retryable) == ("blocked", False)


def test_missing_key_fails_without_a_request(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    with pytest.raises(ProviderError) as caught:
        provider.generate(_request(), api_key="", timeout=5.0)

    assert (caught.value.kind, caught.value.retryable) == ("auth", False)
    assert fake.requests == []


def test_a_wrong_key_is_refused_by_the_fake(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    fake.api_key = "sk-the-right-key"

    err = _failure(provider)

    assert (err.kind, err.status, str(err)) == ("auth", 401, "openai: 401 invalid_api_key")


def test_a_long_history_is_trimmed_to_the_openai_budget(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    small = dataclasses.replace(registry.get("openai"), history_chars=SMALL_BUDGET)
    request = dataclasses.replace(_request(), history=long_history())

    with registry.registered(small):
        provider.generate(request, api_key=KEY, timeout=5.0)

    [sent] = fake.requests
    assert sent_markers(sent.body) == NEWEST_FOUR  # the newest turns that fit, in order
