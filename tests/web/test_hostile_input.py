"""Hostile input costs a clear 4xx or close code and at most a line of log, never a 5xx
or a traceback: deep JSON, invalid UTF-8, binary frames, ping floods, huge headers, a
broken Host, a database outage; exports escape model text; the CSP names only this site.

Most run against one real service (a module fixture) over raw sockets, so the bytes on
the wire are exactly the hostile ones; the database outage runs the app in-process
around a real, unreachable PostgreSQL address.
"""

from __future__ import annotations

import asyncio
import json
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Event, Request, TextMessage
from wsproto.frame_protocol import FrameProtocol

from settings import Settings
from storage.db import connect
from tests.service import ADMIN_TOKEN, Service
from tests.web.conftest import Client
from web.app import create_app
from web.serving import WEBSOCKET_MAX_MESSAGE_BYTES


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with Service(tmp_path_factory.mktemp("hostile"), {"ALLOWED_ORIGINS": "https://partner.example"}) as running:
        yield running


def raw_http(port: int, head: bytes, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """Send ``head`` (request line and headers, no blank line) and ``body``; the status,
    headers (lower-case names) and body of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + b"\r\nConnection: close\r\n\r\n" + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head_bytes, _, payload = data.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    headers = dict((k.strip().lower(), v.strip()) for k, _, v in (x.partition(":") for x in lines[1:]))
    return int(lines[0].split()[1]), headers, payload


def closed_with(client: Client) -> tuple[int, str]:
    """Read until the server closes; its close code and reason."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            client.next(timeout=10)
    assert closed.value.rcvd is not None, "closed without a close frame"
    return closed.value.rcvd.code, closed.value.rcvd.reason


def hello(service: Service) -> Client:
    client = Client(service.ws_url)
    assert client.next()["type"] == "hello"
    return client


# -- WebSocket frames --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "code", "reason"),
    [
        ("[" * 3000, 1008, "malformed frame: send JSON objects"),  # was RecursionError
        ('{"a":' * 40 + "1" + "}" * 40, 1008, "malformed frame: send JSON objects"),
        ('{"type": "ping", "t": 1e999}', 1008, "malformed frame: send JSON objects"),
        (b"\x00\xff binary", 1003, "binary frames are not supported: send JSON text"),
        (b'{"type": "ping", "t": 1}', 1003, "binary frames are not supported: send JSON text"),
        ("x" * 5000, 1009, "frame too large"),
    ],
    ids=["3000 brackets", "deep object", "infinite t", "binary junk", "binary JSON", "5000 chars"],
)
def test_hostile_frames_close_that_socket_with_a_clear_code(
    service: Service, frame: str | bytes, code: int, reason: str
) -> None:
    client = hello(service)
    client.connection.send(frame)
    assert closed_with(client) == (code, reason)
    assert "Traceback" not in service.logs()


def test_a_flood_of_pings_is_closed_after_the_burst(service: Service) -> None:
    client = hello(service)
    pongs = 0
    # The server may close before the 40th ping is written: sending then fails the same way.
    with pytest.raises(ConnectionClosed) as closed:
        for t in range(40):
            client.send(json.dumps({"type": "ping", "t": t}))
        while True:
            pongs += client.next(timeout=10)["type"] == "pong"
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1008, "too many messages")
    assert pongs < 40  # the flood is not answered (queued pongs go with the close)
    # The widget's own pace (a few at once, then one per 15 s) is never refused.
    steady = hello(service)
    for t in range(3):
        steady.send(json.dumps({"type": "ping", "t": t}))
        assert steady.until(lambda e: e["type"] == "pong")["t"] == t
    steady.close()


def test_a_flood_of_other_messages_is_closed_after_the_same_burst(service: Service) -> None:
    # Messages other than pings were parsed and ignored, never counted: a client could
    # make the server parse as fast as it could send, for as long as it liked.
    client = hello(service)
    with pytest.raises(ConnectionClosed) as closed:
        for n in range(40):
            client.send(json.dumps({"type": "chat", "n": n}))
        while True:
            client.next(timeout=10)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1008, "too many messages")


