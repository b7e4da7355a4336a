"""The Ticker: the thread that makes the Supervisor look at the clock when something is due."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pykka

from actors.clock import Clock
from actors.daemon import DaemonLoop

__all__ = ["Alarm", "Ticker"]

log = logging.getLogger("roundtable.supervisor")


class Alarm:
    """Wakes the Ticker before its planned time: the Supervisor rings it (any thread) when
    a message it handled may have brought something due earlier (a reply, a command)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def ring(self) -> None:
        self._event.set()

    def wait(self, timeout: float) -> bool:
        """Until rung or ``timeout`` seconds pass (False); then re-armed."""
        rung = self._event.wait(timeout)
        self._event.clear()
        return rung


class Ticker(DaemonLoop):
    """A daemon thread that calls ``supervisor.tick()`` when the next decision falls due.

    ``tick`` returns when the next thing is due (epoch seconds on ``clock``: a reveal, a
    slot, a deadline, the end of the complete hold, a heartbeat); the Ticker sleeps until
    then, at most ``interval`` seconds, or until the ``alarm`` rings. So a reveal happens
    at its planned instant, not at the next poll, and an idle engine wakes rarely. It
    waits for each tick to finish before the next, so ticks never pile up in the
    Supervisor's mailbox, and stops promptly when ``stop`` is called.
    """

    def __init__(self, supervisor: Any, interval: float, clock: Clock, alarm: Alarm) -> None:
        super().__init__("roundtable-ticker")
        self._supervisor = supervisor
        self._interval = interval
        self._clock = clock
        self._alarm = alarm

    def stop(self) -> None:
        self._stopped.set()
        self._alarm.ring()
        super().stop()

    def _run(self) -> None:
        while not self._stopped.is_set():
            due = self._tick()
            if not self._stopped.is_set():
                self._alarm.wait(self._sleep(due))

    def _tick(self) -> float | None:
        """The next due instant, or None if the tick failed (then wait ``interval``)."""
        try:
            due = self._supervisor.tick().get(timeout=30)
        except pykka.ActorDeadError:
            self._stopped.set()
        except Exception:
            log.exception("supervisor tick failed")
        else:
            return float(due)
        return None

    def _sleep(self, due: float | None) -> float:
        """Seconds to sleep before the next tick: until ``due``, within [0, interval]."""
        if due is None:
            return self._interval
        return min(max(due - self._clock.now(), 0.0), self._interval)
