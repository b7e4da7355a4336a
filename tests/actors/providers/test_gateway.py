"""Gateways: today's calls and cost survive a restart by seeding them from the database."""

from __future__ import annotations

import pytest

from actors.providers import registry
from actors.providers.base import GenerationRequest, Reply
from actors.providers.gateway import Gateways, build_gateways
from actors.providers.registry import persona_for
from settings import ProviderSettings, Settings

DAY = 86_400.0
NOON = 1_767_225_600.0 + DAY / 2  # 2026-01-01 12:00 UTC


class FakeClock:
    def __init__(self, start: float = NOON) -> None:
        self.t = start

    def now(self) -> float:
        return self.t


class Answers:
    """A provider that always answers."""

    def __init__(self, name: str) -> None:
        self.name, self.model = name, f"{name}-model"

    def generate(self, request: GenerationRequest, *, api_key: str, timeout: float) -> Reply:
        return Reply(text="A reply.", model=self.model)


def _gateways(clock: FakeClock) -> Gateways:
    settings = Settings(providers={
        name: ProviderSettings(
            name=name, api_keys=(f"sk-{name}",), base_url="http://127.0.0.1:9",
            model=f"{name}-model", requests_per_minute=60, fallbacks=(),
        )
        for name in registry.names()
    }, moderation="local")  # no moderation endpoint at 127.0.0.1:9
    return build_gateways(settings, clock, {name: Answers(name) for name in registry.names()})


def _today(gateways: Gateways, name: str) -> tuple[int, float]:
    health = gateways.health()[name]
    return health.calls_today, health.cost_today_usd


def test_seed_today_sets_the_counters_shown_by_health() -> None:
    gateways = _gateways(FakeClock())
    # The shape of storage.queries.calls_since(db, midnight).
    gateways.seed_today({
        "openai": {"calls": 12, "cost_usd": 0.0345},
        "anthropic": {"calls": 3, "cost_usd": 0.01},
        "retired-provider": {"calls": 7, "cost_usd": 1.0},  # no gateway: ignored
    })
    assert _today(gateways, "openai") == (12, 0.0345)
    assert _today(gateways, "anthropic") == (3, 0.01)
    assert _today(gateways, "gemini") == (0, 0.0)  # no calls today: stays zero


def test_calls_and_costs_after_seeding_add_to_the_seeded_totals() -> None:
    clock = FakeClock()
    gateways = _gateways(clock)
    gateways.seed_today({"openai": {"calls": 12, "cost_usd": 0.5}})
    gateway = gateways["openai"]
    request = GenerationRequest(persona_for("openai"), "Night trains", (), 1, 16, clock.now() + 30)
    gateway.call(request, api_key="sk-openai", timeout=1.0)
    gateway.add_cost(0.25)
    assert _today(gateways, "openai") == (13, 0.75)


def test_seeded_counters_still_reset_at_utc_midnight() -> None:
    clock = FakeClock()
    gateways = _gateways(clock)
    gateways.seed_today({"perplexity": {"calls": 5, "cost_usd": 0.02}})
    clock.t = NOON + DAY / 2 - 1  # 23:59:59 UTC
    assert _today(gateways, "perplexity") == (5, 0.02)
    clock.t = NOON + DAY / 2  # midnight
    assert _today(gateways, "perplexity") == (0, 0.0)


def test_seeding_after_a_day_change_counts_for_the_new_day() -> None:
    clock = FakeClock()
    gateways = _gateways(clock)  # built yesterday, seeded after midnight
    clock.t = NOON + DAY
    gateways.seed_today({"gemini": {"calls": 2, "cost_usd": 0.001}})
    assert _today(gateways, "gemini") == (2, pytest.approx(0.001))
    clock.t = NOON + 1.5 * DAY  # the next midnight still resets it
    assert _today(gateways, "gemini") == (0, 0.0)
