"""One gateway per provider: the provider plus its keys, circuit, rate limit and health.

A ``ProviderGateway`` is deliberately shared, mutable and thread-safe: all four agent
actors fall back onto each other's providers, so the circuit, the rate limit and the key
rests must be one object per provider, not one per agent, or a dead API would be probed
four times as often and the RPM limit would be four times too high. Every method may be
called from any agent thread; ``health()`` is also called from the web layer's thread.
Keys never leave this module except as the ``api_key`` argument of ``Provider.generate``.
"""

from __future__ import annotations

import logging
import math
import statistics
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from actors.clock import Clock, utc_day_start
from actors.observe import events
from actors.providers import quality, registry
from actors.providers.base import GenerationRequest, Provider, ProviderError, Reply
from actors.providers.bounded import MAX_REPLY_BYTES, call_limits
from actors.providers.errors import ErrorKind
from actors.providers.lazy import LazyProvider
from actors.providers.moderation import ModerationGate, Review, Verdict, build_moderation
from actors.providers.resilience import CircuitBreaker, CircuitState, KeyRing, RateLimiter
from actors.view import ModelCheckView, ModerationView, ProviderHealth
from settings import ProviderSettings, Settings

if TYPE_CHECKING:
    from actors.providers.catalog import ModelCheck

__all__ = [
    "CallResult",
    "Gateways",
    "ProviderGateway",
    "build_gateways",
    "build_providers",
    "close_providers",
    "describe_error",
]

log = logging.getLogger("roundtable.gateway")

_LATENCY_WINDOW: Final = 50  # recent calls kept for the p50 and p95
_DESCRIPTION_CHARS: Final = 80


#: A moderation review may wait at most this long (and never past the message's deadline).
MODERATION_TIMEOUT_CAP: Final = 10.0
#: This many flagged replies in a row from one provider raise an alert (a warning line).
FLAGGED_ALERT_STREAK: Final = 3


@dataclass(frozen=True)
class CallResult:
    """One call through a gateway: ``error`` is None for an accepted ``reply``.

    A refused reply (quality gate) comes with its ``error`` and its ``reply``, because it
    was paid for; a failed call has an ``error`` and no ``reply``.
    """

    reply: Reply | None
    error: ProviderError | None
    started_at: float
    latency_ms: int


