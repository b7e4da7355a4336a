"""``DaemonLoop``: the engine's small background threads (ticker, retention, command relay).

Each is a daemon thread (it never keeps a host process alive) running ``_run`` until
``stop()``; ``_stopped`` is the event its loop waits on, so a stop is noticed at once.
"""

from __future__ import annotations

import threading
from typing import Final

__all__ = ["DaemonLoop"]

#: How long ``stop()`` waits for the thread to end.
JOIN_SECONDS: Final = 5.0


class DaemonLoop:
    """Subclasses implement ``_run`` (on the thread), looping until ``_stopped`` is set."""

    def __init__(self, name: str) -> None:
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Any thread: ask the loop to end and wait for it (at most ``JOIN_SECONDS``)."""
        self._stopped.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=JOIN_SECONDS)

    def _run(self) -> None:
        raise NotImplementedError
