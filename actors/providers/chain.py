"""One agent's provider chain: its own provider, then fallbacks, then templates.

``ProviderChain.generate`` is the only retry loop for provider calls (the SDKs' retries
are off). It runs on the agent actor's thread and blocks, but never past the request's
deadline by more than one call's cleanup: each attempt's timeout fits the time left, no
attempt starts with less than ``MIN_ATTEMPT_SECONDS`` left, and backoff or ``Retry-After``
waits that would not fit move on to the next provider instead. Templates never fail, so
``generate`` always returns an ``Outcome``, honestly attributed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Final, Protocol

from actors.clock import Clock
from actors.providers.base import (
    ApiCall,
    GenerationRequest,
    Outcome,
    ProviderError,
    Reply,
    Source,
)
from actors.providers.budget import DailyBudget
from actors.providers.errors import ErrorKind
from actors.providers.gateway import CallResult, ProviderGateway, describe_error
from actors.providers.pricing import Cost, CostSource, PriceTable
from actors.providers.resilience import Backoff

__all__ = ["ATTEMPT_TIMEOUT_CAP", "MIN_ATTEMPT_SECONDS", "ProviderChain", "TemplateSource"]

log = logging.getLogger("roundtable.chain")

#: An attempt with less time than this cannot get an answer back; don't start it.
MIN_ATTEMPT_SECONDS: Final = 0.2
#: One call may take at most this long, so a hung API leaves time for the fallbacks.
ATTEMPT_TIMEOUT_CAP: Final = 30.0
#: Share of a message's time kept back from the agent's own provider for its fallbacks
#: (when one is available), capped: a hung or failing own API still leaves a fallback
#: room to answer, instead of ending every such message in a template.
FALLBACK_RESERVE_SHARE: Final = 0.4
FALLBACK_RESERVE_CAP: Final = 20.0


_NO_COST: Final = Cost(0.0, CostSource.REPORTED)


class TemplateSource(Protocol):
    def write(self, request: GenerationRequest) -> Reply: ...


class ProviderChain:
    """Tries ``order`` (own provider first) through the shared ``gateways``, then templates.

    One chain per agent; ``generate`` runs on that agent's thread. ``close()`` may be called
    from any thread: it wakes any retry wait so the agent can stop promptly.
    """

    def __init__(
        self,
        agent: str,
        order: tuple[str, ...],
        gateways: Mapping[str, ProviderGateway],
        templates: TemplateSource,
        prices: PriceTable,
        budget: DailyBudget,
        clock: Clock,
        max_attempts: int = 3,
        *,
        backoff: Backoff | None = None,
        attempt_timeout: float = ATTEMPT_TIMEOUT_CAP,
    ) -> None:
        self.agent = agent
        self.order = order
        self._gateways = gateways
        self._templates = templates
        self._prices = prices
        self._budget = budget
        self._clock = clock
        self._max_attempts = max_attempts
        self._backoff = backoff or Backoff()
        self._attempt_timeout = attempt_timeout
        self._closing = threading.Event()

    def close(self) -> None:
        """Interrupt any wait; later ``generate`` calls go straight to templates."""
        self._closing.set()

    def generate(self, request: GenerationRequest) -> Outcome:
        """The accepted reply for ``request``; falls back down the chain, never raises
        ``ProviderError``. Every call made is in ``Outcome.calls``."""
        started = self._clock.now()
        calls: list[ApiCall] = []
        failures: list[str] = []
        for index, name in enumerate(self.order):
            if self._closing.is_set():
                failures.append("shutting down")
                break
            if self._budget.exceeded():
                failures.append("daily budget reached")
                break
            gateway = self._gateways.get(name)
            skip = "unknown provider" if gateway is None else gateway.unavailable_reason()
            if gateway is None or skip:
                failures.append(f"{name}: {skip}")
                continue
            if self._budget.provider_exceeded(name):
                failures.append(f"{name}: its daily budget reached")
                continue
            stop_at = self._stop_at(request, index, started)
            reply, cost, why = self._try(gateway, request, calls, stop_at)
            if reply is not None:
                return self._answered(gateway, reply, cost, failures, calls, started)
            failures.append(f"{name}: {why}")
            if calls and calls[-1].error_class == "moderation_unavailable":
                # Moderation is down: every other provider's reply would be withheld too
                # (fail closed), so a template stands in at once, labelled with why.
                break
        return self._from_template(request, failures, calls, started)

    def _stop_at(self, request: GenerationRequest, index: int, started: float) -> float:
        """When the provider at ``index`` must give up: the own provider stops early enough
        to leave the fallbacks a share of the time, if any fallback is available."""
        if index > 0 or not any(
            (gw := self._gateways.get(name)) is not None and gw.unavailable_reason() is None
            for name in self.order[1:]
        ):
            return request.deadline
        total = max(request.deadline - started, 0.0)
        return request.deadline - min(total * FALLBACK_RESERVE_SHARE, FALLBACK_RESERVE_CAP)

    def _try(
        self,
        gateway: ProviderGateway,
        request: GenerationRequest,
        calls: list[ApiCall],
        stop_at: float,
    ) -> tuple[Reply | None, Cost, str]:
        """Up to ``max_attempts`` calls to one provider, none past ``stop_at``: (accepted
        reply, its cost, "") or (None, no cost, why it failed). Flat on purpose: every exit
        is a reason."""
        limit, tries, switched_key = self._max_attempts, 0, False
        last: ProviderError | None = None
        note = ""
        while tries < limit:
            if stop_at - self._clock.now() < MIN_ATTEMPT_SECONDS:
                note = "no time left"
                break
            key = gateway.keys.next_key()
            if key is None:
                note = "all API keys rested"
                break
            if not gateway.limiter.acquire(stop_at - MIN_ATTEMPT_SECONDS, self._closing.wait):
                note = f"local rate limit ({gateway.limiter.requests_per_minute}/min)"
                break
            timeout = min(self._attempt_timeout, stop_at - self._clock.now())
            if timeout < MIN_ATTEMPT_SECONDS:  # the rate-limit wait used up the time
                note = "no time left"
                break
            # Last check before the call: in half-open it claims the single probe.
            if not gateway.breaker.allow():
                note = "circuit open"
                break
            tries += 1
            result = gateway.call(request, api_key=key, timeout=timeout)
            error, cost = self._judge(gateway, result)
            calls.append(self._api_call(gateway, result, error, cost))
            if error is None and result.reply is not None:
                return result.reply, cost, ""
            assert error is not None  # a CallResult holds a reply or an error
            last = error
            if error.kind is ErrorKind.AUTH:
                # The key is bad, not the provider: rest it and try another key, once.
                gateway.keys.rest(key)
                if not switched_key and gateway.keys.available():
                    switched_key, limit = True, limit + 1
                    continue
                break
            if not error.retryable or tries >= limit:
                break
            note = self._wait_before_retry(error, tries, stop_at)
            if note:
                break
        return None, _NO_COST, self._reason(gateway, last, tries, note)

    def _judge(self, gateway: ProviderGateway, result: CallResult) -> tuple[ProviderError | None, Cost]:
        """The call's error (the gateway's quality gate refusal counts as one) and what it
        cost: a refused reply was paid for too."""
        if result.reply is None:
            return result.error, _NO_COST
        cost = self._prices.reply_cost(gateway.name, result.reply, at=result.started_at)
        self._budget.add(cost.usd, gateway.name)
        gateway.add_cost(cost.usd, result.reply.prompt_tokens, result.reply.completion_tokens)
        return result.error, cost

    def _wait_before_retry(self, error: ProviderError, tries: int, deadline: float) -> str:
        """Wait out the backoff (or ``Retry-After``); "" if the retry may go, else why not."""
        if error.retry_after is not None and error.retry_after > 0:
            delay = error.retry_after
            if self._clock.now() + delay + MIN_ATTEMPT_SECONDS > deadline:
                return f"retry-after {delay:g}s is past the deadline"
        else:
            delay = self._backoff.delay(tries - 1)
            if self._clock.now() + delay + MIN_ATTEMPT_SECONDS > deadline:
                return "no time left to retry"
        if delay > 0 and self._closing.wait(delay):
            return "shutting down"
        return ""

    def _reason(
        self, gateway: ProviderGateway, last: ProviderError | None, tries: int, note: str
    ) -> str:
        """E.g. "529 overloaded_error after 3 tries" or "429 (slow down); retry-after 60s ..."."""
        parts = []
        if last is not None:
            text = describe_error(gateway.name, last, gateway.redact)
            parts.append(text + (f" after {tries} tries" if tries > 1 else ""))
        if note:
            parts.append(note)
        return "; ".join(parts) or "no attempt made"

    def _api_call(
        self, gateway: ProviderGateway, result: CallResult, error: ProviderError | None, cost: Cost
    ) -> ApiCall:
        reply = result.reply
        return ApiCall(
            provider=gateway.name,
            model=reply.model if reply is not None else gateway.model,
            ok=error is None,
            at=result.started_at,
            latency_ms=result.latency_ms,
            error_class=None if error is None else error.error_class,
            status_code=None if error is None else error.status,
            prompt_tokens=reply.prompt_tokens if reply is not None else 0,
            completion_tokens=reply.completion_tokens if reply is not None else 0,
            cost_usd=cost.usd,
        )

    def _answered(
        self,
        gateway: ProviderGateway,
        reply: Reply,
        cost: Cost,
        failures: list[str],
        calls: list[ApiCall],
        started: float,
    ) -> Outcome:
        own = gateway.name == self.agent
        reason = "; ".join(failures) if failures else None
        if not own:
            log.warning("agent %s: fell back to %s (%s)", self.agent, gateway.name, reason)
        return Outcome(
            content=reply.text.strip(),
            provider=gateway.name,
            model=reply.model,
            source=Source.API if own else Source.FALLBACK,
            citations=reply.citations,
            latency_ms=self._elapsed_ms(started),
            prompt_tokens=reply.prompt_tokens,
            completion_tokens=reply.completion_tokens,
            cost_usd=cost.usd,
            cost_estimated=cost.estimated,
            fallback_reason=None if own else reason,
            calls=tuple(calls),
        )

    def _from_template(
        self, request: GenerationRequest, failures: list[str], calls: list[ApiCall], started: float
    ) -> Outcome:
        reason = "; ".join(failures) or "no provider in the chain"
        # Running without any key is a choice, not a fault: say it, but not as a warning.
        unconfigured = bool(failures) and all(f.endswith(": no API key") for f in failures)
        level = logging.INFO if unconfigured else logging.WARNING
        log.log(level, "agent %s: fell back to template (%s)", self.agent, reason)
        reply = self._templates.write(request)
        return Outcome(
            content=reply.text,
            provider="template",
            model="template",
            source=Source.TEMPLATE,
            latency_ms=self._elapsed_ms(started),
            fallback_reason=reason,
            calls=tuple(calls),
        )

    def _elapsed_ms(self, started: float) -> int:
        return max(0, round((self._clock.now() - started) * 1000))