def test_a_flood_that_ignores_the_close_is_disconnected_all_the_same(service: Service) -> None:
    # A client that floods on past the 1008 and never answers it. Quart stops reading when
    # the route returns; Hypercorn queued the flood for it until its queue filled, waited
    # for room forever, and never closed the socket (web/hypercorn_patches.py).
    frames = FrameProtocol(client=True, extensions=[])
    flood = b"".join(bytes(frames.send_data(json.dumps({"type": "ping", "t": t}))) for t in range(20))
    client = WSConnection(ConnectionType.CLIENT)
    events: list[Event] = []
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as sock:
        sock.sendall(client.send(Request(host=f"127.0.0.1:{service.port}", target="/ws")))
        while not any(isinstance(event, TextMessage) for event in events):  # the hello
            data = sock.recv(65536)
            assert data, "closed before the hello"
            client.receive_data(data)
            events += client.events()
        sock.setblocking(False)
        pending, batches, closed = b"", 0, False
        deadline = time.monotonic() + 5
        while not closed and time.monotonic() < deadline:
            readable, writable, _ = select.select([sock], [sock], [], 0.5)
            try:
                if readable:
                    data = sock.recv(65536)
                    closed = not data
                    client.receive_data(data or None)
                    events += client.events()
                if writable and not closed and (pending or batches < 2000):  # about 1 MB at most
                    if not pending:
                        pending, batches = flood, batches + 1
                    pending = pending[sock.send(pending):]  # whole frames, even if sent in parts
            except (BrokenPipeError, ConnectionResetError):
                closed = True
    assert closed, f"a flood of {batches} x 20 pings was still connected after 5 s"
    closes = [(event.code, event.reason) for event in events if isinstance(event, CloseConnection)]
    assert closes[:1] == [(1008, "too many messages")]  # then wsproto's own 1006 for the socket's end


def test_a_message_over_64_kib_that_ignores_the_1009_is_disconnected_all_the_same(service: Service) -> None:
    # Hypercorn itself closes a message over websocket_max_message_size (64 KiB), and the
    # route never hears of it: a client that did not answer that close kept its socket,
    # and its place under the per-address limit, for good (web/hypercorn_patches.py).
    client = WSConnection(ConnectionType.CLIENT)
    events: list[Event] = []
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as sock:
        sock.sendall(client.send(Request(host=f"127.0.0.1:{service.port}", target="/ws")))
        while not any(isinstance(event, AcceptConnection) for event in events):
            data = sock.recv(65536)
            assert data, "closed before the handshake's answer"
            client.receive_data(data)
            events += client.events()
        sock.sendall(client.send(TextMessage("x" * (WEBSOCKET_MAX_MESSAGE_BYTES + 1))))
        sock.settimeout(5)  # the server ends it about a second after its close
        try:
            while data := sock.recv(65536):  # never answering the close
                client.receive_data(data)
                events += client.events()
        except TimeoutError:
            pytest.fail("the server kept the socket of a client that did not answer its 1009")
    closes = [(event.code, event.reason) for event in events if isinstance(event, CloseConnection)]
    assert closes == [(1009, "")]
    assert "Traceback" not in service.logs()


