"""Operational events, each counted once and alerted on where an operator must know.

One function per event, called from where it happens (any thread; none blocks: metrics
are in-memory, alerts only go on a queue). The callers log their own line; these only
count and alert, so a call site stays one line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from actors.observe import alerts
from actors.observe.metrics import (
    ALERTS,
    COST,
    FALLBACKS,
    MESSAGES,
    MODERATION_REVIEWS,
    PROVIDER_CALLS,
    PROVIDER_LATENCY,
    REVEAL_LATENESS,
    ROUNDS,
    ROUNDS_ALL_TEMPLATES,
    TOKENS,
)

__all__ = [
    "alert",
    "budget_reached",
    "circuit_changed",
    "database_changed",
    "engine_changed",
    "fallback_code",
    "message_revealed",
    "moderation_reviewed",
    "provider_call",
    "provider_spent",
    "round_ended",
]

#: Phrases of the chain's fallback reasons -> a short code (a metric label, bounded).
_PHRASES: Final = (
    # First: "moderation unavailable (no time left)" is moderation's, not the chain's.
    ("moderation unavailable", "moderation_unavailable"),
    ("moderation flagged", "moderation_flagged"),
    ("no API key", "no_key"),
    ("all API keys rested", "keys_rested"),
    ("circuit open", "circuit_open"),
    ("its daily budget reached", "provider_budget"),
    ("daily budget reached", "budget"),
    ("local rate limit", "local_rate_limit"),
    ("agent did not answer in time", "agent_stuck"),
    ("no time left", "no_time"),
    ("shutting down", "shutdown"),
)
_KINDS: Final = frozenset(
    ("auth", "timeout", "connection", "malformed", "empty", "failed", "blocked", "quality",
     "internal", "too_large")
)
_FIRST_WORD: Final = re.compile(r"^\s*(?:[a-z]+:\s*)?(\w+)")


def fallback_code(reason: str | None) -> str:
    """A fixed code for the first failure in a fallback reason ("anthropic: 529
    overloaded_error after 3 tries; ..." -> "server_error"); "other" when unknown."""
    first = (reason or "").split(";", 1)[0]
    for phrase, code in _PHRASES:
        if phrase in first:
            return code
    match = _FIRST_WORD.match(first)
    word = match.group(1) if match else ""
    if word.isdigit():
        status = int(word)
        if status == 429:
            return "rate_limited"
        if status in (401, 403):
            return "auth"
        return "server_error" if status >= 500 else "client_error"
    return word if word in _KINDS else "other"


def alert(kind: str, text: str, *, key: str | None = None, **fields: object) -> None:
    """Count and send one alert (``observe.alerts.emit``) for any module to call."""
    ALERTS.labels(kind).inc()
    alerts.emit(kind, text, key=key, **fields)


def message_revealed(
    agent: str, provider: str, source: str, fallback_reason: str | None, lateness: float
) -> None:
    MESSAGES.labels(agent, provider, source).inc()
    if source != "api":
        FALLBACKS.labels(agent, fallback_code(fallback_reason)).inc()
    REVEAL_LATENESS.observe(max(lateness, 0.0))


def provider_call(provider: str, outcome: str, seconds: float) -> None:
    """One API call; ``outcome`` is "ok" or the error kind (``ErrorKind.outcome``)."""
    PROVIDER_CALLS.labels(provider, outcome).inc()
    PROVIDER_LATENCY.labels(provider).observe(seconds)


def moderation_reviewed(provider: str, verdict: str) -> None:
    """One reply reviewed by the moderation gate: "passed", "flagged" or "unavailable"."""
    MODERATION_REVIEWS.labels(provider, verdict).inc()


def provider_spent(provider: str, cost_usd: float, prompt_tokens: int, completion_tokens: int) -> None:
    COST.labels(provider).inc(max(cost_usd, 0.0))
    TOKENS.labels(provider, "prompt").inc(max(prompt_tokens, 0))
    TOKENS.labels(provider, "completion").inc(max(completion_tokens, 0))


def round_ended(conversation_id: int | None, status: str, topic: str, sources: Sequence[str]) -> None:
    """A round ended (``status`` complete or skipped by an admin), or a slot was skipped (no id)."""
    ROUNDS.labels(status).inc()
    if status == "complete" and sources and all(s == "template" for s in sources):
        ROUNDS_ALL_TEMPLATES.inc()
        alert("round_all_templates",
              f"round {conversation_id} ended with templates only: no provider answered",
              key="round_all_templates", conversation_id=conversation_id, topic=topic)


def circuit_changed(provider: str, opened: bool, detail: str | None) -> None:
    """A provider's circuit opened (calls stop) or closed again (a probe succeeded)."""
    if opened:
        alert("circuit_open", f"{provider}'s circuit opened: calls stop until a probe succeeds"
              + (f" (last error: {detail})" if detail else ""), key=provider,
              provider=provider, last_error=detail)
    else:
        alert("circuit_closed", f"{provider}'s circuit closed: the provider answers again",
              key=provider, provider=provider)


def budget_reached(scope: str, spent_usd: float, limit_usd: float) -> None:
    """``scope`` is "total" (agents now answer from templates) or a provider name."""
    what = ("the daily budget" if scope == "total" else f"{scope}'s daily budget")
    then = ("agents answer from templates" if scope == "total" else f"{scope} is skipped")
    alert("budget_reached", f"{what} of ${limit_usd:g} is reached (${spent_usd:.4f} spent): "
          f"{then} until UTC midnight", key=scope, scope=scope,
          spent_usd=round(spent_usd, 6), limit_usd=limit_usd)


def database_changed(ok: bool, detail: str) -> None:
    """The database failed (after working) or works again (after failing)."""
    if ok:
        alert("database_recovered", "the database answers again", key="database")
    else:
        alert("database_failed", f"the database failed: {detail}", key="database", detail=detail)


def engine_changed(running: bool, instance: str, detail: str = "") -> None:
    """This instance started running the engine (took it over) or lost it."""
    if running:
        alert("engine_started", f"the engine now runs on {instance}" + (f" ({detail})" if detail else ""),
              key=f"started:{instance}", instance_id=instance)
    else:
        alert("engine_lost", f"the engine stopped on {instance}: {detail or 'lost the engine lock'}",
              key=f"lost:{instance}", instance_id=instance)
