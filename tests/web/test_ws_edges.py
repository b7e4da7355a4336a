"""Edges of WS /ws: the origin check behind a reverse proxy, slow and stalled visitors,
hostile frames, shutdown.

The Hub and its Connections are tested on a loop of their own (``asyncio.run`` inside a
plain test); the handler's close codes with Quart's test client around a fake system,
and behind a blocked write with the app served by a real Hypercorn in the test's loop;
the origin check with real handshakes against the service.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus
from wsproto import WSConnection
from wsproto.events import BytesMessage, CloseConnection, TextMessage

from actors.broadcaster import FAN_OUT_BATCH, QUEUE_LIMIT, CloseReason, Connection, Hub, encode
from actors.clock import SystemClock
from actors.view import EngineView
from settings import Settings
from tests.service import Service, free_port
from tests.web.conftest import Client, is_state
from tests.web.test_hypercorn_patches import next_event, raw_client, serving
from web.app import create_app
from web.hypercorn_patches import PING_FRAME, text_frame

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
    with Service(tmp_path, {"ALLOWED_ORIGINS": PARTNER, "TRUSTED_PROXIES": "127.0.0.0/8"}) as service:
        proxied = {"X-Forwarded-Host": "roundtable.example"}
        # nginx's default Host is the upstream address; the site is in X-Forwarded-Host.
        assert refused_status(service, "https://roundtable.example", proxied) is None
        assert refused_status(service, "https://roundtable.example", {"X-Forwarded-Host": "roundtable.example, lb"}) is None
        assert refused_status(service, f"http://127.0.0.1:{service.port}") is None  # same origin by Host
        assert refused_status(service, PARTNER) is None  # ALLOWED_ORIGINS
        assert refused_status(service, "HTTPS://Partner.Example:443") is None  # compared normalized
        # Cross-site WebSocket hijacking: a foreign page is refused, proxied or not.
        assert refused_status(service, "https://evil.example") == 403
        assert refused_status(service, "https://evil.example", proxied) == 403
        assert refused_status(service, "https://roundtable.example") == 403  # no proxy said so
        assert refused_status(service, "https://partner.example:8443") == 403
        assert refused_status(service, "https://partner.example.evil.example") == 403
        assert "refused WebSocket from origin https://evil.example" in service.logs()


def test_forwarded_host_from_an_untrusted_peer_does_not_make_an_origin_same_site(tmp_path: Path) -> None:
    with Service(tmp_path) as service:  # no TRUSTED_PROXIES: nobody's X-Forwarded-Host counts
        assert refused_status(service, "https://roundtable.example", {"X-Forwarded-Host": "roundtable.example"}) == 403
        assert refused_status(service, f"http://127.0.0.1:{service.port}") is None


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
            received.append(keeping_up.take())  # this one drains as it goes
        assert await asyncio.wait_for(slow.ended(), 1) is CloseReason.TOO_SLOW
        return slow, keeping_up, received

    slow, keeping_up, received = asyncio.run(scenario())
    assert slow.dropped and slow.reason is CloseReason.TOO_SLOW
    assert len(slow.pending) == QUEUE_LIMIT  # memory stays bounded: the extra event is not kept
    assert not keeping_up.dropped and keeping_up.reason is None
    assert [json.loads(data)["seq"] for data in received] == list(range(QUEUE_LIMIT + 1))


class Socket:
    """A ``DirectWrite`` that keeps what is written to it; ``taking`` says whether it
    takes writes (a socket with data buffered does not)."""

    def __init__(self, taking: bool = True) -> None:
        self.taking = taking
        self.frames: list[bytes] = []

    def frame(self, text: str) -> bytes:
        return text_frame(text)

    def write(self, frame: bytes) -> bool:
        if self.taking:
            self.frames.append(frame)
        return self.taking

    def ping(self) -> bool:
        return self.write(PING_FRAME)


def direct(name: str, writer: Socket) -> Connection:
    connection = Connection(name)
    connection.direct = connection.pinger = writer  # as web.ws sets them
    return connection


def test_idle_connections_get_one_frame_encoded_once_written_directly() -> None:
    async def scenario() -> list[Socket]:
        hub = Hub(asyncio.get_running_loop())
        sockets = [Socket(), Socket()]
        connections = [direct(f"c{i}", s) for i, s in enumerate(sockets)]
        for connection in connections:
            hub.add(connection)
        hub.deliver(encode({"type": "message", "seq": 1}))
        assert not any(c.pending for c in connections)  # no task woken for them
        return sockets

    first, second = asyncio.run(scenario())
    assert first.frames == [text_frame('{"type":"message","seq":1}')]
    assert second.frames[0] is first.frames[0]  # the same bytes object: encoded once


def test_an_event_waits_behind_what_a_connection_has_queued_or_is_sending() -> None:
    # A pong queued (or a frame on its way through the connection's own task) must reach
    # the visitor before a later event: so the event is queued behind it, not written.
    async def scenario() -> tuple[Connection, Connection, Socket, Socket]:
        hub = Hub(asyncio.get_running_loop())
        queued, sending = Socket(), Socket()
        with_pong, mid_send = direct("pong", queued), direct("sending", sending)
        with_pong.offer("pong")
        mid_send.sending = True
        hub.add(with_pong)
        hub.add(mid_send)
        hub.deliver("event")
        return with_pong, mid_send, queued, sending

    with_pong, mid_send, queued, sending = asyncio.run(scenario())
    assert queued.frames == [] and sending.frames == []
    assert with_pong.pending == ["pong", "event"]
    assert mid_send.pending == ["event"]


def test_a_refused_direct_write_goes_through_the_queue_and_its_limit() -> None:
    async def scenario() -> tuple[Connection, Connection]:
        hub = Hub(asyncio.get_running_loop())
        busy = direct("busy", Socket(taking=False))  # its socket has data buffered
        ended = direct("ended", Socket())
        ended.end(CloseReason.GOING_AWAY)
        hub.add(busy)
        hub.add(ended)
        for seq in range(QUEUE_LIMIT + 1):
            hub.deliver(encode({"seq": seq}))
        return busy, ended

    busy, ended = asyncio.run(scenario())
    assert len(busy.pending) == QUEUE_LIMIT and busy.reason is CloseReason.TOO_SLOW
    assert ended.direct is not None and ended.direct.frames == []  # type: ignore[attr-defined]
    assert not ended.pending


def test_a_large_fan_out_lets_the_loop_serve_others_and_keeps_every_events_order() -> None:
    async def scenario() -> tuple[list[Socket], list[int]]:
        loop = asyncio.get_running_loop()
        hub = Hub(loop)
        sockets = [Socket() for _ in range(FAN_OUT_BATCH * 2 + FAN_OUT_BATCH // 2)]
        for i, writer in enumerate(sockets):
            hub.add(direct(f"c{i}", writer))
        written_when_served: list[int] = []  # frames out when "a request" got the loop
        hub.deliver("first")
        assert sum(len(s.frames) for s in sockets) == FAN_OUT_BATCH  # one batch, then the loop
        loop.call_soon(lambda: written_when_served.append(sum(len(s.frames) for s in sockets)))
        hub.deliver("second")
        for _ in range(10):  # a few loop turns, no sleeping
            await asyncio.sleep(0)
        return sockets, written_when_served

    sockets, written_when_served = asyncio.run(scenario())
    assert len(written_when_served) == 1 and written_when_served[0] < 2 * len(sockets)
    assert all(s.frames == [text_frame("first"), text_frame("second")] for s in sockets)


def test_the_keepalive_pings_everyone_only_after_two_looks_with_no_event_sent() -> None:
    # Hypercorn pinged every connection every 20 s whatever was sent (at 10,000 visitors,
    # 500 pings and pongs a second in a round). The Hub looks every half interval and pings
    # only when no event went out since the look before: while events flow, nobody.
    async def scenario() -> tuple[list[int], list[Socket], Socket, Socket]:
        loop = asyncio.get_running_loop()
        hub = Hub(loop)
        sockets = [Socket() for _ in range(FAN_OUT_BATCH + 5)]
        for i, writer in enumerate(sockets):
            hub.add(direct(f"c{i}", writer))
        busy, ended = Socket(taking=False), Socket()
        hub.add(direct("busy", busy))  # bytes still buffered: refused, being sent to anyway
        gone = direct("ended", ended)
        gone.end(CloseReason.GOING_AWAY)
        hub.add(gone)

        def pings() -> int:
            return sum(s.frames.count(PING_FRAME) for s in sockets)

        seen = []
        hub.deliver("event")
        hub.keepalive_look()  # an event since the last look: nobody
        seen.append(pings())
        hub.keepalive_look()  # a whole half interval with nothing sent: everyone, a batch a callback
        seen.append(pings())
        for _ in range(5):
            await asyncio.sleep(0)
        seen.append(pings())
        hub.keepalive_look()
        hub.deliver("another")  # events going out: no pings however long it goes on
        hub.keepalive_look()
        hub.deliver("and another")
        hub.keepalive_look()
        seen.append(pings())
        return seen, sockets, busy, ended

    seen, sockets, busy, ended = asyncio.run(scenario())
    assert seen[0] == 0 and 0 < seen[1] <= FAN_OUT_BATCH < len(sockets)  # the loop served between batches
    assert seen[2:] == [len(sockets), len(sockets)]
    assert all(s.frames == [text_frame("event"), PING_FRAME, text_frame("another"), text_frame("and another")]
               for s in sockets)
    assert busy.frames == [] and ended.frames == []


def test_the_keepalive_runs_on_its_timer_until_close_all() -> None:
    async def scenario() -> tuple[int, int]:
        hub = Hub(asyncio.get_running_loop())
        pinged = asyncio.Event()

        class Noting(Socket):
            def ping(self) -> bool:
                pinged.set()
                return super().ping()

        writer = Noting()
        hub.add(direct("c", writer))
        hub.start_keepalive(0.05)
        hub.start_keepalive(0.05)  # once is enough: a second start changes nothing
        await asyncio.wait_for(pinged.wait(), 5)
        pinged.clear()
        await asyncio.wait_for(pinged.wait(), 5)  # and again, with no event in between
        hub.close_all()
        stopped_at = len(writer.frames)
        await asyncio.sleep(0.3)  # six intervals: a window for pings that should not come
        return stopped_at, len(writer.frames)

    stopped_at, later = asyncio.run(scenario())
    assert stopped_at >= 2 and later == stopped_at


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
        assert len(first.pending) == 2  # nothing more is queued for an ending connection

    asyncio.run(scenario())


# -- a visitor that stops reading, end to end ---------------------------------------------


class SilentClient:
    """A raw WebSocket client that completes the handshake, then never reads again.

    Its receive buffer is tiny. ``stop_the_server_writing`` floods it with WebSocket ping
    frames, which Hypercorn answers with pongs that this client never reads, until the
    server's socket buffers are full and it stops reading this socket too.
    """

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

    def stop_the_server_writing(self, limit: int = 64 * 1024 * 1024) -> None:
        """Send ping frames until the server stops taking them or drops us (or ``limit``
        bytes, which fails)."""
        payload, mask = b"p" * 125, os.urandom(4)
        frame = bytes([0x89, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        chunk = frame * 512
        self.sock.settimeout(1.0)
        sent = 0
        try:
            while sent < limit:
                self.sock.sendall(chunk)
                sent += len(chunk)
        except TimeoutError:
            return  # the server stopped reading: its writes to us are blocked
        except (ConnectionResetError, BrokenPipeError):
            return  # ... for long enough that it already dropped us
        raise AssertionError(f"the server read {sent} bytes of pings and still answers")

    def close(self) -> None:
        self.sock.close()


def open_descriptors(pid: int) -> int:
    """The process's open sockets (not files: each worker thread keeps its own SQLite
    connection open, so the count of all descriptors moves with the thread pool)."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            count += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except FileNotFoundError:  # closed while we looked
            pass
    return count


