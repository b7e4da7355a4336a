"""Alerts to ``ALERT_WEBHOOK_URL``: a JSON POST per event, never in the engine's way.

``emit(kind, text, **fields)`` may be called from any thread (an agent, the Supervisor,
Persistence, the event loop). It only puts the alert on a bounded queue and returns at
once; one daemon thread (``AlertSender``) posts them in order, retrying each with backoff.
A receiver that hangs or fails therefore delays only later alerts, never a reveal, and a
full queue drops the newest alert with one log line. The same alert (``kind`` and
``key``, by default the text) is sent at most once per ``dedup_seconds``.

The body is Slack-compatible (``text``) plus structured fields::

    {"text": "Roundtable: ...", "kind": "circuit_open", "at": epoch_ms,
     "instance": "host:pid", ...fields}

Kinds sent today: those in ``docs/operations.md``'s alert table (a test keeps the two in
step); others may call ``emit`` with their own kind. The URL is a secret: it is never logged.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import httpx2

from actors.providers.bounded import tls_context

__all__ = ["AlertSender", "configure", "emit", "shutdown"]

log = logging.getLogger("roundtable.alerts")

QUEUE_SIZE: Final = 100
DEDUP_SECONDS: Final = 300.0
ATTEMPTS: Final = 4
#: Each POST (connect, send, every read) is bounded; the thread is alone in waiting.
POST_TIMEOUT: Final = 5.0
_INSTANCE: Final = f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Alert:
    kind: str
    text: str
    key: str
    fields: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)

    def body(self) -> dict[str, Any]:
        return {
            **self.fields,
            "text": f"Roundtable: {self.text}",
            "kind": self.kind,
            "at": round(self.at * 1000),
            "instance": _INSTANCE,
        }


class AlertSender:
    """The queue and the one thread that posts alerts to ``url``.

    ``submit`` runs on any thread and never blocks; the posting, retries and backoff
    (``backoff * 2**n`` seconds) happen on the sender's daemon thread.
    """

    def __init__(
        self,
        url: str,
        *,
        queue_size: int = QUEUE_SIZE,
        dedup_seconds: float = DEDUP_SECONDS,
        attempts: int = ATTEMPTS,
        backoff: float = 1.0,
        timeout: float = POST_TIMEOUT,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._queue: queue.Queue[Alert | None] = queue.Queue(maxsize=queue_size)
        self._dedup_seconds = dedup_seconds
        self._attempts = attempts
        self._backoff = backoff
        self._timeout = timeout
        self._monotonic = monotonic
        self._sent_at: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alert-sender", daemon=True)
        self._thread.start()

    def submit(self, alert: Alert) -> bool:
        """Queue ``alert`` unless it repeats one within the de-dup window or the queue is
        full; True when queued. Never blocks."""
        now = self._monotonic()
        with self._lock:
            last = self._sent_at.get((alert.kind, alert.key))
            if last is not None and now - last < self._dedup_seconds:
                return False
            self._sent_at[(alert.kind, alert.key)] = now
        try:
            self._queue.put_nowait(alert)
        except queue.Full:
            log.warning("alert queue full (%d); dropped alert %s", self._queue.maxsize, alert.kind)
            return False
        return True

    def close(self, timeout: float = 2.0) -> None:
        """Stop after the alerts already queued (waiting at most ``timeout`` seconds)."""
        self._stopping.set()
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            pass
        self._thread.join(timeout)

    def _run(self) -> None:
        with httpx2.Client(timeout=self._timeout, follow_redirects=False, verify=tls_context()) as client:
            while True:
                alert = self._queue.get()
                if alert is None:
                    return
                self._deliver(client, alert)

    def _deliver(self, client: httpx2.Client, alert: Alert) -> None:
        """POST with retries; logs one line if every attempt failed. Sender thread only."""
        payload = json.dumps(alert.body()).encode()
        problem = ""
        for attempt in range(self._attempts):
            if attempt and self._stopping.wait(self._backoff * 2 ** (attempt - 1)):
                break
            problem = self._post(client, payload)
            if not problem:
                return
        log.warning("alert %s not delivered to ALERT_WEBHOOK_URL: %s", alert.kind, problem)

    def _post(self, client: httpx2.Client, payload: bytes) -> str:
        """One POST: "" when the receiver took it (2xx), else why not (never the URL)."""
        try:
            response = client.post(
                self._url, content=payload, headers={"Content-Type": "application/json"}
            )
        except httpx2.HTTPError as exc:
            return type(exc).__name__
        if 200 <= response.status_code < 300:
            return ""
        return f"HTTP {response.status_code}"


_sender: AlertSender | None = None
_sender_lock = threading.Lock()


def configure(url: str | None, **options: Any) -> None:
    """Start sending to ``url`` (``Settings.alert_webhook_url``); None turns alerts off.
    Called by ``run.py`` and by ``actors.system.start_system`` (a host embedding the engine);
    tests may call it again (the previous sender is closed)."""
    global _sender
    with _sender_lock:
        previous, _sender = _sender, (AlertSender(url, **options) if url else None)
    if previous is not None:
        previous.close(timeout=0.5)


def shutdown() -> None:
    """Send what is queued (briefly) and stop; at process exit."""
    configure(None)


def emit(kind: str, text: str, *, key: str | None = None, **fields: Any) -> None:
    """Queue one alert (any thread, never blocks); a no-op without ``ALERT_WEBHOOK_URL``.

    ``text`` is one human sentence; ``key`` de-duplicates (default: ``text``); ``fields``
    must be JSON-ready and never hold a secret.
    """
    sender = _sender
    if sender is not None:
        sender.submit(Alert(kind, text, key if key is not None else text, dict(fields)))
