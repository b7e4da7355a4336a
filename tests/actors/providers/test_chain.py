"""ProviderChain: retries, fallbacks, deadlines, circuits, budget and the quality gate.

The providers here are small scripted fakes of our own ``Provider`` seam; timing runs on
an injected clock except where a real blocking wait is the point of the test.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable

import pytest

from actors import wire
from actors.clock import SystemClock
from actors.providers import registry
from actors.providers.base import GenerationRequest, Outcome, ProviderError, Reply, Source, Turn
from actors.providers.budget import DailyBudget
from actors.providers.chain import ProviderChain
from actors.providers.errors import ErrorKind, classify_status
from actors.providers.gateway import Gateways, build_gateways
from actors.providers.pricing import PriceTable
from actors.providers.registry import persona_for
from actors.providers.resilience import Backoff, CircuitState
from settings import ProviderSettings, Settings

MODELS = {"openai": "gpt-5-mini", "anthropic": "claude-sonnet-4-5", "perplexity": "perplexity/sonar", "gemini": "gemini-2.5-flash"}
EARLIER = "Orion opened by saying that cities should test congestion pricing in one district before anything else."


class FakeClock:
    def __init__(self, start: float = 1_767_225_600.0 + 3600) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


Step = Reply | ProviderError | Callable[[float], Reply]


class ScriptedProvider:
    """Answers each call with the next scripted step; the last step repeats."""

    def __init__(self, name: str, *steps: Step, clock: FakeClock | None = None, latency: float = 0.0) -> None:
        self.name = name
        self.model = MODELS[name]
        self._steps = list(steps)
        self._clock = clock
        self._latency = latency
        self.calls: list[tuple[str, float]] = []  # (api_key, timeout)
        self.called = threading.Event()

    def generate(self, request: GenerationRequest, *, api_key: str, timeout: float) -> Reply:
        self.calls.append((api_key, timeout))
        self.called.set()
        if self._clock is not None:
            self._clock.advance(self._latency)
        step = self._steps.pop(0) if len(self._steps) > 1 else self._steps[0]
        if isinstance(step, ProviderError):
            raise step
        return step(timeout) if callable(step) else step


class Templates:
    def write(self, request: GenerationRequest) -> Reply:
        return Reply(text=f"{request.persona.name} would say something here, from a template.", model="template")


def ok(name: str, text: str | None = None, **usage: int) -> Reply:
    text = text or f"This is {name} speaking: a fresh thought about congestion pricing and buses."
    return Reply(text=text, model=MODELS[name] + "-20250101", prompt_tokens=usage.get("p", 1000), completion_tokens=usage.get("c", 100))


def http(status: int, message: str = "", retry_after: float | None = None) -> ProviderError:
    return ProviderError(message or f"HTTP {status}", kind=classify_status(status), status=status, retry_after=retry_after)


def auth() -> ProviderError:
    return ProviderError("invalid API key", kind=ErrorKind.AUTH, status=401)


def make_settings(keys: dict[str, tuple[str, ...]] | None = None, **changes: object) -> Settings:
    keys = keys if keys is not None else {name: (f"sk-{name}-SECRET",) for name in registry.names()}
    providers = {
        name: ProviderSettings(
            name=name,
            api_keys=keys.get(name, ()),
            base_url="http://127.0.0.1:9",
            model=MODELS[name],
            requests_per_minute=int(changes.pop(f"{name}_rpm", 60)),  # type: ignore[call-overload]
            fallbacks=tuple(p for p in registry.names() if p != name),
        )
        for name in registry.names()
    }
    # The word list only: these providers are in-process, with no moderation endpoint.
    changes.setdefault("moderation", "local")
    return Settings(providers=providers, **changes)  # type: ignore[arg-type]


class Rig:
    """A chain for the ``anthropic`` agent (fallbacks openai, perplexity, gemini)."""

    def __init__(
        self,
        providers: dict[str, ScriptedProvider],
        *,
        clock: FakeClock | SystemClock | None = None,
        settings: Settings | None = None,
        budget_usd: float | None = None,
        attempt_timeout: float = 30.0,
        backoff: Backoff | None = None,
    ) -> None:
        self.clock = clock or FakeClock()
        self.settings = settings or make_settings()
        self.gateways: Gateways = build_gateways(self.settings, self.clock, providers)
        self.budget = DailyBudget(budget_usd, self.clock)
        self.chain = ProviderChain(
            "anthropic",
            ("anthropic", *self.settings.providers["anthropic"].fallbacks),
            self.gateways,
            Templates(),
            PriceTable.load(),
            self.budget,
            self.clock,
            self.settings.provider_max_attempts,
            backoff=backoff or Backoff(rand=lambda: 0.0),
            attempt_timeout=attempt_timeout,
        )

    def request(self, seconds: float = 60.0, history: tuple[str, ...] = (EARLIER,)) -> GenerationRequest:
        turns = tuple(Turn("openai", "Orion", text) for text in history)
        return GenerationRequest(persona_for("anthropic"), "Congestion pricing", turns, len(turns) + 1, 16, self.clock.now() + seconds)


def test_success_from_own_provider_is_source_api() -> None:
    anthropic = ScriptedProvider("anthropic", ok("anthropic"))
    rig = Rig({"anthropic": anthropic})
    outcome = rig.chain.generate(rig.request())
    assert outcome.source is Source.API
    assert (outcome.provider, outcome.model) == ("anthropic", "claude-sonnet-4-5-20250101")
    assert outcome.fallback_reason is None
    assert outcome.cost_usd == pytest.approx((1000 * 3.0 + 100 * 15.0) / 1e6)
    assert rig.budget.spent_today == pytest.approx(outcome.cost_usd)
    assert anthropic.calls == [("sk-anthropic-SECRET", 30.0)]
    [call] = outcome.calls
    assert call.ok and call.provider == "anthropic" and call.prompt_tokens == 1000


def test_429_then_success_is_retried() -> None:
    anthropic = ScriptedProvider("anthropic", http(429, "rate limited"), ok("anthropic"))
    outcome = Rig({"anthropic": anthropic}).chain.generate(Rig({}).request())
    assert outcome.source is Source.API
    assert len(anthropic.calls) == 2
    assert [(c.ok, c.error_class, c.status_code) for c in outcome.calls] == [(False, "429", 429), (True, None, None)]


def test_500_every_time_falls_back_with_the_reason(caplog: pytest.LogCaptureFixture) -> None:
    anthropic = ScriptedProvider("anthropic", http(500, "internal server error"))
    openai = ScriptedProvider("openai", ok("openai"))
    rig = Rig({"anthropic": anthropic, "openai": openai})
    with caplog.at_level(logging.WARNING, logger="roundtable.chain"):
        outcome = rig.chain.generate(rig.request())
    assert len(anthropic.calls) == 3
    assert (outcome.source, outcome.provider) == (Source.FALLBACK, "openai")
    assert outcome.fallback_reason == "anthropic: 500 (internal server error) after 3 tries"
    assert [c.provider for c in outcome.calls] == ["anthropic"] * 3 + ["openai"]
    assert "agent anthropic: fell back to openai (anthropic: 500 (internal server error) after 3 tries)" in caplog.text
    assert "SECRET" not in caplog.text


def test_401_rests_the_key_and_uses_the_next_key_without_retrying_it() -> None:
    anthropic = ScriptedProvider("anthropic", auth(), ok("anthropic"))
    settings = make_settings({"anthropic": ("sk-a1", "sk-a2")})
    rig = Rig({"anthropic": anthropic}, settings=settings)
    outcome = rig.chain.generate(rig.request())
    assert outcome.source is Source.API
    assert [key for key, _ in anthropic.calls] == ["sk-a1", "sk-a2"]
    assert rig.gateways["anthropic"].keys.available() == 1
    assert [c.error_class for c in outcome.calls] == ["auth", None]
    # the rested key stays out: the next request goes straight to the good key
    rig.chain.generate(rig.request())
    assert anthropic.calls[-1][0] == "sk-a2"


def test_401_with_a_single_key_moves_on_at_once() -> None:
    anthropic = ScriptedProvider("anthropic", auth())
    openai = ScriptedProvider("openai", ok("openai"))
    rig = Rig({"anthropic": anthropic, "openai": openai})
    outcome = rig.chain.generate(rig.request())
    assert len(anthropic.calls) == 1
    assert outcome.provider == "openai"
    assert outcome.fallback_reason == "anthropic: 401 auth (invalid API key)"
    again = rig.chain.generate(rig.request())
    assert len(anthropic.calls) == 1
    assert again.fallback_reason == "anthropic: all API keys rested after auth errors"


def test_non_retryable_400_goes_to_the_next_provider_immediately() -> None:
    anthropic = ScriptedProvider("anthropic", http(400, "bad request"))
    openai = ScriptedProvider("openai", ok("openai"))
    rig = Rig({"anthropic": anthropic, "openai": openai})
    outcome = rig.chain.generate(rig.request())
    assert len(anthropic.calls) == 1
    assert (outcome.provider, outcome.fallback_reason) == ("openai", "anthropic: 400 (bad request)")
    assert rig.gateways["anthropic"].breaker.state is CircuitState.CLOSED


def blocks_until_timeout(timeout: float) -> Reply:
    threading.Event().wait(timeout)
    raise ProviderError(f"no answer in {timeout:.2f}s", kind=ErrorKind.TIMEOUT)


def test_a_hung_provider_falls_back_before_the_deadline() -> None:
    anthropic = ScriptedProvider("anthropic", blocks_until_timeout)
    openai = ScriptedProvider("openai", ok("openai"))
    rig = Rig({"anthropic": anthropic, "openai": openai}, clock=SystemClock(), attempt_timeout=0.3)
    request = rig.request(seconds=1.5)
    outcome = rig.chain.generate(request)
    assert time.time() < request.deadline  # the attempts left time for openai
    assert outcome.provider == "openai"
    # The last attempt may get less than 0.3 s (what was left before the deadline).
    assert re.match(r"anthropic: timeout \(no answer in 0\.[0-3]\ds\)", outcome.fallback_reason or "")
    assert len(anthropic.calls) >= 2 and all(timeout <= 0.3 for _, timeout in anthropic.calls)


def test_a_hung_own_provider_leaves_the_fallbacks_their_share_of_the_time() -> None:
    # No per-attempt cap to save the day: the own provider may use 60% of the time,
    # the rest is kept for the fallbacks.
    anthropic = ScriptedProvider("anthropic", blocks_until_timeout)
    openai = ScriptedProvider("openai", ok("openai"))
    rig = Rig({"anthropic": anthropic, "openai": openai}, clock=SystemClock())
    request = rig.request(seconds=2.0)
    outcome = rig.chain.generate(request)
    assert time.time() < request.deadline
    assert outcome.source is Source.FALLBACK and outcome.provider == "openai"
    assert len(anthropic.calls) == 1 and anthropic.calls[0][1] == pytest.approx(1.2, abs=0.05)


def test_a_provider_hung_past_the_deadline_ends_in_a_template_in_time() -> None:
    hung = {name: ScriptedProvider(name, blocks_until_timeout) for name in registry.names()}
    rig = Rig(hung, clock=SystemClock())
    request = rig.request(seconds=0.8)
    outcome = rig.chain.generate(request)
    assert time.time() < request.deadline + 0.2
    assert outcome.source is Source.TEMPLATE
    # The own provider stopped early to leave openai its share; then time ran out.
    assert len(hung["anthropic"].calls) == 1 and len(hung["openai"].calls) == 1
    assert "perplexity: no time left" in (outcome.fallback_reason or "")


def test_retry_after_past_the_deadline_moves_on_without_waiting() -> None:
    anthropic = ScriptedProvider("anthropic", http(429, "rate limited", retry_after=120.0))
    openai = ScriptedProvider("openai", ok("openai"))
    rig = Rig({"anthropic": anthropic, "openai": openai})
    started = time.monotonic()
    outcome = rig.chain.generate(rig.request(seconds=60.0))
    assert time.monotonic() - started < 1.0
    assert len(anthropic.calls) == 1
    assert outcome.fallback_reason == "anthropic: 429 (rate limited); retry-after 120s is past the deadline"


def test_retry_after_that_fits_is_waited_out_and_retried() -> None:
    anthropic = ScriptedProvider("anthropic", http(429, "rate limited", retry_after=0.05), ok("anthropic"))
    rig = Rig({"anthropic": anthropic}, clock=SystemClock())
    started = time.monotonic()
    outcome = rig.chain.generate(rig.request(seconds=10.0))
    assert time.monotonic() - started >= 0.05
    assert outcome.source is Source.API and len(anthropic.calls) == 2


def test_circuit_opens_is_skipped_then_half_open_probe_closes_it() -> None:
    clock = FakeClock()
    anthropic = ScriptedProvider("anthropic", *[http(503, "unavailable")] * 3, ok("anthropic"))
    openai = ScriptedProvider("openai", ok("openai"))
    rig = Rig({"anthropic": anthropic, "openai": openai}, clock=clock)
    assert rig.chain.generate(rig.request()).provider == "openai"
    assert rig.gateways["anthropic"].breaker.state is CircuitState.OPEN

    skipped = rig.chain.generate(rig.request())
    assert len(anthropic.calls) == 3
    assert skipped.fallback_reason == "anthropic: circuit open"

    clock.advance(rig.settings.circuit_cooldown_seconds)
    assert rig.gateways["anthropic"].breaker.state is CircuitState.HALF_OPEN
    probed = rig.chain.generate(rig.request())
    assert len(anthropic.calls) == 4 and probed.source is Source.API
    assert rig.gateways["anthropic"].breaker.state is CircuitState.CLOSED


def test_a_failed_half_open_probe_reopens_after_one_call() -> None:
    clock = FakeClock()
    anthropic = ScriptedProvider("anthropic", http(503))
    rig = Rig({"anthropic": anthropic, "openai": ScriptedProvider("openai", ok("openai"))}, clock=clock)
    rig.chain.generate(rig.request())
    clock.advance(rig.settings.circuit_cooldown_seconds)
    outcome = rig.chain.generate(rig.request())
    assert len(anthropic.calls) == 4  # three, then exactly one probe
    assert outcome.fallback_reason == "anthropic: 503 (HTTP 503); circuit open"


def test_all_providers_down_gives_a_template_with_the_reasons() -> None:
    providers = {
        "anthropic": ScriptedProvider("anthropic", http(529, "anthropic: 529 overloaded_error")),
        "openai": ScriptedProvider("openai", http(400, "bad request")),
        "perplexity": ScriptedProvider("perplexity", ok("perplexity")),
    }
    settings = make_settings({"anthropic": ("k1",), "openai": ("k2",)})
    rig = Rig(providers, settings=settings)
    outcome = rig.chain.generate(rig.request())
    assert (outcome.source, outcome.provider, outcome.model) == (Source.TEMPLATE, "template", "template")
    assert outcome.content.startswith("Clio would say")
    assert outcome.fallback_reason == (
        "anthropic: 529 overloaded_error after 3 tries; openai: 400 (bad request); "
        "perplexity: no API key; gemini: no API key"
    )
    assert len(outcome.calls) == 4 and not any(c.ok for c in outcome.calls)


def test_budget_exceeded_gives_a_template_without_calls() -> None:
    anthropic = ScriptedProvider("anthropic", ok("anthropic"))
    rig = Rig({"anthropic": anthropic}, budget_usd=0.001)
    first = rig.chain.generate(rig.request())  # costs 0.0045: over the limit afterwards
    assert first.source is Source.API
    second = rig.chain.generate(rig.request())
    assert (second.source, second.fallback_reason, second.calls) == (Source.TEMPLATE, "daily budget reached", ())
    assert len(anthropic.calls) == 1


def test_quality_gate_rejects_a_duplicate_and_an_empty_reply() -> None:
    anthropic = ScriptedProvider("anthropic", ok("anthropic", EARLIER), ok("anthropic", " "), ok("anthropic"))
    rig = Rig({"anthropic": anthropic})
    outcome = rig.chain.generate(rig.request())
    assert outcome.source is Source.API and outcome.content.startswith("This is anthropic")
    assert [c.error_class for c in outcome.calls] == ["quality", "quality", None]
    # rejected replies were paid for: their cost is recorded and counted
    assert all(c.cost_usd > 0 for c in outcome.calls)
    assert rig.budget.spent_today == pytest.approx(sum(c.cost_usd for c in outcome.calls))
    assert rig.gateways["anthropic"].health().last_error == "quality"


def test_quality_rejections_every_time_fall_back_with_the_reason() -> None:
    anthropic = ScriptedProvider("anthropic", ok("anthropic", "Too short."))
    rig = Rig({"anthropic": anthropic, "openai": ScriptedProvider("openai", ok("openai"))})
    outcome = rig.chain.generate(rig.request())
    assert outcome.fallback_reason == "anthropic: quality (rejected: too short: 2 words) after 3 tries"


def test_api_call_rows_record_every_attempt() -> None:
    clock = FakeClock()
    anthropic = ScriptedProvider("anthropic", http(502, "bad gateway"), ok("anthropic"), clock=clock, latency=1.5)
    rig = Rig({"anthropic": anthropic}, clock=clock)
    start = clock.now()
    outcome = rig.chain.generate(rig.request())
    first, second = outcome.calls
    assert (first.ok, first.status_code, first.error_class, first.latency_ms, first.at) == (False, 502, "502", 1500, start)
    assert (first.model, first.prompt_tokens, first.cost_usd) == ("claude-sonnet-4-5", 0, 0.0)
    assert (second.ok, second.model, second.latency_ms, second.at) == (True, "claude-sonnet-4-5-20250101", 1500, start + 1.5)
    assert second.cost_usd == pytest.approx(outcome.cost_usd)
    assert outcome.latency_ms == 3000


def test_local_rate_limit_blocks_beyond_rpm_and_falls_back() -> None:
    anthropic = ScriptedProvider("anthropic", ok("anthropic"))
    openai = ScriptedProvider("openai", ok("openai"))
    rig = Rig({"anthropic": anthropic, "openai": openai}, settings=make_settings(anthropic_rpm=1))
    assert rig.chain.generate(rig.request(seconds=30.0)).provider == "anthropic"
    second = rig.chain.generate(rig.request(seconds=30.0))
    assert len(anthropic.calls) == 1
    assert (second.provider, second.fallback_reason) == ("openai", "anthropic: local rate limit (1/min)")


def test_a_provider_bug_is_contained_and_falls_back(caplog: pytest.LogCaptureFixture) -> None:
    def boom(timeout: float) -> Reply:
        raise KeyError("choices")

    rig = Rig({"anthropic": ScriptedProvider("anthropic", boom), "openai": ScriptedProvider("openai", ok("openai"))})
    with caplog.at_level(logging.ERROR, logger="roundtable.gateway"):
        outcome = rig.chain.generate(rig.request())
    assert outcome.provider == "openai"
    assert outcome.fallback_reason == "anthropic: internal error: KeyError"
    assert "raised KeyError instead of ProviderError" in caplog.text


def test_close_interrupts_a_backoff_wait() -> None:
    anthropic = ScriptedProvider("anthropic", http(500))
    rig = Rig({"anthropic": anthropic}, clock=SystemClock(), backoff=Backoff(base=30.0, cap=30.0, rand=lambda: 1.0))
    request = rig.request(seconds=100.0)
    result: list[Outcome] = []
    worker = threading.Thread(target=lambda: result.append(rig.chain.generate(request)))
    worker.start()
    assert anthropic.called.wait(5)
    rig.chain.close()
    worker.join(timeout=5)
    assert not worker.is_alive()
    [outcome] = result
    assert outcome.source is Source.TEMPLATE
    assert "shutting down" in (outcome.fallback_reason or "")


def test_health_is_json_ready_and_never_shows_a_key() -> None:
    anthropic = ScriptedProvider("anthropic", http(503, "unavailable"), ok("anthropic"))
    rig = Rig({"anthropic": anthropic}, settings=make_settings({"anthropic": ("sk-anthropic-SECRET",)}))
    rig.chain.generate(rig.request())
    health = {name: wire.provider_health(h) for name, h in rig.gateways.health().items()}
    text = json.dumps(health)
    assert "SECRET" not in text
    assert set(health) == set(registry.names())
    assert health["anthropic"] | {"last_error_at": None, "cost_today_usd": None} == {
        "configured": True,
        "model": "claude-sonnet-4-5",
        "circuit": "closed",
        "last_error": "503",
        "last_error_at": None,
        "keys": 1,
        "keys_available": 1,
        "p50_latency_ms": 0,
        "p95_latency_ms": 0,
        "calls_today": 2,
        "prompt_tokens_today": health["anthropic"]["prompt_tokens_today"],
        "completion_tokens_today": 100,
        "cost_today_usd": None,
        "model_check": {"status": "unchecked", "detail": None, "checked_at": None},
        "moderation": {"passed": 1, "flagged": 0, "unavailable": 0},
    }
    assert health["anthropic"]["cost_today_usd"] > 0
    assert health["openai"]["configured"] is False
