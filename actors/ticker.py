"""The Ticker: the thread that makes the Supervisor look at the clock."""

from __future__ import annotations

import logging
from typing import Any

import pykka

from actors.daemon import DaemonLoop

__all__ = ["Ticker"]

log = logging.getLogger("roundtable.supervisor")


class Ticker(DaemonLoop):
    """A daemon thread that calls ``supervisor.tick()`` every ``interval`` seconds.

    It waits for each tick to finish before the next, so ticks never pile up in the
    Supervisor's mailbox, and stops promptly when ``stop`` is called.
    """

    def __init__(self, supervisor: Any, interval: float) -> None:
        super().__init__("roundtable-ticker")
        self._supervisor = supervisor
        self._interval = interval

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                self._supervisor.tick().get(timeout=30)
            except pykka.ActorDeadError:
                return
            except Exception:
                log.exception("supervisor tick failed")