class ProviderGateway:
    """A provider with its ``KeyRing``, ``CircuitBreaker``, ``RateLimiter`` and health."""

    def __init__(
        self,
        settings: ProviderSettings,
        provider: Provider | None,
        clock: Clock,
        *,
        breaker: CircuitBreaker,
        limiter: RateLimiter,
        keys: KeyRing | None = None,
        max_reply_bytes: int = MAX_REPLY_BYTES,
        moderation: ModerationGate | None = None,
        alert: Callable[[str], None] | None = None,
    ) -> None:
        self.name = settings.name
        self.max_reply_bytes = max_reply_bytes
        self._moderation = moderation
        self._alert = alert
        self._reviews: dict[str, int] = {verdict: 0 for verdict in Verdict}
        self._flagged_streak = 0
        self.model = settings.model
        self.provider = provider
        self.keys = keys if keys is not None else KeyRing(settings.api_keys, clock)
        self.breaker = breaker
        self.limiter = limiter
        self._clock = clock
        self._lock = threading.Lock()
        self._latencies: deque[int] = deque(maxlen=_LATENCY_WINDOW)
        self._day = self._today()
        self._calls_today = 0
        self._cost_today = 0.0
        self._prompt_tokens_today = 0
        self._completion_tokens_today = 0
        self._model_check = ModelCheckView("unchecked")
        self._last_error: str | None = None
        self._last_error_at: float | None = None

    @property
    def configured(self) -> bool:
        return self.provider is not None and len(self.keys) > 0

    def unavailable_reason(self) -> str | None:
        """Why no call should be tried now, or None. Does not claim a half-open probe."""
        if not self.configured:
            return "no API key"
        if self.keys.available() == 0:
            return "all API keys rested after auth errors"
        if self.breaker.state is CircuitState.OPEN:
            return "circuit open"
        return None

    def call(self, request: GenerationRequest, *, api_key: str, timeout: float) -> CallResult:
        """One ``generate`` call, timed, counted and judged; the circuit learns its result.

        Runs on the calling agent's thread and returns within ``timeout`` seconds however
        the bytes arrive (``call_limits``); a reply over ``max_reply_bytes`` is cut off
        (kind ``too_large``), one the quality gate refuses is an error (kind ``quality``)
        and so is one the moderation gate flags (kind ``moderation``): all three count
        against the circuit, as timeouts and 5xx do. A reply that moderation could not
        review in time is withheld (kind ``moderation_unavailable``, the provider is not
        blamed) unless ``MODERATION_FAIL=open``.
        """
        if self.provider is None:
            raise RuntimeError(f"provider {self.name} is not configured")
        started = self._clock.now()
        reply, error = self._generate(request, api_key, timeout)
        if reply is not None:
            error = self._judge(reply, request) or self._moderate(reply, request)
        latency_ms = max(0, round((self._clock.now() - started) * 1000))
        self._record(latency_ms, error)
        events.provider_call(self.name, "ok" if error is None else error.kind.outcome, latency_ms / 1000)
        return CallResult(reply, error, started, latency_ms)

    def _generate(
        self, request: GenerationRequest, api_key: str, timeout: float
    ) -> tuple[Reply | None, ProviderError | None]:
        assert self.provider is not None
        with call_limits(timeout, self.max_reply_bytes) as limits:
            try:
                return self.provider.generate(request, api_key=api_key, timeout=timeout), None
            except ProviderError as exc:
                error = exc
            except Exception as exc:  # a bug in a provider module must not stall the round
                log.exception("provider %s raised %s instead of ProviderError", self.name, type(exc).__name__)
                error = ProviderError(f"internal error: {type(exc).__name__}", kind=ErrorKind.INTERNAL)
        if limits.cut == "too_large":
            error = ProviderError(
                f"{self.name}: reply over {self.max_reply_bytes} bytes, cut off",
                kind=ErrorKind.TOO_LARGE,
            )
        return None, error

    def _judge(self, reply: Reply, request: GenerationRequest) -> ProviderError | None:
        """The quality gate: None if ``reply`` may be shown after the round so far."""
        rejection = quality.accept(reply.text, (turn.content for turn in request.history))
        if rejection is None:
            return None
        return ProviderError(f"rejected: {rejection}", kind=ErrorKind.QUALITY)

    def _moderate(self, reply: Reply, request: GenerationRequest) -> ProviderError | None:
        """The moderation gate: None if ``reply`` may be revealed. Never carries the text."""
        if self._moderation is None:
            return None
        timeout = min(MODERATION_TIMEOUT_CAP, request.deadline - self._clock.now())
        # Citation titles come from web pages and are shown with the reply: reviewed too.
        shown = "\n".join([reply.text, *(c.title for c in reply.citations if c.title)])
        review = self._moderation.review(shown, timeout)
        self._count_review(review)
        if review.verdict is Verdict.FLAGGED:
            return ProviderError(f"moderation flagged ({review.detail})", kind=ErrorKind.MODERATION)
        if review.verdict is Verdict.UNAVAILABLE and not self._moderation.fail_open:
            return ProviderError(
                f"moderation unavailable ({review.detail}): reply withheld",
                kind=ErrorKind.MODERATION_UNAVAILABLE,
            )
        return None

    def _count_review(self, review: Review) -> None:
        with self._lock:
            self._reviews[review.verdict] += 1
            if review.verdict is Verdict.FLAGGED:
                self._flagged_streak += 1
            elif review.verdict is Verdict.PASSED:
                self._flagged_streak = 0
            streak = self._flagged_streak
        events.moderation_reviewed(self.name, str(review.verdict))
        # A pass is routine (DEBUG); a refusal is also logged by the chain's fallback line.
        level = logging.DEBUG if review.verdict is Verdict.PASSED else logging.INFO
        log.log(level, "moderation (%s): %s reply from %s%s", review.by, review.verdict, self.name,
                f" ({review.detail})" if review.detail else "")
        if review.verdict is Verdict.FLAGGED and streak == FLAGGED_ALERT_STREAK:
            message = f"provider {self.name}: {streak} flagged replies in a row (latest: {review.detail})"
            log.warning("alert: %s", message)
            if self._alert is not None:
                self._alert(message)

    def add_cost(self, cost_usd: float, prompt_tokens: int = 0, completion_tokens: int = 0) -> None:
        """Count one answered call's cost and tokens against today."""
        with self._lock:
            self._roll()
            self._cost_today += cost_usd
            self._prompt_tokens_today += prompt_tokens
            self._completion_tokens_today += completion_tokens
        events.provider_spent(self.name, cost_usd, prompt_tokens, completion_tokens)

    def seed_today(
        self, *, calls: int, cost_usd: float, prompt_tokens: int = 0, completion_tokens: int = 0
    ) -> None:
        """Set today's (UTC) calls, cost and tokens, e.g. from the database at start-up.

        Replaces the in-memory counters, so call it before this gateway makes calls; they
        still reset at the next UTC midnight.
        """
        with self._lock:
            self._roll()
            self._calls_today, self._cost_today = calls, cost_usd
            self._prompt_tokens_today, self._completion_tokens_today = prompt_tokens, completion_tokens

    def set_model_check(self, check: ModelCheck) -> None:
        """Store the latest ``catalog.check_model`` result (any thread) for ``health()``."""
        with self._lock:
            self._model_check = ModelCheckView(check.status, check.detail, check.checked_at)

    def redact(self, text: str) -> str:
        return self.keys.redact(text)

    def health(self) -> ProviderHealth:
        """This provider's health for ``/api/status``; never contains a key."""
        with self._lock:
            self._roll()
            p50, p95 = _percentiles(self._latencies)
            return ProviderHealth(
                configured=self.configured, model=self.model, keys=len(self.keys),
                keys_available=self.keys.available(), circuit=str(self.breaker.state),
                last_error=self._last_error, last_error_at=self._last_error_at,
                p50_latency_ms=p50, p95_latency_ms=p95, calls_today=self._calls_today,
                prompt_tokens_today=self._prompt_tokens_today,
                completion_tokens_today=self._completion_tokens_today,
                cost_today_usd=self._cost_today, model_check=self._model_check,
                moderation={str(verdict): count for verdict, count in self._reviews.items()},
            )

    def _record(self, latency_ms: int, error: ProviderError | None) -> None:
        # Only errors that say the API is unwell trip the circuit; a 400, an auth error or a
        # refusal came from a working API, so it counts as a sign of life.
        if error is not None and error.kind.unhealthy:
            if self.breaker.record_failure():
                detail = describe_error(self.name, error, self.redact)
                log.warning("%s: circuit opened (last error: %s)", self.name, detail)
                events.circuit_changed(self.name, True, detail)
        elif self.breaker.record_success():
            log.info("%s: circuit closed: the provider answers again", self.name)
            events.circuit_changed(self.name, False, None)
        with self._lock:
            self._roll()
            self._calls_today += 1
            self._latencies.append(latency_ms)
            if error is not None:
                self._last_error, self._last_error_at = error.error_class, self._clock.now()

    def _roll(self) -> None:
        """Reset the daily counters at UTC midnight. Caller holds the lock."""
        today = self._today()
        if today != self._day:
            self._day, self._calls_today, self._cost_today = today, 0, 0.0
            self._prompt_tokens_today = self._completion_tokens_today = 0

    def _today(self) -> float:
        return utc_day_start(self._clock.now())


