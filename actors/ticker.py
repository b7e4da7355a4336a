"""The Ticker: the thread that makes the Supervisor look at the clock."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pykka

__all__ = ["Ticker"]

log = logging.getLogger("roundtable.supervisor")


class Ticker:
    """A daemon thread that calls ``supervisor.tick()`` every ``interval`` seconds.

    It waits for each tick to finish before the next, so ticks never pile up in the
    Supervisor's mailbox, and stops promptly when ``stop`` is called.
    """

    def __init__(self, supervisor: Any, interval: float) -> None:
        self._supervisor = supervisor
        self._interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="roundtable-ticker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                self._supervisor.tick().get(timeout=30)
            except pykka.ActorDeadError:
                return
            except Exception:
                log.exception("supervisor tick failed")
