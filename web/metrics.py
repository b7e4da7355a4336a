"""GET /metrics in the Prometheus text format, built from the engine's status at scrape."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from quart import Blueprint, Response

from web.context import Context

bp = Blueprint("metrics", __name__)

STATES = ("countdown", "active", "complete", "paused")


class _StatusCollector:
    """Turns one ``system.status()`` snapshot into metric families (no global registry)."""

    def __init__(self, status: dict[str, Any], connections: int) -> None:
        self._status = status
        self._connections = connections

    def collect(self) -> Iterator[Metric]:
        state = GaugeMetricFamily("roundtable_state", "1 for the engine's current state", labels=["state"])
        for name in STATES:
            state.add_metric([name], 1.0 if self._status["state"] == name else 0.0)
        yield state
        yield GaugeMetricFamily("roundtable_websocket_connections", "open WebSocket connections", value=self._connections)
        providers = self._status.get("providers", {})
        calls = GaugeMetricFamily("roundtable_provider_calls_today", "provider calls since UTC midnight", labels=["provider"])
        cost = GaugeMetricFamily("roundtable_provider_cost_today_usd", "provider cost since UTC midnight", labels=["provider"])
        circuit = GaugeMetricFamily("roundtable_provider_circuit_open", "1 when the circuit breaker is open", labels=["provider"])
        for name, health in providers.items():
            calls.add_metric([name], float(health.get("calls_today", 0)))
            cost.add_metric([name], float(health.get("cost_today_usd", 0.0)))
            circuit.add_metric([name], 1.0 if health.get("circuit") == "open" else 0.0)
        yield from (calls, cost, circuit)
        reviews = CounterMetricFamily(
            "roundtable_moderation_reviews", "replies reviewed by the moderation gate since start",
            labels=["provider", "verdict"],
        )
        for name, health in providers.items():
            for verdict, count in (health.get("moderation") or {}).items():
                reviews.add_metric([name, verdict], float(count))
        yield reviews


@bp.get("/metrics")
async def metrics() -> Response:
    context = Context.current()
    status = await context.call(context.system.status)
    registry = CollectorRegistry(auto_describe=False)
    connections = len(context.hub.connections) if context.hub else 0
    registry.register(_StatusCollector(status, connections))  # type: ignore[arg-type]
    # CONTENT_TYPE_LATEST already names its charset; as a mimetype Quart would add another.
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
