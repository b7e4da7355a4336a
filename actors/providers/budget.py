"""The daily spending cap (``DAILY_BUDGET_USD``): past it, agents answer from templates.

One ``DailyBudget`` is shared by every provider chain, so it is called from all four agent
threads; a lock guards the running total. The day is the UTC day, so the total resets at
UTC midnight whatever the server's time zone.
"""

from __future__ import annotations

import threading
from typing import Final

from actors.clock import Clock

__all__ = ["DailyBudget"]

_DAY: Final = 86_400.0


class DailyBudget:
    """Thread-safe running total of today's spend against an optional limit.

    ``limit_usd=None`` means no limit: ``exceeded()`` is always False but spending is
    still counted (for ``/api/status``). ``spent_today`` seeds the total after a restart.
    """

    def __init__(self, limit_usd: float | None, clock: Clock, spent_today: float = 0.0) -> None:
        self.limit_usd = limit_usd
        self._clock = clock
        self._lock = threading.Lock()
        self._day = self._today()
        self._spent = spent_today

    def add(self, cost_usd: float) -> None:
        """Count ``cost_usd`` against today; negative amounts are ignored."""
        if cost_usd <= 0:
            return
        with self._lock:
            self._roll()
            self._spent += cost_usd

    def exceeded(self) -> bool:
        """True once today's spend has reached the limit (and until UTC midnight)."""
        if self.limit_usd is None:
            return False
        with self._lock:
            self._roll()
            return self._spent >= self.limit_usd

    @property
    def spent_today(self) -> float:
        with self._lock:
            self._roll()
            return self._spent

    def _roll(self) -> None:
        """Start a new day's total once the UTC day has changed. Caller holds the lock."""
        today = self._today()
        if today != self._day:
            self._day = today
            self._spent = 0.0

    def _today(self) -> int:
        return int(self._clock.now() // _DAY)
