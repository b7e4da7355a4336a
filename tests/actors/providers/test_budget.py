"""The daily budget."""

from __future__ import annotations

import threading

import pytest

from actors.providers.budget import DailyBudget

MIDNIGHT = 1_767_225_600.0  # 2026-01-01T00:00:00Z


class FakeClock:
    def __init__(self, start: float) -> None:
        self.t = start

    def now(self) -> float:
        return self.t


def test_exceeded_once_spend_reaches_the_limit() -> None:
    budget = DailyBudget(1.0, FakeClock(MIDNIGHT + 3600))
    budget.add(0.6)
    assert not budget.exceeded()
    budget.add(0.4)
    assert budget.exceeded()
    assert budget.spent_today == pytest.approx(1.0)


def test_no_limit_is_never_exceeded_but_still_counts() -> None:
    budget = DailyBudget(None, FakeClock(MIDNIGHT))
    budget.add(1e6)
    assert not budget.exceeded()
    assert budget.spent_today == 1e6


def test_resets_at_utc_midnight() -> None:
    clock = FakeClock(MIDNIGHT - 1.0)
    budget = DailyBudget(1.0, clock, spent_today=5.0)
    assert budget.exceeded()
    clock.t = MIDNIGHT
    assert not budget.exceeded()
    assert budget.spent_today == 0.0


def test_negative_and_zero_costs_are_ignored() -> None:
    budget = DailyBudget(1.0, FakeClock(MIDNIGHT))
    budget.add(-5.0)
    budget.add(0.0)
    assert budget.spent_today == 0.0


def test_concurrent_adds_are_all_counted() -> None:
    budget = DailyBudget(None, FakeClock(MIDNIGHT))

    def spend() -> None:
        for _ in range(1000):
            budget.add(0.001)

    threads = [threading.Thread(target=spend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert budget.spent_today == pytest.approx(8.0)


def test_provider_budget_caps_only_that_provider() -> None:
    budget = DailyBudget(None, FakeClock(MIDNIGHT), provider_limits={"openai": 0.5, "gemini": None})
    budget.add(0.4, "openai")
    budget.add(3.0, "gemini")
    assert not budget.provider_exceeded("openai")
    budget.add(0.1, "openai")
    assert budget.provider_exceeded("openai")
    assert not budget.provider_exceeded("gemini") and not budget.exceeded()


def test_view_shows_spend_against_every_budget() -> None:
    budget = DailyBudget(2.0, FakeClock(MIDNIGHT), provider_limits={"openai": 0.5})
    budget.add(0.75, "openai")
    view = budget.view(("openai", "anthropic"))
    assert view["daily_limit_usd"] == 2.0 and view["spent_today_usd"] == 0.75
    assert view["remaining_usd"] == 1.25 and view["reached"] is False
    assert view["providers"]["openai"] == {
        "daily_limit_usd": 0.5, "spent_today_usd": 0.75, "remaining_usd": 0.0, "reached": True,
    }
    assert view["providers"]["anthropic"]["daily_limit_usd"] is None


def test_on_reached_fires_once_per_scope_and_day() -> None:
    clock = FakeClock(MIDNIGHT + 10)
    seen: list[tuple[str, float, float]] = []
    budget = DailyBudget(1.0, clock, provider_limits={"openai": 0.5},
                         on_reached=lambda *args: seen.append(args))
    budget.add(0.6, "openai")
    budget.add(0.6, "openai")
    budget.add(0.6, "openai")
    assert seen == [("openai", 0.6, 0.5), ("total", 1.2, 1.0)]
    clock.t += 86_400
    budget.add(0.6, "openai")
    assert seen[-1] == ("openai", 0.6, 0.5) and len(seen) == 3