def websocket_connections(service: Service) -> int:
    _, metrics = service.get("/metrics")
    line = next(x for x in metrics.splitlines() if x.startswith("roundtable_websocket_connections "))
    return int(float(line.split()[1]))


def wait_until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)  # polling the service for a condition, bounded by the timeout


def test_a_visitor_that_stops_reading_is_dropped_whatever_its_queue(tmp_path: Path) -> None:
    with Service(tmp_path, {"WS_STALL_SECONDS": "1"}) as service:
        assert service.process is not None
        other = Client(service.ws_url)
        other.next()
        baseline = open_descriptors(service.process.pid)
        silent = SilentClient(service.port)
        try:
            silent.stop_the_server_writing()
            service.force()  # a round: far fewer events than a queue holds (256)
            other.until(is_state("complete"))
            assert len(other.messages()) == 16  # the stuck visitor slowed nobody
            wait_until(lambda: websocket_connections(service) == 1, 15, "the stalled visitor was never dropped")
            # The kernel gave up on its socket too: its descriptor is free again.
            wait_until(lambda: open_descriptors(service.process.pid) <= baseline, 15,
                       "the stalled visitor's socket is still open")
        finally:
            silent.close()
            other.close()
        logs = service.logs()
        assert "Traceback" not in logs
        assert logs.count("dropping stalled WebSocket client") <= 1


