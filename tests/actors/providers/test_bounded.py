"""Whole-call deadlines and size caps: the four real SDKs against hostile fake servers.

A fake that trickles (headers at once, then a byte every 50 ms) never trips an SDK's read
timeout, and one that streams 30 MB is read whole by an unbounded client; through the
gateway, both end within the call's time as that provider's failure, with the socket
closed and the memory bounded.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import time
import tracemalloc
import zlib
from collections.abc import Iterator

import pytest

from actors.clock import SystemClock
from actors.providers import registry
from actors.providers.anthropic import AnthropicProvider
from actors.providers.base import GenerationRequest, Provider
from actors.providers.bounded import MAX_REPLY_BYTES
from actors.providers.gateway import ProviderGateway
from actors.providers.gemini import GeminiProvider
from actors.providers.openai import OpenAIProvider
from actors.providers.perplexity import PerplexityProvider
from actors.providers.registry import persona_for
from actors.providers.resilience import CircuitBreaker, CircuitState, RateLimiter
from settings import ProviderSettings
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.openai_server import FakeOpenAI, completion
from tests.fakes.perplexity_server import FakePerplexity
from tests.fakes.server import FILL, FakeServer, Oversize, Script, Trickle
from tests.service import ROOT, unreachable_providers_env

KEY = "sk-bounded-SECRET"
FAKES: dict[str, type[FakeServer]] = {
    "openai": FakeOpenAI, "anthropic": FakeAnthropic, "perplexity": FakePerplexity, "gemini": FakeGemini,
}
PROVIDER_CLASSES: dict[str, type] = {
    "openai": OpenAIProvider, "anthropic": AnthropicProvider,
    "perplexity": PerplexityProvider, "gemini": GeminiProvider,
}
MODELS = {"openai": "gpt-5-mini", "anthropic": "claude-test", "perplexity": "perplexity/sonar",
          "gemini": "gemini-2.5-flash"}
BIG = 30 * 1024 * 1024


def _base_url(name: str, fake: FakeServer) -> str:
    return f"{fake.url}/v1" if name == "openai" else fake.url


def _gateway(name: str, fake: FakeServer) -> ProviderGateway:
    clock = SystemClock()
    settings = ProviderSettings(
        name=name, api_keys=(KEY,), base_url=_base_url(name, fake), model=MODELS[name],
        requests_per_minute=600, fallbacks=(),
    )
    provider: Provider = PROVIDER_CLASSES[name](settings)
    return ProviderGateway(
        settings, provider, clock,
        breaker=CircuitBreaker(3, 60.0, clock), limiter=RateLimiter(600, clock),
    )


@pytest.fixture(params=registry.names())
def wire(request: pytest.FixtureRequest) -> Iterator[tuple[FakeServer, ProviderGateway]]:
    name = request.param
    with FAKES[name]() as fake:
        gateway = _gateway(name, fake)
        try:
            yield fake, gateway
        finally:
            if gateway.provider is not None:
                gateway.provider.close()  # type: ignore[attr-defined]


def _request(agent: str = "openai") -> GenerationRequest:
    return GenerationRequest(persona_for(agent), "Night trains", (), 1, 16, time.time() + 30)


def test_the_fakes_answer_normally_through_the_bounded_transport(
    wire: tuple[FakeServer, ProviderGateway],
) -> None:
    _, gateway = wire
    result = gateway.call(_request(), api_key=KEY, timeout=5.0)
    assert result.error is None and result.reply is not None and result.reply.text


def test_a_trickling_server_costs_the_call_its_timeout_not_more(
    wire: tuple[FakeServer, ProviderGateway],
) -> None:
    fake, gateway = wire
    # Warm up: the SDK client is built on the first call, which takes CPU time of its own.
    assert gateway.call(_request(), api_key=KEY, timeout=10.0).error is None
    fake.mode = Trickle(0.05)  # about 25 s for a whole answer; each byte well inside a read timeout
    started = time.monotonic()
    result = gateway.call(_request(), api_key=KEY, timeout=1.0)
    elapsed = time.monotonic() - started

    assert result.error is not None and result.error.kind == "timeout", result.error
    # Unbounded, the call would last the whole trickle (about 25 s); the slack is for a
    # loaded machine's CPU time around the deadline, not for reading.
    assert elapsed < 1.0 + 1.0
    # The socket was closed, not abandoned: the fake's next byte found no reader.
    assert fake.client_hung_up.wait(5.0)
    assert gateway.health().last_error == "timeout"


def test_an_oversized_reply_is_cut_off_with_bounded_memory(
    wire: tuple[FakeServer, ProviderGateway],
) -> None:
    fake, gateway = wire
    fake.mode = Oversize(BIG)
    tracemalloc.start()
    try:
        result = gateway.call(_request(), api_key=KEY, timeout=20.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert result.error is not None and result.error.kind == "too_large", result.error
    assert result.error.retryable  # counts against the circuit like a 5xx
    assert peak < 8 * MAX_REPLY_BYTES + 2 * 1024 * 1024, peak  # 30 MB never held
    assert fake.client_hung_up.wait(5.0)
    assert fake.bytes_sent < BIG // 3  # the rest was never sent: the socket was closed


def test_three_oversized_replies_open_the_circuit(wire: tuple[FakeServer, ProviderGateway]) -> None:
    fake, gateway = wire
    fake.mode = Oversize(4 * MAX_REPLY_BYTES)
    for _ in range(3):
        assert gateway.call(_request(), api_key=KEY, timeout=10.0).error is not None
    assert gateway.breaker.state is CircuitState.OPEN


def _gzip_stream(head: bytes, filler: bytes, repeat: int, tail: bytes) -> bytes:
    """A gzip body of ``head + filler * repeat + tail``, compressed without building it."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    parts = [compressor.compress(head)]
    parts += [compressor.compress(filler) for _ in range(repeat)]
    parts += [compressor.compress(tail), compressor.flush()]
    return b"".join(parts)


