"""A fake incoming-webhook receiver (Slack-style) on 127.0.0.1, for ALERT_WEBHOOK_URL.

It answers every POST with 200 ``ok`` unless scripted otherwise (``enqueue`` a
``Script(500)`` to make the sender retry; set ``hang`` to never answer until stopped).
``wait_for(kind)`` blocks until an alert of that kind has arrived.
"""

from __future__ import annotations

import threading
from typing import Any

from tests.fakes.server import FakeServer, Received, Script

__all__ = ["FakeWebhook"]


class FakeWebhook(FakeServer):
    def __init__(self, *, hang: bool = False) -> None:
        super().__init__()
        self.hang = hang
        self.arrived = threading.Condition()

    def answer(self, received: Received) -> Script:
        if self.hang:
            return Script(200, raw="ok", hang_seconds=3600)  # until the server stops
        return Script(200, raw="ok")

    def _next_script(self, received: Received) -> Script:
        script = super()._next_script(received)
        with self.arrived:
            self.arrived.notify_all()
        return script

    def alerts(self, kind: str | None = None) -> list[dict[str, Any]]:
        bodies = [r.body for r in list(self.requests) if isinstance(r.body, dict)]
        return [b for b in bodies if kind is None or b.get("kind") == kind]

    def wait_for(self, kind: str, count: int = 1, timeout: float = 15.0) -> list[dict[str, Any]]:
        """The alerts of ``kind`` once ``count`` have arrived; TimeoutError otherwise."""
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.alerts(kind)) >= count, timeout):
                raise TimeoutError(f"no {kind} alert in {timeout} s; got {self.alerts()}")
        return self.alerts(kind)