class Gateways(Mapping[str, ProviderGateway]):
    """The gateways by provider name. Built once at start-up, then only read."""

    def __init__(
        self, gateways: Mapping[str, ProviderGateway], moderation: ModerationGate | None = None
    ) -> None:
        self._gateways = dict(gateways)
        self.moderation = moderation

    def __getitem__(self, name: str) -> ProviderGateway:
        return self._gateways[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._gateways)

    def __len__(self) -> int:
        return len(self._gateways)

    def seed_today(self, totals: Mapping[str, Mapping[str, float | int]]) -> None:
        """Seed each gateway's calls and cost for the current UTC day, so ``/api/status``
        survives a restart. ``totals`` is ``storage.queries.calls_since`` since UTC midnight:
        ``{provider: {"calls": int, "cost_usd": float}}``. Providers without a gateway are
        ignored; gateways without totals keep zero. Call once at start-up, before any call.
        """
        for name, counts in totals.items():
            gateway = self._gateways.get(name)
            if gateway is not None:
                gateway.seed_today(
                    calls=int(counts.get("calls", 0)),
                    cost_usd=float(counts.get("cost_usd", 0.0)),
                    prompt_tokens=int(counts.get("prompt_tokens", 0)),
                    completion_tokens=int(counts.get("completion_tokens", 0)),
                )

    def health(self) -> dict[str, ProviderHealth]:
        """Each provider's health, by name, for ``/api/status``."""
        return {name: gateway.health() for name, gateway in self._gateways.items()}

    def moderation_view(self) -> ModerationView:
        """The moderation gate in effect, for ``/api/status`` (no gate: ``MODERATION=off``)."""
        if self.moderation is None:
            return ModerationView("off", "none")
        return self.moderation.view()

    def close(self) -> None:
        """Close the providers' clients (their connection pools); call once, at shutdown."""
        close_providers(g.provider for g in self._gateways.values() if g.provider is not None)
        if self.moderation is not None:
            self.moderation.close()


