"""A scriptable fake HTTP server on 127.0.0.1 for the provider fakes.

Each provider fake (``tests/fakes/<provider>_server.py``) subclasses ``FakeServer`` and
answers in its provider's wire format. A test scripts what comes next with ``enqueue``
(one ``Script`` per request, consumed in order; the ``default`` answers when the queue
is empty) and asserts on ``requests``: every request received, with its path, headers
and decoded JSON body.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # decoded JSON, or the raw text when it was not JSON

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Script:
    """One scripted answer: a status and a JSON body (or raw text), optionally a hang."""

    status: int = 200
    body: Any = None
    raw: str | None = None  # sent as-is instead of ``body`` (for malformed JSON)
    headers: dict[str, str] = field(default_factory=dict)
    hang_seconds: float = 0.0  # wait this long before answering (or until the server stops)


class FakeServer:
    """A threaded HTTP server; subclasses implement ``answer(received) -> Script``."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._queue: deque[Script] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        # serve_forever checks for shutdown every poll_interval (0.5 s by default): a short
        # one makes stopping a fake quick, which the suite does dozens of times.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> FakeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # -- scripting ---------------------------------------------------------------
    def enqueue(self, *scripts: Script) -> None:
        with self._lock:
            self._queue.extend(scripts)

    def answer(self, received: Received) -> Script:
        """The default answer when nothing is queued; subclasses return a success."""
        return Script(404, {"error": "not found"})

    def _next_script(self, received: Received) -> Script:
        with self._lock:
            self.requests.append(received)
            if self._queue:
                return self._queue.popleft()
        return self.answer(received)

    # -- HTTP ----------------------------------------------------------------------
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8") if length else ""
                try:
                    body: Any = json.loads(raw) if raw else None
                except json.JSONDecodeError:
                    body = raw
                received = Received(
                    method=self.command,
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                script = server._next_script(received)
                if script.hang_seconds:
                    server._stopping.wait(script.hang_seconds)
                payload = (script.raw if script.raw is not None else json.dumps(script.body)).encode()
                try:
                    self.send_response(script.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in script.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test): nothing to answer

        return Handler