# -- /control bodies -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'{"action": "\xff\xfe"}', "not valid UTF-8"),
        (b"\xc3\x28", "not valid UTF-8"),
        (b"[" * 6000 + b"]" * 6000, "nested deeper"),
        (b'{"action": ' + b"[" * 17 + b"]" * 17 + b"}", "nested deeper"),
        (b'{"action": "force"', "not valid JSON"),
        (b"[]", "JSON object"),
    ],
    ids=["invalid utf-8 string", "invalid utf-8", "6000 brackets", "17 levels", "truncated", "array"],
)
def test_hostile_control_bodies_are_400(service: Service, body: bytes, fragment: str) -> None:
    status, answer = service.request("POST", "/control", raw=body, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert status == 400 and fragment in answer["error"], answer
    assert "Traceback" not in service.logs()


# -- headers -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/healthz", "/", "/api/countdown"])
def test_a_10000_character_host_is_a_400_with_json(service: Service, path: str) -> None:
    status, headers, body = raw_http(service.port, f"GET {path} HTTP/1.1\r\nHost: {'a' * 10_000}".encode())
    assert status == 400 and json.loads(body) == {"error": "invalid Host header", "code": "invalid_host"}
    assert headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("host", ["a" * 64 + ".example", "exa mple.com", "example.com;x", "\xe9.example"])
def test_hosts_that_are_not_host_names_are_400(service: Service, host: str) -> None:
    status, _, _ = raw_http(service.port, b"GET /healthz HTTP/1.1\r\nHost: " + host.encode("latin-1"))
    assert status == 400


def test_a_websocket_with_a_broken_host_is_refused_with_400(service: Service) -> None:
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    head = (f"GET /ws HTTP/1.1\r\nHost: {'b' * 10_000}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13")
    status, _, body = raw_http(service.port, head.encode())
    assert status == 400 and json.loads(body) == {"error": "invalid Host header", "code": "invalid_host"}


def test_huge_headers_are_431_whole_or_400_in_pieces(service: Service) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * 20_000
    status, _, body = raw_http(service.port, head)
    assert status == 431 and json.loads(body) == {"error": "request headers too large", "code": "headers_too_large"}
    many = b"GET /healthz HTTP/1.1\r\nHost: localhost" + b"".join(b"\r\nX-%d: %s" % (i, b"v" * 100) for i in range(300))
    assert raw_http(service.port, many)[0] in (400, 431)
    # A head that arrives slowly past Hypercorn's buffer limit is refused before it ends.
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        answer = b""
        try:
            for _ in range(40):
                sock.sendall(b"a" * 1024)
            answer = sock.recv(4096)
        except (ConnectionResetError, BrokenPipeError):
            pass
        assert answer.startswith(b"HTTP/1.1 4") or answer == b""


def test_after_all_that_the_service_answers_and_its_log_has_no_traceback(service: Service) -> None:
    """Runs last in this module: every hostile request above is behind us."""
    assert service.get("/healthz") == (200, {"ok": True})
    logs = service.logs()
    assert "Traceback" not in logs and " 500 " not in logs
    assert len(logs.splitlines()) < 60, logs  # a line per event at most, most coalesced


# -- the CSP and origins -------------------------------------------------------------------------


def test_the_csp_connects_only_to_this_site_and_the_allowed_origins(service: Service) -> None:
    _, headers, _ = raw_http(service.port, b"GET / HTTP/1.1\r\nHost: roundtable.example:8080")
    policy = dict(d.strip().split(" ", 1) for d in headers["content-security-policy"].split(";"))
    assert policy["connect-src"] == "'self' ws://roundtable.example:8080 https://partner.example"
    assert "ws:" not in policy["connect-src"].split() and "wss:" not in policy["connect-src"].split()


def test_the_csp_names_wss_behind_a_trusted_https_proxy(tmp_path: Path) -> None:
    with Service(tmp_path, {"TRUSTED_PROXIES": "127.0.0.1"}) as proxied:
        head = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: rt.example"
        _, headers, _ = raw_http(proxied.port, head)
        assert "connect-src 'self' wss://rt.example;" in headers["content-security-policy"]


def test_allowed_origins_get_cors_case_insensitively(service: Service) -> None:
    for origin in ("https://partner.example", "HTTPS://Partner.Example:443"):
        _, headers, _ = raw_http(service.port, f"GET /api/countdown HTTP/1.1\r\nHost: x\r\nOrigin: {origin}".encode())
        assert headers.get("access-control-allow-origin") == origin
    _, headers, _ = raw_http(service.port, b"GET /api/countdown HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example")
    assert "access-control-allow-origin" not in headers


# -- a database outage ---------------------------------------------------------------------------


class OutageSystem:
    """The engine's surface, over a PostgreSQL address where nothing listens."""

    def __init__(self) -> None:
        self.db = connect("postgresql://postgres@127.0.0.1:1/roundtable?connect_timeout=2")


@pytest.mark.parametrize("path", ["/api/conversations", "/api/conversations/1", "/api/conversations/1/export?format=md"])
def test_a_database_outage_is_503_with_retry_after(path: str, caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(OutageSystem(), Settings(providers={}))

    async def get() -> Any:
        return await app.test_client().get(path)

    response = asyncio.run(get())
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert asyncio.run(response.get_json()) == {"error": "the database is unavailable; try again shortly", "code": "storage_unavailable"}
    assert not any(r.exc_info for r in caplog.records)  # one line, no traceback
