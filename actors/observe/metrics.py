"""The process's Prometheus metrics: counters and histograms, in one registry.

Counters (exposed with ``_total``) and histograms live here and are moved where things
happen (``observe.events`` and the gateway); ``web/metrics.py`` renders them with the
gauges it computes from ``/api/status`` at scrape time. Every label has a small, fixed
set of values (never free text), so series stay few. All prometheus-client metrics are
thread-safe: any thread may move them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = [
    "ALERTS",
    "COST",
    "FALLBACKS",
    "MESSAGES",
    "MODERATION_REVIEWS",
    "PROVIDER_CALLS",
    "PROVIDER_LATENCY",
    "REGISTRY",
    "REVEAL_LATENESS",
    "ROUNDS",
    "ROUNDS_ALL_TEMPLATES",
    "TOKENS",
    "WS_CLOSED",
    "WS_DROPPED",
    "WS_OPENED",
    "prime",
]

REGISTRY: Final = CollectorRegistry(auto_describe=True)

MESSAGES: Final = Counter(
    "roundtable_messages", "Messages revealed, by agent, who wrote it and how (api, fallback, template)",
    ["agent", "provider", "source"], registry=REGISTRY,
)
FALLBACKS: Final = Counter(
    "roundtable_fallbacks", "Messages not written by the agent's own provider, by the first reason",
    ["agent", "reason"], registry=REGISTRY,
)
PROVIDER_CALLS: Final = Counter(
    "roundtable_provider_calls", "Provider API calls, by outcome (ok or the error kind)",
    ["provider", "outcome"], registry=REGISTRY,
)
TOKENS: Final = Counter(
    "roundtable_tokens", "Tokens billed by providers, by kind (prompt, completion)",
    ["provider", "kind"], registry=REGISTRY,
)
COST: Final = Counter(
    "roundtable_cost_usd", "US dollars spent on provider calls (reported, priced or estimated)",
    ["provider"], registry=REGISTRY,
)
ROUNDS: Final = Counter(
    "roundtable_rounds", "Rounds ended, by outcome (complete, skipped)",
    ["outcome"], registry=REGISTRY,
)
ROUNDS_ALL_TEMPLATES: Final = Counter(
    "roundtable_rounds_all_templates", "Complete rounds in which no API answered at all",
    registry=REGISTRY,
)
WS_OPENED: Final = Counter(
    "roundtable_websocket_connections_opened", "WebSocket connections opened", registry=REGISTRY,
)
WS_CLOSED: Final = Counter(
    "roundtable_websocket_connections_closed",
    "WebSocket connections closed, by reason (client, too_slow, going_away)",
    ["reason"], registry=REGISTRY,
)
WS_DROPPED: Final = Counter(
    "roundtable_websocket_connections_dropped",
    "WebSocket connections the server dropped for falling behind (slow clients)",
    registry=REGISTRY,
)
ALERTS: Final = Counter(
    "roundtable_alerts", "Alerts raised, by kind (sent to ALERT_WEBHOOK_URL when set)",
    ["kind"], registry=REGISTRY,
)
MODERATION_REVIEWS: Final = Counter(
    "roundtable_moderation_reviews",
    "Replies reviewed by the moderation gate, by verdict (passed, flagged, unavailable)",
    ["provider", "verdict"], registry=REGISTRY,
)
PROVIDER_LATENCY: Final = Histogram(
    "roundtable_provider_latency_seconds", "Duration of one provider API call",
    ["provider"], buckets=(0.25, 0.5, 1, 2, 4, 8, 15, 30, 60), registry=REGISTRY,
)
REVEAL_LATENESS: Final = Histogram(
    "roundtable_reveal_lateness_seconds", "How long after its planned time a message was revealed",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30), registry=REGISTRY,
)

_SOURCES: Final = ("api", "fallback", "template")
_ROUND_OUTCOMES: Final = ("complete", "skipped")


def prime(providers: Iterable[str]) -> None:
    """Create the everyday series at zero, so ``rate()`` and ``increase()`` see a series
    from the first scrape instead of appearing on the first event."""
    names = tuple(providers)
    for name in names:
        MESSAGES.labels(name, name, "api")
        PROVIDER_CALLS.labels(name, "ok")
        COST.labels(name)
        for kind in ("prompt", "completion"):
            TOKENS.labels(name, kind)
        PROVIDER_LATENCY.labels(name)
        MODERATION_REVIEWS.labels(name, "passed")
    for outcome in _ROUND_OUTCOMES:
        ROUNDS.labels(outcome)
    WS_CLOSED.labels("client")
