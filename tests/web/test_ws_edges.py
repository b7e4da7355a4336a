"""Edges of WS /ws: the origin check behind a reverse proxy, slow visitors, shutdown.

The Hub and its Connections are tested on a loop of their own (``asyncio.run`` inside a
plain test); the handler's close codes with Quart's test client around a fake system;
the origin check with real handshakes against the service.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus

from actors.broadcaster import QUEUE_LIMIT, CloseReason, Connection, Hub, encode
from settings import Settings
from tests.service import Service
from tests.web.conftest import Client, is_state
from web.app import create_app

PARTNER = "https://partner.example"


# -- the origin check --------------------------------------------------------------------


def refused_status(service: Service, origin: str, headers: dict[str, str] | None = None) -> int | None:
    """The HTTP status that refused the handshake, or None when it was accepted."""
    try:
        client = Client(service.ws_url, origin=origin, additional_headers=headers or {})
    except InvalidStatus as refused:
        return int(refused.response.status_code)
    try:
        assert client.next()["type"] == "hello"
    finally:
        client.close()
    return None


def test_websocket_origins_behind_a_proxy_and_from_other_sites(tmp_path: Path) -> None:
    with Service(tmp_path, {"ALLOWED_ORIGINS": PARTNER}) as service:
        proxied = {"X-Forwarded-Host": "roundtable.example"}
        # nginx's default Host is the upstream address; the site is in X-Forwarded-Host.
        assert refused_status(service, "https://roundtable.example", proxied) is None
        assert refused_status(service, "https://roundtable.example", {"X-Forwarded-Host": "roundtable.example, lb"}) is None
        assert refused_status(service, f"http://127.0.0.1:{service.port}") is None  # same origin by Host
        assert refused_status(service, PARTNER) is None  # ALLOWED_ORIGINS, exactly
        # Cross-site WebSocket hijacking: a foreign page is refused, proxied or not.
        assert refused_status(service, "https://evil.example") == 403
        assert refused_status(service, "https://evil.example", proxied) == 403
        assert refused_status(service, "https://roundtable.example") == 403  # no proxy said so
        assert refused_status(service, "https://partner.example:8443") == 403
        assert refused_status(service, "https://partner.example.evil.example") == 403
        assert "refused WebSocket from origin https://evil.example" in service.logs()


# -- slow visitors and shutdown, on the loop ---------------------------------------------


def test_a_slow_connection_is_dropped_and_the_others_get_every_event() -> None:
    async def scenario() -> tuple[Connection, Connection, list[str]]:
        hub = Hub(asyncio.get_running_loop())
        slow, keeping_up = Connection("slow"), Connection("keeping-up")
        hub.add(slow)
        hub.add(keeping_up)
        received = []
        for seq in range(QUEUE_LIMIT + 1):
            hub.deliver(encode({"type": "message", "seq": seq}))
            received.append(keeping_up.queue.get_nowait())  # this one drains as it goes
        assert await asyncio.wait_for(slow.ended(), 1) is CloseReason.TOO_SLOW
        return slow, keeping_up, received

    slow, keeping_up, received = asyncio.run(scenario())
    assert slow.dropped and slow.reason is CloseReason.TOO_SLOW
    assert slow.queue.qsize() == QUEUE_LIMIT  # memory stays bounded: the extra event is not kept
    assert not keeping_up.dropped and keeping_up.reason is None
    assert [json.loads(data)["seq"] for data in received] == list(range(QUEUE_LIMIT + 1))


def test_close_all_ends_every_connection_as_going_away() -> None:
    async def scenario() -> None:
        hub = Hub(asyncio.get_running_loop())
        first, second, slow = Connection("a"), Connection("b"), Connection("slow", limit=1)
        for connection in (first, second, slow):
            hub.add(connection)
        hub.deliver("x")
        hub.deliver("y")  # ``slow`` is over its limit: dropped before shutdown
        waits = [asyncio.create_task(c.ended()) for c in (first, second)]
        await asyncio.sleep(0)
        assert not any(w.done() for w in waits)
        hub.close_all()
        assert await asyncio.wait_for(asyncio.gather(*waits), 1) == [CloseReason.GOING_AWAY] * 2
        assert slow.reason is CloseReason.TOO_SLOW  # the first reason stands
        late = Connection("late")  # a visitor arriving during shutdown goes at once
        hub.add(late)
        assert await asyncio.wait_for(late.ended(), 1) is CloseReason.GOING_AWAY
        hub.deliver("z")
        assert first.queue.qsize() == 2  # nothing more is queued for an ending connection

    asyncio.run(scenario())


# -- a slow visitor, end to end -----------------------------------------------------------


class SilentClient:
    """A raw WebSocket client that completes the handshake, then reads nothing until told.

    Its receive buffer is tiny, so the server's writes back up at once; its pings make
    the server queue a pong each, so its queue fills without waiting for rounds.
    """

    PING = '{"type":"ping","t":1}'

    def __init__(self, port: int) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        response = b""
        while b"\r\n\r\n" not in response:  # byte by byte: read nothing past the handshake
            response += self.sock.recv(1)
        assert response.startswith(b"HTTP/1.1 101"), response
        self.buffer = b""

    def send_pings(self, count: int) -> None:
        payload, mask = self.PING.encode(), os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall((bytes([0x81, 0x80 | len(payload)]) + mask + masked) * count)

    def read_until_close(self) -> tuple[int, str]:
        """Read every frame the server sent; the close frame's code and reason."""
        while True:
            frame = self._frame()
            if frame is None:
                self.buffer += self.sock.recv(65536) or b""
                continue
            opcode, payload = frame
            if opcode == 0x8:
                return struct.unpack("!H", payload[:2])[0], payload[2:].decode()

    def _frame(self) -> tuple[int, bytes] | None:
        data = self.buffer
        if len(data) < 2:
            return None
        size, start = data[1] & 0x7F, 2
        if size == 126:
            size, start = struct.unpack("!H", data[2:4])[0], 4
        elif size == 127:
            size, start = struct.unpack("!Q", data[2:10])[0], 10
        if len(data) < start + size:
            return None
        self.buffer = data[start + size:]
        return data[0] & 0x0F, data[start:start + size]

    def close(self) -> None:
        self.sock.close()


