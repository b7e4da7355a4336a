"""AnthropicProvider: the real anthropic SDK against a fake Messages server on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from email.utils import formatdate

import pytest

from actors.providers import registry
from actors.providers.anthropic import AnthropicProvider
from actors.providers.base import GenerationRequest, ProviderError, Reply, Turn
from actors.providers.prompts import MAX_OUTPUT_TOKENS
from actors.providers.registry import personas
from settings import ProviderSettings
from tests.actors.providers.history import NEWEST_FOUR, SMALL_BUDGET, long_history, sent_markers
from tests.fakes.anthropic_server import FakeAnthropic, error, message, received_key
from tests.fakes.server import Script

KEY = "sk-ant-test-0123456789abcdef"
# Not the settings default: anthropic 2.13 lists claude-sonnet-4-5 as deprecated and
# warns (DeprecationWarning) on every create(), which filterwarnings=error turns into a failure.
MODEL = "claude-sonnet-test"
EARLIER_WORDS = "a four-day week mostly moves the overtime to Thursday"
PERSONA = {p.agent: p for p in personas()}["anthropic"]


@pytest.fixture(scope="module")
def shared_server() -> Iterator[FakeAnthropic]:
    # One server per module: stopping one waits out serve_forever's 0.5 s poll.
    server = FakeAnthropic(model="claude-sonnet-test-20261101").start()
    yield server  # type: ignore[misc]
    server.stop()


@pytest.fixture
def fake(shared_server: FakeAnthropic) -> FakeAnthropic:
    shared_server.reset()
    return shared_server


@pytest.fixture
def provider(fake: FakeAnthropic) -> Iterator[AnthropicProvider]:
    provider = AnthropicProvider(_settings(fake.base_url))
    yield provider
    provider.close()


def _settings(base_url: str) -> ProviderSettings:
    return ProviderSettings(
        name="anthropic", api_keys=(KEY,), base_url=base_url, model=MODEL,
        requests_per_minute=60, fallbacks=(),
    )


def _request() -> GenerationRequest:
    history = (
        Turn("openai", "Orion", "A four-day week is a cheap retention tool."),
        Turn("anthropic", "Clio", "Only if the work itself shrinks."),
        Turn("perplexity", "Scout", f"The pilots suggest {EARLIER_WORDS}."),
    )
    return GenerationRequest(
        persona=PERSONA, topic="Is the four-day week worth it?", history=history,
        seq=4, messages_per_round=16, deadline=time.time() + 30,
    )


def _failure(provider: AnthropicProvider, *, timeout: float = 5.0) -> ProviderError:
    """Run one generate that must fail; check the key never leaks into the error."""
    with pytest.raises(ProviderError) as caught:
        provider.generate(_request(), api_key=KEY, timeout=timeout)
    assert KEY not in str(caught.value)
    assert KEY not in repr(caught.value)
    return caught.value


def test_success_sends_one_message(fake: FakeAnthropic, provider: AnthropicProvider) -> None:
    fake.reply = "Clio:  Scout, overtime   on Thursday\nis still overtime."

    reply = provider.generate(_request(), api_key=KEY, timeout=5.0)

    assert len(fake.requests) == 1
    sent = fake.requests[0]
    assert (sent.method, sent.path) == ("POST", "/v1/messages")
    assert received_key(sent) == KEY
    assert sent.body["model"] == MODEL
    assert "You are Clio" in sent.body["system"]
    messages = sent.body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert all(m["role"] != "system" for m in messages)
    assert f"Scout: The pilots suggest {EARLIER_WORDS}." in messages[-1]["content"]
    assert sent.body["max_tokens"] == MAX_OUTPUT_TOKENS
    assert not {"temperature", "top_p", "top_k"} & sent.body.keys()
    assert reply == Reply(
        text="Scout, overtime on Thursday is still overtime.",
        model="claude-sonnet-test-20261101", prompt_tokens=150, completion_tokens=70,
    )


def test_text_blocks_are_joined_and_others_ignored(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    body = message("Orion is right that it retains people, ", "but only where work shrinks.")
    body["content"].insert(0, {"type": "thinking", "thinking": "hidden", "signature": "x"})
    fake.enqueue(Script(200, body))

    reply = provider.generate(_request(), api_key=KEY, timeout=5.0)

    assert reply.text == "Orion is right that it retains people, but only where work shrinks."


def test_reply_can_echo_the_request(fake: FakeAnthropic, provider: AnthropicProvider) -> None:
    fake.reply = lambda received: f"You said: {received.body['messages'][-1]['content']}"

    reply = provider.generate(_request(), api_key=KEY, timeout=5.0)

    assert EARLIER_WORDS in reply.text


def test_concurrent_calls_share_one_client(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
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


def test_429_is_retryable_with_retry_after(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    fake.enqueue(error(429, "rate_limit_error", headers={"Retry-After": "12"}))

    err = _failure(provider)

    assert (err.kind, err.status, err.retryable, err.retry_after) == ("unavailable", 429, True, 12.0)
    assert str(err) == "anthropic: 429 rate_limit_error"
    assert len(fake.requests) == 1


def test_retry_after_as_an_http_date(fake: FakeAnthropic, provider: AnthropicProvider) -> None:
    in_30_s = formatdate(time.time() + 30, usegmt=True)
    fake.enqueue(error(429, "rate_limit_error", headers={"Retry-After": in_30_s}))

    err = _failure(provider)

    assert err.retry_after is not None and 25 <= err.retry_after <= 31


def test_spend_limit_429_is_not_retryable(fake: FakeAnthropic, provider: AnthropicProvider) -> None:
    fake.enqueue(error(429, "rate_limit_error", error_code="enforced_spend_limit_reached",
                       headers={"Retry-After": "3600"}))

    err = _failure(provider)

    assert (err.kind, err.status, err.retryable) == ("spend_limit", 429, False)
    assert str(err) == "anthropic: 429 enforced_spend_limit_reached"


@pytest.mark.parametrize(
    ("status", "type"),
    [(408, "timeout_error"), (409, "conflict_error"), (500, "api_error"),
     (503, "api_error"), (529, "overloaded_error")],
)
def test_transient_statuses_are_retryable_and_not_retried_by_the_sdk(
    fake: FakeAnthropic, provider: AnthropicProvider, status: int, type: str
) -> None:
    fake.enqueue(error(status, type))

    err = _failure(provider)

    assert (err.kind, err.status, err.retryable) == ("unavailable", status, True)
    assert str(err) == f"anthropic: {status} {type}"
    assert len(fake.requests) == 1  # max_retries=0: our chain owns the only retry loop


@pytest.mark.parametrize(
    ("status", "type"), [(401, "authentication_error"), (403, "permission_error")]
)
def test_auth_errors_rest_the_key(
    fake: FakeAnthropic, provider: AnthropicProvider, status: int, type: str
) -> None:
    fake.enqueue(error(status, type, f"invalid key {KEY}"))

    err = _failure(provider)

    assert (err.kind, err.status, err.retryable) == ("auth", status, False)


@pytest.mark.parametrize("status", [400, 404, 413, 422])
def test_request_errors_are_not_retryable(
    fake: FakeAnthropic, provider: AnthropicProvider, status: int
) -> None:
    fake.enqueue(error(status, "invalid_request_error"))

    err = _failure(provider)

    assert (err.kind, err.status, err.retryable) == ("http", status, False)


def test_a_hang_times_out_quickly(fake: FakeAnthropic, provider: AnthropicProvider) -> None:
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
    provider = AnthropicProvider(_settings(f"http://127.0.0.1:{port}"))
    try:
        err = _failure(provider)
    finally:
        provider.close()

    assert (err.kind, err.retryable) == ("connection", True)


@pytest.mark.parametrize(
    "script",
    [Script(raw="{not json"), Script(200, {"id": "msg_x", "type": "message"}),
     Script(200, [1, 2])],
    ids=["not-json", "no-content", "not-an-object"],
)
def test_malformed_answers(
    fake: FakeAnthropic, provider: AnthropicProvider, script: Script
) -> None:
    fake.enqueue(script)

    err = _failure(provider)

    assert (err.kind, err.retryable) == ("malformed", True)


@pytest.mark.parametrize("texts", [(), ("",), ("  \n ",)], ids=["no-blocks", "empty", "blank"])
def test_empty_text(
    fake: FakeAnthropic, provider: AnthropicProvider, texts: tuple[str, ...]
) -> None:
    fake.enqueue(Script(200, message(*texts, stop_reason="max_tokens")))

    err = _failure(provider)

    assert (err.kind, err.retryable) == ("empty", True)
    assert str(err) == "anthropic: empty reply (max_tokens)"


def test_a_refusal_is_blocked(fake: FakeAnthropic, provider: AnthropicProvider) -> None:
    fake.enqueue(Script(200, message(stop_reason="refusal")))

    err = _failure(provider)

    assert (err.kind, err.retryable) == ("blocked", False)


def test_a_wrong_key_is_refused_by_the_fake(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    fake.api_key = "sk-ant-the-right-key"

    err = _failure(provider)

    assert (err.kind, err.status, str(err)) == ("auth", 401, "anthropic: 401 authentication_error")


def test_the_fake_also_accepts_x_api_key(fake: FakeAnthropic) -> None:
    # anthropic 2.x sends a bearer token; older clients and curl users send x-api-key.
    fake.api_key = KEY
    body = json.dumps({"model": MODEL, "max_tokens": 10, "messages": []}).encode()
    post = urllib.request.Request(
        f"{fake.url}/v1/messages", data=body, method="POST",
        headers={"x-api-key": KEY, "content-type": "application/json"},
    )
    with urllib.request.urlopen(post, timeout=5) as response:
        assert json.load(response)["type"] == "message"


def test_missing_key_fails_without_a_request(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    with pytest.raises(ProviderError) as caught:
        provider.generate(_request(), api_key="", timeout=5.0)

    assert (caught.value.kind, caught.value.retryable) == ("auth", False)
    assert fake.requests == []


def test_a_long_history_is_trimmed_to_the_anthropic_budget(
    fake: FakeAnthropic, provider: AnthropicProvider
) -> None:
    small = dataclasses.replace(registry.get("anthropic"), history_chars=SMALL_BUDGET)
    request = dataclasses.replace(_request(), history=long_history())

    with registry.registered(small):
        provider.generate(request, api_key=KEY, timeout=5.0)

    [sent] = fake.requests
    assert sent_markers(sent.body) == NEWEST_FOUR  # the newest turns that fit, in order