def _percentiles(latencies: Iterable[int]) -> tuple[int | None, int | None]:
    """(p50, p95) of the recent latencies in ms, or (None, None) before the first call."""
    ordered = sorted(latencies)
    if not ordered:
        return None, None
    p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]  # nearest rank
    return round(statistics.median(ordered)), p95


def describe_error(
    provider: str, error: ProviderError, redact: Callable[[str], str] = str
) -> str:
    """A short, key-free label for fallback reasons and ``check-keys``: "529 overloaded_error",
    "401 auth (invalid API key)", "timeout (timed out)"."""
    label = error.error_class
    if error.status is not None and label != str(error.status):
        label = f"{error.status} {label}"  # "401 auth", not just "auth"
    lines = str(error).splitlines()
    # Provider modules prefix their messages with their own name; the caller shows it once.
    message = redact(lines[0] if lines else "").removeprefix(f"{provider}: ").strip()
    # "moderation unavailable (...)" already names its class ("moderation_unavailable").
    text = message if message.startswith(label.split("_")[0]) else f"{label} ({message})" if message else label
    return text[:_DESCRIPTION_CHARS]


def build_providers(settings: Settings) -> dict[str, Provider]:
    """A provider for every configured provider; each imports its module (and SDK) on its
    first call, not here: start-up never waits for an SDK (``LazyProvider``). The class is
    the one the provider's registry entry names (``ProviderSpec.provider_class``)."""
    specs = {spec.name: spec for spec in registry.specs()}
    return {
        name: LazyProvider(provider_settings, specs[name].provider_class)
        for name, provider_settings in settings.providers.items()
        if provider_settings.configured and name in specs
    }


def close_providers(providers: Iterable[Provider]) -> None:
    """Call ``close()`` on each provider that has one (it is not part of the seam)."""
    for provider in providers:
        close = getattr(provider, "close", None)
        if callable(close):
            close()


def _log_moderation(moderation: ModerationGate | None) -> None:
    """The start-up line that says which checks every reply gets."""
    if moderation is None:
        log.warning("moderation: off (MODERATION=off): replies are revealed unreviewed")
        return
    view = moderation.view()
    if view.detail:
        log.warning("moderation: wordlist only (%s)", view.detail)
    else:
        log.info("moderation: %s (fails %s)", view.checks, view.fails)


def build_gateways(
    settings: Settings,
    clock: Clock,
    providers: Mapping[str, Provider] | None = None,
    *,
    alert: Callable[[str], None] | None = None,
) -> Gateways:
    """One gateway per provider in ``settings``, sharing one moderation gate (per
    ``MODERATION``); ``providers`` replaces the real ones (tests). ``alert`` is called with
    one line when a provider keeps producing flagged replies."""
    if providers is None:
        providers = build_providers(settings)
    moderation = build_moderation(settings)
    _log_moderation(moderation)
    return Gateways({
        name: ProviderGateway(
            ps,
            providers.get(name),
            clock,
            breaker=CircuitBreaker(
                settings.circuit_failure_threshold, settings.circuit_cooldown_seconds, clock
            ),
            limiter=RateLimiter(ps.requests_per_minute, clock),
            moderation=moderation,
            alert=alert,
        )
        for name, ps in settings.providers.items()
    }, moderation)