# -- the handler's close codes -----------------------------------------------------------


class FakeSystem:
    clock = SystemClock()

    def view(self) -> EngineView:
        return EngineView(now=0.0, state="countdown", next_round_at=1.0, next_topic=None, queued_topics=(),
                          conversation=None, last_conversation=None, messages_per_round=16)


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


def test_an_event_during_a_pongs_send_reaches_the_wire_after_it() -> None:
    # The pong is on its way through the connection's own task (Quart yields before the
    # server writes it) when an event arrives: it must not be written directly ahead.
    async def scenario() -> list[tuple[str, str]]:
        hub = Hub(asyncio.get_running_loop())
        app = create_app(FakeSystem(), Settings(providers={}), hub)
        wire: list[tuple[str, str]] = []
        to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        done = asyncio.Event()

        def write(frame: bytes) -> bool:  # the socket, written directly
            wire.append(("direct", frame[2:].decode()))
            done.set()
            return True

        visitor = Socket()
        visitor.write = write  # type: ignore[method-assign]

        async def send(message: dict[str, Any]) -> None:  # the server, writing a frame
            if message["type"] != "websocket.send":
                return
            if "pong" in message["text"]:
                (connection,) = hub.connections
                connection.direct = visitor  # what direct_writer gives under Hypercorn
                hub.deliver("event")  # arrives while the pong is being sent
            wire.append(("sent", "pong" if "pong" in message["text"] else message["text"]))
            if message["text"] == "event":
                done.set()
            if message["text"].startswith('{"type":"hello"'):
                to_app.put_nowait({"type": "websocket.receive", "text": '{"type":"ping","t":1}'})

        to_app.put_nowait({"type": "websocket.connect"})
        task = asyncio.ensure_future(app(_websocket_scope("/ws"), to_app.get, send))  # type: ignore[arg-type]
        await asyncio.wait_for(done.wait(), 5)
        to_app.put_nowait({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait_for(task, 5)
        return [entry for entry in wire if not entry[1].startswith('{"type":"hello"')]

    assert asyncio.run(scenario()) == [("sent", "pong"), ("sent", "event")]


def test_a_refusal_while_a_write_is_blocked_closes_at_once_and_its_frame_follows_the_events() -> None:
    # A visitor that stopped reading: the connection's task is blocked writing an event
    # when its reader refuses a frame. The reader used to close on its own, so its close
    # frame queued behind that write, was given up after CLOSE_TIMEOUT (or cancelled when
    # the write ended), and was never sent. Now the blocked write is abandoned (its frame
    # is whole in the transport's buffer), the close frame queued right behind it, and
    # the route ends without waiting for the visitor to read.
    async def scenario() -> tuple[bool, list[tuple[int, str]]]:
        hub = Hub(asyncio.get_running_loop())
        quart = create_app(FakeSystem(), Settings(providers={}), hub)
        route_over = asyncio.Event()

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            try:
                await quart(scope, receive, send)  # type: ignore[arg-type]
            finally:
                if scope["type"] == "websocket":
                    route_over.set()

        async with serving(SimpleNamespace(app=app, port=(port := free_port()))):
            reader, writer, client = await raw_client(port, small_buffers=True)
            try:
                await next_event(reader, client, TextMessage)  # the hello; then it reads nothing
                (connection,) = hub.connections
                await write_until_blocked(hub, connection)
                writer.write(client.send(BytesMessage(b"binary")))
                with contextlib.suppress(TimeoutError):  # CLOSE_TIMEOUT for the close frame
                    await asyncio.wait_for(route_over.wait(), 5)
                ended_unread = route_over.is_set()
                return ended_unread, await closes_until_eof(reader, client)  # reading again
            finally:
                writer.close()

    ended_unread, closes = asyncio.run(scenario())
    assert closes[:1] == [(1003, "binary frames are not supported: send JSON text")], closes
    assert ended_unread, "the route waited for a visitor that reads nothing"


async def write_until_blocked(hub: Hub, connection: Connection) -> None:
    """Deliver 1 MB events until the connection's task is blocked sending one to a socket
    that does not drain, with another queued behind it."""
    for _ in range(10):
        hub.deliver("x" * 1_000_000)
        for _ in range(100):  # loop turns, no waiting: the write blocks without any I/O
            if connection.sending and connection.pending:
                return
            await asyncio.sleep(0)
    raise AssertionError("10 MB written to a visitor that reads nothing, and no write blocked")


async def closes_until_eof(reader: asyncio.StreamReader, client: WSConnection) -> list[tuple[int, str]]:
    """Read everything until the server ends the socket; the code and reason of each close
    (the server's, then wsproto's own 1006 for the socket's end)."""
    closes = []
    while True:
        data = await asyncio.wait_for(reader.read(65536), 10)
        client.receive_data(data or None)
        closes += [(e.code, e.reason) for e in client.events() if isinstance(e, CloseConnection)]
        if not data:
            return closes


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

    settings = Settings.from_env({"ALLOWED_ORIGINS": "https://Partner.Example:443/, http://b.example:8080"})
    context = Context(system=None, settings=settings, hub=None, asset_version="x")
    allowed = context.origin_allowed
    # The host as the client asked for it (a trusted proxy's X-Forwarded-Host is put in
    # Host by web.edge); a default port may be spelled out on either side.
    assert allowed("https://example.com", "example.com:443")
    assert allowed("http://Example.com:80", "example.com")
    assert allowed("HTTPS://EXAMPLE.COM", "Example.com")
    assert not allowed("https://evil.example", "example.com")
    assert not allowed("https://example.com:8443", "example.com")
    # ALLOWED_ORIGINS compare case-insensitively, default ports normalised.
    assert settings.allowed_origins == ("https://partner.example", "http://b.example:8080")
    for origin in ("https://partner.example", "HTTPS://PARTNER.EXAMPLE", "https://Partner.example:443",
                   "http://B.example:8080"):
        assert allowed(origin, "example.com"), origin
    for origin in ("http://partner.example", "https://partner.example:8443", "http://b.example",
                   "https://partner.example.evil.example"):
        assert not allowed(origin, "example.com"), origin