def test_a_visitor_that_stops_reading_is_closed_1013_and_slows_nobody(service: Service) -> None:
    other = Client(service.ws_url)
    other.next()
    silent = SilentClient(service.port)
    try:
        deadline = time.monotonic() + 20
        while "dropping slow WebSocket client" not in service.logs():
            assert time.monotonic() < deadline, "the silent client was never dropped"
            silent.send_pings(200)  # each one queues a pong that the client never reads
        service.force()  # a round while the silent client's socket is still stuck
        other.until(is_state("complete"))
        assert len(other.messages()) == 16
        code, reason = silent.read_until_close()
        assert (code, reason) == (1013, "too slow: reconnect")
    finally:
        silent.close()
        other.close()


# -- the handler's close codes -----------------------------------------------------------


class FakeSystem:
    def snapshot(self) -> dict[str, Any]:
        return {"state": "countdown", "server_time": 0, "next_round_at": 1000, "conversation": None, "messages": []}


@pytest.mark.parametrize(
    ("end", "code"),
    [
        (lambda hub, connection: hub.close_all(), 1001),
        (lambda hub, connection: connection.end(CloseReason.TOO_SLOW), 1013),
    ],
    ids=["shutdown", "too slow"],
)
def test_the_handler_closes_with_the_code_for_why_the_server_ended_it(end: Any, code: int) -> None:
    # Plain ASGI messages, not Quart's test client: its way of reporting a close changed
    # (0.23 dropped WebsocketDisconnectError and the code with it), the ASGI spec did not.
    async def scenario() -> int:
        hub = Hub(asyncio.get_running_loop())
        app = create_app(FakeSystem(), Settings(providers={}), hub)
        to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        to_app.put_nowait({"type": "websocket.connect"})
        task = asyncio.ensure_future(app(_websocket_scope("/ws"), to_app.get, from_app.put))  # type: ignore[arg-type]
        sent = [(await asyncio.wait_for(from_app.get(), 5))["type"] for _ in range(2)]
        assert sent == ["websocket.accept", "websocket.send"]  # the hello
        (connection,) = hub.connections
        end(hub, connection)
        closed = await asyncio.wait_for(from_app.get(), 5)
        to_app.put_nowait({"type": "websocket.disconnect", "code": closed.get("code")})
        await asyncio.wait_for(task, 5)
        assert closed["type"] == "websocket.close"
        return int(closed["code"])

    assert asyncio.run(scenario()) == code


def _websocket_scope(path: str) -> dict[str, Any]:
    return {
        "type": "websocket", "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1", "scheme": "ws", "path": path, "raw_path": path.encode(),
        "query_string": b"", "root_path": "", "headers": [(b"host", b"localhost")],
        "client": ("127.0.0.1", 40000), "server": ("localhost", 80), "subprotocols": [],
        "extensions": {"websocket.http.response": {}},
    }


def test_same_origin_accepts_host_or_forwarded_host_with_default_ports() -> None:
    from settings import Settings
    from web.context import Context

    context = Context(system=None, settings=Settings(providers={}), hub=None, asset_version="x")
    allowed = context.origin_allowed
    # nginx: Host is the site, X-Forwarded-Host spells out the port.
    assert allowed("https://example.com", "example.com", "example.com:443")
    # nginx's default: Host is the upstream, the site is only in X-Forwarded-Host.
    assert allowed("https://example.com", "127.0.0.1:8000", "example.com")
    assert allowed("http://Example.com:80", "example.com", None)
    assert not allowed("https://evil.example", "example.com", "example.com:443")
    assert not allowed("https://example.com:8443", "example.com", None)
