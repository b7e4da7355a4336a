"""The clock seam: everything that schedules takes a ``Clock`` so tests can inject one.

``utc_day_start`` is the one place the UTC day is computed (budgets, today's totals on
every instance, the per-provider counters): pass it ``clock.now()`` of the injected clock.
"""

from __future__ import annotations

import time
from typing import Final, Protocol

__all__ = ["DAY_SECONDS", "Clock", "SystemClock", "utc_day_start"]

DAY_SECONDS: Final = 86_400.0


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the Unix epoch (UTC), as a float."""
        ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> float:
        return time.time()


def utc_day_start(now: float) -> float:
    """The start (epoch seconds) of the UTC day that contains ``now`` (epoch seconds)."""
    return (now // DAY_SECONDS) * DAY_SECONDS
