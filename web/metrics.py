"""GET /metrics in the Prometheus text format.

Two parts: the process's counters and histograms (``actors.observe.metrics.REGISTRY``, moved as
things happen), and gauges computed from one ``system.status()`` snapshot at scrape time
(state, circuits, connected visitors, leadership, budgets). A standby instance reports its
own WebSocket counters and its view of the state; engine counters move on the leader.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from quart import Blueprint, Response

from actors import wire
from actors.observe.metrics import REGISTRY
from web.context import Context

bp = Blueprint("metrics", __name__)

STATES: Final = ("countdown", "active", "complete", "paused")
CIRCUIT_STATES: Final = ("closed", "open", "half_open")


class _StatusCollector:
    """Turns one ``system.status()`` snapshot into gauge families."""

    def __init__(self, status: dict[str, Any], connections: int) -> None:
        self._status = status
        self._connections = connections

    def collect(self) -> Iterator[Metric]:
        status = self._status
        state = GaugeMetricFamily("roundtable_state", "1 for the engine's current state", labels=["state"])
        for name in STATES:
            state.add_metric([name], 1.0 if status["state"] == name else 0.0)
        yield state
        yield GaugeMetricFamily(
            "roundtable_websocket_connections", "Visitors connected to this instance by WebSocket",
            value=self._connections,
        )
        yield GaugeMetricFamily(
            "roundtable_leader", "1 when this instance runs the engine, 0 on a standby",
            value=0.0 if status.get("role") == "standby" else 1.0,
        )
        yield from self._circuits(status.get("providers", {}))
        yield from self._budgets(status.get("budget"))

    def _circuits(self, providers: dict[str, Any]) -> Iterator[Metric]:
        circuit = GaugeMetricFamily(
            "roundtable_provider_circuit", "1 for each provider's circuit state",
            labels=["provider", "state"],
        )
        opened = GaugeMetricFamily(
            "roundtable_provider_circuit_open", "1 when the provider's circuit is open",
            labels=["provider"],
        )
        for name, health in providers.items():
            if health.get("circuit") is None:  # a standby does not know the engine's circuits
                continue
            current = str(health.get("circuit", "closed")).replace("-", "_")
            for value in CIRCUIT_STATES:
                circuit.add_metric([name, value], 1.0 if current == value else 0.0)
            opened.add_metric([name], 1.0 if current == "open" else 0.0)
        yield from (circuit, opened)

    def _budgets(self, budget: dict[str, Any] | None) -> Iterator[Metric]:
        if not budget:
            return
        spent = GaugeMetricFamily(
            "roundtable_budget_spent_today_usd", "Spend since UTC midnight, total and per provider",
            labels=["scope"],
        )
        limit = GaugeMetricFamily(
            "roundtable_budget_limit_usd", "Daily budget (only scopes that have one)", labels=["scope"],
        )
        scopes = {"total": budget, **budget.get("providers", {})}
        for scope, line in scopes.items():
            spent.add_metric([scope], float(line.get("spent_today_usd", 0.0)))
            if line.get("daily_limit_usd") is not None:
                limit.add_metric([scope], float(line["daily_limit_usd"]))
        yield from (spent, limit)


@bp.get("/metrics")
async def metrics() -> Response:
    context = Context.current()
    status = wire.status(await context.call(context.system.status))
    gauges = CollectorRegistry(auto_describe=False)
    connections = len(context.hub.connections) if context.hub else 0
    gauges.register(_StatusCollector(status, connections))  # type: ignore[arg-type]
    body = generate_latest(REGISTRY) + generate_latest(gauges)
    # content_type, not mimetype: Quart would append a second "; charset=utf-8".
    return Response(body, content_type=CONTENT_TYPE_LATEST)
