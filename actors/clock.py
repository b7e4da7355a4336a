"""The clock seam: everything that schedules takes a ``Clock`` so tests can inject one."""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "SystemClock"]


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the Unix epoch (UTC), as a float."""
        ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> float:
        return time.time()
