"""The engine's daily jobs: with ``RETENTION_DAYS`` set, old rows are pruned; always, the
planner's statistics are refreshed, so they follow the history as it grows."""

from __future__ import annotations

import logging
from typing import Any, Final

import pykka

from actors.clock import DAY_SECONDS, Clock, iso_utc
from actors.daemon import DaemonLoop
from storage.errors import StorageError

__all__ = ["DAY_SECONDS", "RetentionJob", "StatisticsJob"]

log = logging.getLogger("roundtable.retention")

#: A failed prune is tried again this much later (not a whole day).
RETRY_SECONDS: Final = 3_600.0
#: Deleting a first large backlog can take a while; the engine's own writes queue behind it.
PRUNE_TIMEOUT_SECONDS: Final = 300.0


class RetentionJob(DaemonLoop):
    """A daemon thread of the engine that asks Persistence (the only writer) to delete
    the rows older than ``keep_seconds`` when a prune is due by the injected ``clock``:
    at start, then every ``every_seconds`` (a day). It looks at the clock every
    ``poll_seconds``, so a clock that jumps ahead (a test, a resumed host) is noticed
    within one poll. Being a daemon, it never keeps a process alive."""

    def __init__(
        self,
        persistence: Any,
        clock: Clock,
        keep_seconds: float,
        *,
        every_seconds: float = DAY_SECONDS,
        poll_seconds: float = 60.0,
    ) -> None:
        super().__init__("roundtable-retention")
        self._persistence = persistence
        self._clock = clock
        self._keep = keep_seconds
        self._every = every_seconds
        self._poll = poll_seconds
        self._next_at: float | None = None  # None: due at once

    def run_if_due(self) -> dict[str, int] | None:
        """Prune now if due (the job's thread); the counts removed, or ``None``."""
        now = self._clock.now()
        if self._next_at is not None and now < self._next_at:
            return None
        cutoff = now - self._keep
        try:
            removed: dict[str, int] = self._persistence.prune(cutoff).get(timeout=PRUNE_TIMEOUT_SECONDS)
        except (StorageError, pykka.ActorDeadError, pykka.Timeout) as exc:
            self._next_at = now + min(RETRY_SECONDS, self._every)
            log.warning("retention: could not remove rows older than %s (%s); trying again later",
                        iso_utc(cutoff), exc)
            return None
        self._next_at = now + self._every
        counts = ", ".join(f"{n} {table}" for table, n in removed.items())
        log.info("retention: removed rows older than %s: %s", iso_utc(cutoff), counts)
        return removed

    def _run(self) -> None:
        while not self._stopped.is_set():
            self.run_if_due()
            self._stopped.wait(self._poll)


class StatisticsJob(DaemonLoop):
    """A daemon thread of the engine that asks Persistence to refresh the planner's
    statistics (``storage.db.refresh_statistics``: bounded, and on PostgreSQL only the
    tables that outgrew theirs) every ``every_seconds`` (a day; start-up has just refreshed
    them). Without it SQLite never updates them, and PostgreSQL only when autovacuum
    runs."""

    def __init__(self, persistence: Any, *, every_seconds: float = DAY_SECONDS) -> None:
        super().__init__("roundtable-statistics")
        self._persistence = persistence
        self._every = every_seconds

    def _run(self) -> None:
        while not self._stopped.wait(self._every):
            try:
                self._persistence.refresh_statistics().get(timeout=PRUNE_TIMEOUT_SECONDS)
            except (StorageError, pykka.ActorDeadError, pykka.Timeout) as exc:
                log.warning("could not refresh the planner's statistics (%s); trying again tomorrow", exc)


