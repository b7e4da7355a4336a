"""A scriptable fake HTTP server on 127.0.0.1 for the provider fakes.

Each provider fake (``tests/fakes/<provider>_server.py``) subclasses ``FakeServer`` and
answers in its provider's wire format. A test scripts what comes next with ``enqueue``
(one ``Script`` per request, consumed in order; the ``default`` answers when the queue
is empty) and asserts on ``requests``: every request received, with its path, headers
and decoded JSON body.

Two hostile modes, for any provider's wire format: ``trickled(script)`` sends the headers
at once and then the body one byte per interval (the SDKs' read timeouts never fire), and
``oversized(nbytes)`` streams a well-formed success whose reply text is ``nbytes`` long,
without ever holding it in memory. Setting ``mode`` to ``Trickle(...)`` or
``Oversize(...)`` applies one to every success answered by default. ``bytes_sent`` counts
the body bytes written and ``cut_by_client`` the streamed answers the client hung up on.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.registry_views import DEFAULT_MODELS


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
    raw: str | bytes | None = None  # sent as-is instead of ``body`` (malformed JSON, gzip)
    headers: dict[str, str] = field(default_factory=dict)
    hang_seconds: float = 0.0  # wait this long before answering (or until the server stops)
    trickle_seconds: float = 0.0  # send the body one byte per this many seconds
    fill_bytes: int = 0  # replace FILL in the body with this many bytes of words, streamed


#: Where ``fill_bytes`` of filler go in a scripted body (inside the reply text).
FILL = "@@FILL@@"
_FILLER = b"word " * 13_107  # 64 KiB of JSON-safe text


@dataclass(frozen=True)
class Trickle:
    """Every default success is trickled: headers at once, then a byte per ``interval``."""

    interval: float = 0.05


@dataclass(frozen=True)
class Oversize:
    """Every default success carries a reply text of ``nbytes``, streamed."""

    nbytes: int = 30 * 1024 * 1024


class FakeServer:
    """A threaded HTTP server; subclasses implement ``answer(received) -> Script``.

    A ``GET`` of one of ``LISTING_PATHS`` (the provider's models endpoint) is answered by
    ``models_script`` from ``offered`` (``{"id": ..., plus lifecycle fields}`` dicts) and
    kept apart in ``listings``: it never consumes a queued script or shows in ``requests``.
    """

    LISTING_PATHS: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.listings: list[Received] = []
        self.offered: list[dict[str, Any]] = [{"id": m} for m in DEFAULT_MODELS.values()]
        self.mode: Trickle | Oversize | None = None
        self.bytes_sent = 0
        self.cut_by_client = 0
        self.client_hung_up = threading.Event()  # set when a client cuts a streamed answer
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

    def reply_script(self, text: str) -> Script:
        """A success holding ``text`` as the reply, in the provider's format (subclasses)."""
        raise NotImplementedError

    def oversized(self, nbytes: int = 30 * 1024 * 1024) -> Script:
        """A well-formed success whose reply text is ``nbytes`` long, streamed."""
        return replace(self.reply_script(FILL), fill_bytes=nbytes)

    @staticmethod
    def trickled(script: Script, interval: float = 0.05) -> Script:
        """``script`` with its body sent one byte per ``interval`` after the headers."""
        return replace(script, trickle_seconds=interval)

    def models_script(self, received: Received) -> Script:
        """The models endpoint's answer in the provider's format (subclasses)."""
        return Script(404, {"error": "not found"})

    def _next_script(self, received: Received) -> Script:
        if received.method == "GET" and received.path.split("?", 1)[0] in self.LISTING_PATHS:
            with self._lock:
                self.listings.append(received)
            return self.models_script(received)
        with self._lock:
            self.requests.append(received)
            if self._queue:
                return self._queue.popleft()
        script = self.answer(received)
        if script.status != 200:
            return script
        if isinstance(self.mode, Trickle):
            return self.trickled(script, self.mode.interval)
        if isinstance(self.mode, Oversize):
            return self.oversized(self.mode.nbytes)
        return script

    def _count(self, sent: int = 0, *, cut: bool = False) -> None:
        with self._lock:
            self.bytes_sent += sent
            self.cut_by_client += int(cut)
        if cut:
            self.client_hung_up.set()

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
                payload = _payload(script)
                try:
                    self._send(script, payload)
                except (BrokenPipeError, ConnectionResetError):
                    # The client gave up (a timeout or a size cap): nothing more to send.
                    server._count(cut=bool(script.trickle_seconds or script.fill_bytes))

            def _send(self, script: Script, payload: bytes) -> None:
                head, _, tail = payload.partition(FILL.encode()) if script.fill_bytes else (payload, b"", b"")
                self.send_response(script.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(head) + script.fill_bytes + len(tail)))
                for name, value in script.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.flush()
                if script.trickle_seconds:
                    self._trickle(head, script.trickle_seconds)
                    return
                self._write(head)
                left = script.fill_bytes
                while left > 0:
                    chunk = _FILLER if left >= len(_FILLER) else _FILLER[:left]
                    self._write(chunk)
                    left -= len(chunk)
                self._write(tail)

            def _write(self, data: bytes) -> None:
                self.wfile.write(data)
                self.wfile.flush()
                server._count(len(data))

            def _trickle(self, payload: bytes, interval: float) -> None:
                for index in range(len(payload)):
                    if server._stopping.wait(interval):
                        return
                    self._write(payload[index : index + 1])

        return Handler


def _payload(script: Script) -> bytes:
    if isinstance(script.raw, bytes):
        return script.raw
    return (script.raw if script.raw is not None else json.dumps(script.body)).encode()
