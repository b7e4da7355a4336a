"""The clock seam: everything that schedules takes a ``Clock`` so tests can inject one.

``utc_day_start`` is the one place the UTC day is computed (budgets, today's totals on
every instance, the per-provider counters): pass it ``clock.now()`` of the injected clock.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Final, Protocol

__all__ = ["DAY_SECONDS", "Clock", "SystemClock", "iso_utc", "utc_day_start"]

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


def iso_utc(seconds: float) -> str:
    """Epoch seconds as RFC 3339 UTC to the second: ``2026-11-30T05:30:00Z``."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