def test_a_compression_bomb_is_cut_off_after_decoding_with_bounded_memory() -> None:
    with FakeOpenAI() as fake:
        gateway = _gateway("openai", fake)
        head, _, tail = json.dumps(completion(FILL)).encode().partition(FILL.encode())
        bomb = _gzip_stream(head, b"word " * 13_107, BIG // 65_535, tail)  # 30 MB in ~30 KB
        fake.enqueue(Script(200, raw=bomb, headers={"Content-Encoding": "gzip"}))
        tracemalloc.start()
        try:
            result = gateway.call(_request(), api_key=KEY, timeout=20.0)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            gateway.provider.close()  # type: ignore[union-attr]
    assert len(bomb) < 200_000
    assert result.error is not None and result.error.kind == "too_large", result.error
    assert peak < 8 * MAX_REPLY_BYTES + 2 * 1024 * 1024, peak


def test_a_small_gzip_reply_is_decoded_and_accepted() -> None:
    text = "Night trains win on sleep, lose on speed, and both matter."
    with FakeOpenAI() as fake:
        gateway = _gateway("openai", fake)
        body = gzip.compress(json.dumps(completion(text)).encode())
        fake.enqueue(Script(200, raw=body, headers={"Content-Encoding": "gzip"}))
        try:
            result = gateway.call(_request(), api_key=KEY, timeout=5.0)
        finally:
            gateway.provider.close()  # type: ignore[union-attr]
    assert result.error is None and result.reply is not None
    assert result.reply.text == text
    assert fake.requests[0].header("accept-encoding") == "identity"


def test_junk_replies_count_against_the_circuit() -> None:
    with FakeAnthropic(reply="ok") as fake:  # too short for the quality gate, every time
        gateway = _gateway("anthropic", fake)
        try:
            results = [gateway.call(_request("anthropic"), api_key=KEY, timeout=5.0) for _ in range(3)]
        finally:
            gateway.provider.close()  # type: ignore[union-attr]
    assert [r.error.kind if r.error else None for r in results] == ["quality"] * 3
    assert all(r.reply is not None for r in results)  # kept: a refused reply was paid for
    assert gateway.breaker.state is CircuitState.OPEN


def _clear_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def test_an_egress_proxy_from_the_environment_is_used_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    # A client given its own transport ignores HTTP(S)_PROXY; the bounded transport must not.
    _clear_proxy_env(monkeypatch)
    with FakeOpenAI() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        settings = ProviderSettings(
            name="openai", api_keys=(KEY,), base_url="http://upstream.invalid/v1", model="gpt-5-mini",
            requests_per_minute=600, fallbacks=(),
        )
        clock = SystemClock()
        gateway = ProviderGateway(settings, OpenAIProvider(settings), clock,
                                  breaker=CircuitBreaker(3, 60.0, clock), limiter=RateLimiter(600, clock))
        proxy.enqueue(Script(200, completion("Night trains win on sleep and lose on speed, mostly.")))
        proxy.enqueue(FakeServer.trickled(Script(200, completion("Too slow to matter at all, sadly."))))
        try:
            answered = gateway.call(_request(), api_key=KEY, timeout=5.0)
            started = time.monotonic()
            trickled = gateway.call(_request(), api_key=KEY, timeout=1.0)
            elapsed = time.monotonic() - started
        finally:
            gateway.provider.close()  # type: ignore[union-attr]
    assert answered.error is None, answered.error
    assert proxy.requests[0].path == "http://upstream.invalid/v1/chat/completions"  # absolute form
    assert trickled.error is not None and trickled.error.kind == "timeout"
    assert elapsed < 2.0


def test_no_proxy_hosts_are_reached_directly(monkeypatch: pytest.MonkeyPatch) -> None:
    _clear_proxy_env(monkeypatch)
    with FakeOpenAI() as proxy, FakeOpenAI() as direct:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        gateway = _gateway("openai", direct)
        try:
            result = gateway.call(_request(), api_key=KEY, timeout=5.0)
        finally:
            gateway.provider.close()  # type: ignore[union-attr]
    assert result.error is None
    assert len(direct.requests) == 1 and proxy.requests == []


SHARED_TLS_PROBE = """
import gc, json, ssl, sys, time
from actors.providers import catalog, registry
from actors.providers.base import GenerationRequest, ProviderError
from actors.providers.lazy import LazyProvider
from actors.providers.registry import persona_for
from settings import Settings
settings = Settings.from_env(json.loads(sys.argv[1]))
providers = []
for name, provider_settings in settings.providers.items():
    provider = LazyProvider(provider_settings, registry.get(name).provider_class)
    request = GenerationRequest(persona_for(name), "Night trains", (), 1, 16, time.time() + 30)
    try:  # builds the provider's client for this key, as a round does
        provider.generate(request, api_key="sk-probe", timeout=2.0)
    except ProviderError:
        pass  # nothing listens there
    try:  # and the model watch's own client
        getattr(catalog, f"list_{name}")(provider_settings, "sk-probe", 2.0)
    except Exception:
        pass
    providers.append(provider)
gc.collect()
print(sum(isinstance(o, ssl.SSLContext) for o in gc.get_objects()))
"""


def test_every_client_shares_one_tls_context() -> None:
    """Each TLS context holds its own parsed copy of the CA store (about 1.6 MiB of RSS):
    the four providers' clients, the model watch's and Gemini's spare async and websocket
    clients share the process's one (``bounded.tls_context``) instead of one each."""
    result = subprocess.run(
        [sys.executable, "-c", SHARED_TLS_PROBE, json.dumps(unreachable_providers_env())],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "1"
