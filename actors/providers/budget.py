"""Daily spending caps: ``DAILY_BUDGET_USD`` for all providers together, and optional
``{P}_DAILY_BUDGET_USD`` per provider. Past the total, agents answer from templates until
UTC midnight; past a provider's own cap, that provider is skipped (the chain falls back).

One ``DailyBudget`` is shared by every provider chain, so it is called from all four agent
threads and from the web layer (``view``); a lock guards the running totals. The day is the
UTC day, so totals reset at UTC midnight whatever the server's time zone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, Final

from actors.clock import Clock, utc_day_start

__all__ = ["TOTAL", "DailyBudget"]

#: The scope name of the all-providers budget in ``on_reached`` calls.
TOTAL: Final = "total"

#: ``on_reached(scope, spent_usd, limit_usd)``; scope is ``TOTAL`` or a provider name.
ReachedHook = Callable[[str, float, float], None]


class DailyBudget:
    """Thread-safe running totals of today's spend against optional limits.

    ``limit_usd=None`` means no overall limit: ``exceeded()`` is always False but spending
    is still counted (for ``/api/status``); the same for a provider missing from
    ``provider_limits``. ``spent_today``/``provider_spent`` seed the totals after a restart.
    ``on_reached`` is called once per scope and UTC day, when a limit is first reached, on
    the thread that spent (outside the lock); it must not block.
    """

    def __init__(
        self,
        limit_usd: float | None,
        clock: Clock,
        spent_today: float = 0.0,
        *,
        provider_limits: Mapping[str, float | None] | None = None,
        provider_spent: Mapping[str, float] | None = None,
        on_reached: ReachedHook | None = None,
    ) -> None:
        self.limit_usd = limit_usd
        self.provider_limits = {k: v for k, v in (provider_limits or {}).items() if v is not None}
        self._clock = clock
        self._on_reached = on_reached
        self._lock = threading.Lock()
        self._day = self._today()
        self._spent = spent_today
        self._by_provider: dict[str, float] = dict(provider_spent or {})
        self._announced: set[str] = set(self._reached_scopes())

    def add(self, cost_usd: float, provider: str | None = None) -> None:
        """Count ``cost_usd`` against today (and ``provider``'s total); <= 0 is ignored."""
        if cost_usd <= 0:
            return
        with self._lock:
            self._roll()
            self._spent += cost_usd
            if provider is not None:
                self._by_provider[provider] = self._by_provider.get(provider, 0.0) + cost_usd
            fresh = [s for s in self._reached_scopes() if s not in self._announced]
            self._announced.update(fresh)
            figures = [(s, *self._figures(s)) for s in fresh]
        if self._on_reached is not None:
            for scope, spent, limit in figures:
                self._on_reached(scope, spent, limit)

    def exceeded(self) -> bool:
        """True once today's total spend has reached the overall limit (until midnight)."""
        if self.limit_usd is None:
            return False
        with self._lock:
            self._roll()
            return self._spent >= self.limit_usd

    def provider_exceeded(self, provider: str) -> bool:
        """True once ``provider``'s spend today has reached its own limit."""
        limit = self.provider_limits.get(provider)
        if limit is None:
            return False
        with self._lock:
            self._roll()
            return self._by_provider.get(provider, 0.0) >= limit

    @property
    def spent_today(self) -> float:
        with self._lock:
            self._roll()
            return self._spent

    def view(self, providers: tuple[str, ...] = ()) -> dict[str, Any]:
        """JSON-ready spend against budget for ``/api/status`` (USD, rounded to 1e-6)::

            {daily_limit_usd, spent_today_usd, remaining_usd, reached,
             providers: {name: {daily_limit_usd, spent_today_usd, remaining_usd, reached}}}

        ``daily_limit_usd``/``remaining_usd`` are null where there is no limit.
        """
        with self._lock:
            self._roll()
            names = dict.fromkeys((*providers, *self._by_provider, *self.provider_limits))
            return {
                **_line(self._spent, self.limit_usd),
                "providers": {
                    name: _line(self._by_provider.get(name, 0.0), self.provider_limits.get(name))
                    for name in names
                },
            }

    def _reached_scopes(self) -> list[str]:
        """Scopes whose limit today's spend has reached. Caller holds the lock (or owns self)."""
        scopes = [TOTAL] if self.limit_usd is not None and self._spent >= self.limit_usd else []
        scopes += [
            name for name, limit in self.provider_limits.items()
            if self._by_provider.get(name, 0.0) >= limit
        ]
        return scopes

    def _figures(self, scope: str) -> tuple[float, float]:
        if scope == TOTAL:
            assert self.limit_usd is not None
            return self._spent, self.limit_usd
        return self._by_provider.get(scope, 0.0), self.provider_limits[scope]

    def _roll(self) -> None:
        """Start a new day's totals once the UTC day has changed. Caller holds the lock."""
        today = self._today()
        if today != self._day:
            self._day = today
            self._spent = 0.0
            self._by_provider.clear()
            self._announced.clear()

    def _today(self) -> float:
        return utc_day_start(self._clock.now())


def _line(spent: float, limit: float | None) -> dict[str, Any]:
    return {
        "daily_limit_usd": limit,
        "spent_today_usd": round(spent, 6),
        "remaining_usd": None if limit is None else round(max(limit - spent, 0.0), 6),
        "reached": limit is not None and spent >= limit,
    }
