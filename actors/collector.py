"""Full garbage collections at quiet moments only (the service's own process).

Each visitor's connection holds about 190 objects the cyclic collector tracks (Hypercorn's
and Quart's), so with 10,000 visitors an automatic full (generation 2) collection scans
~2.2 million objects and holds the GIL for seconds, whenever it happens to fall: during a
round it made reveals and the fan-out late (docs/benchmarks.md). ``QuietCollector`` turns
automatic full collections off (young collections go on as before: they never scan the
old generation) and runs the full collection itself when nothing is due: when a round has
ended, and otherwise every ``INTERVAL_SECONDS`` if the old generation grew by a quarter
since the last one (CPython's own rule for its automatic full collections), so that cyclic
garbage cannot pile up while the engine is paused or idle or this instance is a standby,
and 10,000 idle visitors do not cost a collection every few minutes. Process-wide, hence
opted into by ``actors.cluster`` only; ``stop`` gives the thresholds back.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from typing import Final

from actors.daemon import DaemonLoop
from actors.view import EngineView

__all__ = ["QuietCollector", "quiet_moment"]

log = logging.getLogger("roundtable.gc")

#: When no round has ended, a full collection at most this often (seconds), and then only
#: if the old generation grew by ``GROWTH``.
INTERVAL_SECONDS: Final = 300.0
#: How often the view is looked at (a round's end is noticed this fast). Each look asks the
#: Supervisor for its view, on the thread that reveals: rarely, so as not to delay one.
CHECK_SECONDS: Final = 15.0
#: Quiet means no slot within this many seconds (a full collection with 10,000 visitors
#: took 1-6 s on a loaded 2-core machine) and no round playing.
MARGIN_SECONDS: Final = 20.0
#: Generation 2's threshold while automatic full collections are off: its count grows by
#: one per generation 1 collection, so it is never reached.
NEVER: Final = 1 << 30
#: An interval's collection only once the old generation holds this many times the objects
#: the last full collection left.
GROWTH: Final = 1.25


def quiet_moment(view: EngineView, margin: float = MARGIN_SECONDS) -> bool:
    """Nothing due within ``margin`` seconds: no round playing (its reveals), no slot."""
    if view.state == "active":
        return False
    return view.next_round_at is None or view.next_round_at - view.now >= margin


class QuietCollector(DaemonLoop):
    """Runs the full collections itself, when ``quiet_moment`` says the engine's ``view``
    (engine or standby, whichever serves) has nothing due. ``check`` is one look (the
    thread calls it every ``CHECK_SECONDS``; tests call it directly)."""

    def __init__(self, view: Callable[[], EngineView], *, interval: float = INTERVAL_SECONDS) -> None:
        super().__init__("roundtable-gc")
        self._view = view
        self._interval = interval
        self._saved: tuple[int, int, int] | None = None
        self._last: float | None = None  # view.now of the last full collection
        self._round: int | None = None  # the last finished round seen
        self._kept = 0  # objects in the old generation after the last full collection

    def start(self) -> None:
        """Turn automatic full collections off, then start looking."""
        self.stop_automatic()
        super().start()

    def stop(self) -> None:
        super().stop()
        self.restore()

    def stop_automatic(self) -> None:
        if self._saved is None:
            self._saved = gc.get_threshold()
            gc.set_threshold(self._saved[0], self._saved[1], NEVER)

    def restore(self) -> None:
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            self._saved = None

    def check(self) -> str | None:
        """Collect if it is time and quiet; why it collected ("round ended", "interval"),
        or None."""
        view = self._view()
        last = view.last_conversation.id if view.last_conversation else None
        if self._last is None:  # the first look: start counting from here
            self._last, self._round, self._kept = view.now, last, old_generation()
            return None
        if not quiet_moment(view):
            return None
        if last != self._round:
            reason = "round ended"
        elif view.now - self._last >= self._interval:
            self._last = view.now  # grown or not, look again in an interval
            if old_generation() < self._kept * GROWTH:
                return None
            reason = "interval"
        else:
            return None
        self._last, self._round = view.now, last
        collect(reason)
        self._kept = old_generation()
        return reason

    def _run(self) -> None:
        while not self._stopped.wait(CHECK_SECONDS):
            try:
                self.check()
            except Exception:  # no system yet, a standby's database gone: look again later
                log.debug("no quiet collection this time", exc_info=True)


def old_generation() -> int:
    """How many objects the old generation holds (a list of them, briefly: ~20 ms at
    10,000 visitors, once an interval)."""
    return len(gc.get_objects(generation=2))


def collect(reason: str) -> int:
    """One full collection, timed and logged; the number of unreachable objects found."""
    started = time.perf_counter()
    found = gc.collect()
    log.info("full garbage collection (%s): %d unreachable objects freed in %.0f ms",
             reason, found, (time.perf_counter() - started) * 1000)
    return found
