"""web/hypercorn_patches.py: WS_COMPRESSION, too-big messages, messages after the app's close,
a 1009 the client does not answer, and direct frame writes.

WS_COMPRESSION: Hypercorn's handshake declines permessage-deflate unless it is on.
Direct writes (``direct_writer``), messages that arrive after the app's close, and
Hypercorn's own 1009: against a real Hypercorn serving a bare ASGI app in the test's
loop, with real clients.

Pinned twice: against the installed Hypercorn's ``Handshake`` directly (an upgrade that
moves or renames it fails here first), and end to end with a client that offers deflate
as every browser does.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypercorn.asyncio import serve
from hypercorn.config import Config
from hypercorn.protocol import ws_stream
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Event, Ping, Request, TextMessage
from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import FrameProtocol

from tests.service import Service, free_port
from tests.web.conftest import Client
from web.hypercorn_patches import (
    CLOSE_ANSWER_SECONDS,
    DIRECT_WRITE_SOURCES,
    ORIGINAL_HANDLE_EVENTS,
    DirectWriter,
    apply_stream_fixes,
    direct_writer,
    ping_writer,
    set_websocket_compression,
    text_frame,
)
from web.serving import WEBSOCKET_MAX_MESSAGE_BYTES

BROWSER_OFFER = b"permessage-deflate; client_max_window_bits"
HYPERCORN_0_18_HANDLE_EVENTS = "b90f3f595ff9fd4722f15769e9c40d113838a1deb6f3ecc0f63dc8ffc1d7f8e8"
HYPERCORN_0_18_DIRECT_WRITE = "91c0897ca368e85b77f8e1cb90206af7b339a1197527edbed7ccf37aac607807"


@pytest.fixture
def stream_fixes(monkeypatch: pytest.MonkeyPatch) -> None:
    """``apply_stream_fixes()`` as run.py does, undone after the test."""
    for name in ("_handle_events", "_send_pings"):
        monkeypatch.setattr(ws_stream.WSStream, name, getattr(ws_stream.WSStream, name))
    apply_stream_fixes()


def handshake_headers() -> list[tuple[bytes, bytes]]:
    return [
        (b"host", b"example"),
        (b"connection", b"Upgrade"),
        (b"upgrade", b"websocket"),
        (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
        (b"sec-websocket-version", b"13"),
        (b"sec-websocket-extensions", BROWSER_OFFER),
    ]


def negotiated(enabled: bool) -> bytes | None:
    set_websocket_compression(enabled)
    handshake = ws_stream.Handshake(handshake_headers(), "1.1")
    _, headers, _ = handshake.accept(None, [])
    return dict(headers).get(b"sec-websocket-extensions")


@pytest.fixture(autouse=True)
def restore_default() -> Iterator[None]:
    yield
    set_websocket_compression(False)


def test_the_installed_hypercorn_handshake_declines_deflate_unless_enabled() -> None:
    assert negotiated(False) is None
    accepted = negotiated(True)
    assert accepted is not None and accepted.startswith(b"permessage-deflate")
    assert negotiated(False) is None  # and it can be switched back


@pytest.mark.parametrize(("setting", "expected"), [(None, False), ("on", True)])
def test_the_service_negotiates_deflate_only_when_ws_compression_is_on(
    tmp_path: Path, setting: str | None, expected: bool
) -> None:
    env = {"WS_COMPRESSION": setting} if setting else {}
    with Service(tmp_path, env) as service:
        client = Client(service.ws_url, compression="deflate")  # offers it, like a browser
        try:
            assert client.next()["type"] == "hello"
            header = client.connection.response.headers.get("Sec-WebSocket-Extensions")
        finally:
            client.close()
    assert (header is not None and "permessage-deflate" in header) is expected


def test_the_replaced_stream_handler_is_still_the_one_the_fix_was_written_against() -> None:
    # web/hypercorn_patches.py carries a copy of Hypercorn 0.18's WSStream._handle_events.
    # If an upgrade changes the original, re-read it and port the fix (or drop it when
    # Hypercorn handles a too-big message arriving in many reads by itself).
    source = inspect.getsource(ORIGINAL_HANDLE_EVENTS).encode()
    assert hashlib.sha256(source).hexdigest() == HYPERCORN_0_18_HANDLE_EVENTS


def test_a_huge_message_in_many_reads_gets_1009_and_the_socket_closes(tmp_path: Path) -> None:
    with Service(tmp_path) as service:
        client = Client(service.ws_url, max_size=None)
        try:
            assert client.next()["type"] == "hello"
            client.send("x" * 1_000_000)  # far past websocket_max_message_size, many reads
            with pytest.raises(ConnectionClosed) as closed:
                client.next(timeout=10)
        finally:
            client.close()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        assert "Traceback" not in service.logs()


def test_the_code_direct_writes_rely_on_is_still_the_one_they_were_written_against() -> None:
    # direct_writer walks from the ASGI send to the TCP server's transport, and writes
    # there only when Hypercorn's own path has nothing on its way. If an upgrade changes
    # any of these, re-read them: how send reaches the transport, the send lock, the state.
    source = b"".join(inspect.getsource(function).encode() for function in DIRECT_WRITE_SOURCES)
    assert hashlib.sha256(source).hexdigest() == HYPERCORN_0_18_DIRECT_WRITE


# -- direct writes against a real Hypercorn ---------------------------------------------------


class Served:
    """Hypercorn serving a bare ASGI app that accepts every WebSocket, sends "hello" the
    normal way, then hands the test its ``direct_writer`` and waits for the disconnect."""

    def __init__(self, close_first: bool = False, writer: Any = direct_writer) -> None:
        self.close_first = close_first  # the server closes before handing over the writer
        self.writer = writer  # direct_writer or ping_writer
        self.port = free_port()
        self.writers: asyncio.Queue[DirectWriter | None] = asyncio.Queue()
        self.disconnected = asyncio.Event()

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if not await accepted(scope, receive, send):
            return
        await send({"type": "websocket.send", "text": "hello"})
        writer = self.writer(send)
        if self.close_first:
            await send({"type": "websocket.close", "code": 1000})
        self.writers.put_nowait(writer)
        while (await receive())["type"] != "websocket.disconnect":
            pass
        self.disconnected.set()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"


async def accepted(scope: dict[str, Any], receive: Any, send: Any) -> bool:
    """A bare app's start: serve the lifespan to its end (False), or accept the WebSocket
    (True)."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return False
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    return True


@contextlib.asynccontextmanager
async def served(close_first: bool = False) -> AsyncIterator[Served]:
    async with serving(Served(close_first)) as server:
        yield server


@contextlib.asynccontextmanager
async def serving(server: Any, **settings: Any) -> AsyncIterator[Any]:
    """Hypercorn serving ``server.app`` on ``server.port`` in this loop, until the block
    ends; ``settings`` are Hypercorn config attributes."""
    config = Config()
    config.bind = [f"127.0.0.1:{server.port}"]
    config.accesslog = config.errorlog = None
    for name, value in settings.items():
        setattr(config, name, value)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(server.app, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    try:
        for _ in range(200):  # until it listens, bounded
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", server.port)
                writer.close()
                break
            await asyncio.sleep(0.05)  # polling a port that is about to listen
        yield server
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def test_frames_written_directly_arrive_after_the_normal_ones_in_order() -> None:
    async def scenario() -> list[str]:
        async with served() as server:
            async with connect(server.url, compression="deflate") as client:  # offers it; declined
                writer = await asyncio.wait_for(server.writers.get(), 5)
                assert writer is not None
                assert all([writer.write(text_frame(f"event {i} é")) for i in range(3)])
                return [str(await asyncio.wait_for(client.recv(), 5)) for _ in range(4)]

    assert asyncio.run(scenario()) == ["hello", "event 0 é", "event 1 é", "event 2 é"]


async def silent_client(port: int) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads (tiny buffer)."""
    silent = socket.socket()
    silent.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    silent.setblocking(False)
    await asyncio.get_running_loop().sock_connect(silent, ("127.0.0.1", port))
    silent.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    return silent


def test_a_direct_write_is_refused_while_the_socket_has_data_buffered() -> None:
    # A visitor that stopped reading: its socket fills, and then every direct write is
    # refused (the caller queues the event; its normal send waits for the socket to drain
    # and meets the stall detector) instead of buffering without bound in the transport.
    async def scenario() -> tuple[int, bool]:
        async with served() as server:
            with await silent_client(server.port):
                writer = await asyncio.wait_for(server.writers.get(), 5)
                assert writer is not None
                frame = text_frame("x" * 65536)
                written = 0
                while written < 1000 and writer.write(frame):  # 64 MiB at most
                    written += 1
                return written, writer.write(text_frame("small"))

    written, small = asyncio.run(scenario())
    assert written < 1000, "every write was taken while the peer read nothing"
    assert not small


def test_a_direct_write_is_refused_once_the_server_closed_the_websocket() -> None:
    # The close frame is out, the peer has not answered (it does not read): the socket is
    # open, but a data frame after a close frame would break the protocol.
    async def scenario() -> bool:
        async with served(close_first=True) as server:
            with await silent_client(server.port):
                writer = await asyncio.wait_for(server.writers.get(), 5)
                assert writer is not None
                return writer.write(text_frame("after the close frame"))

    assert asyncio.run(scenario()) is False


def test_a_direct_write_is_refused_once_the_client_closed_the_websocket() -> None:
    async def scenario() -> bool:
        async with served() as server:
            async with connect(server.url) as client:
                writer = await asyncio.wait_for(server.writers.get(), 5)
                assert writer is not None and await client.recv() == "hello"
            await asyncio.wait_for(server.disconnected.wait(), 5)
            return writer.write(text_frame("too late"))

    assert asyncio.run(scenario()) is False


def test_no_direct_writer_when_compression_may_be_negotiated() -> None:
    async def scenario() -> tuple[DirectWriter | None, DirectWriter | None]:
        set_websocket_compression(True)
        async with served() as server:
            async with connect(server.url, compression="deflate"):
                offered = await asyncio.wait_for(server.writers.get(), 5)
            async with connect(server.url, compression=None):
                plain = await asyncio.wait_for(server.writers.get(), 5)
        return offered, plain

    offered, plain = asyncio.run(scenario())
    assert offered is None  # deflate negotiated: its frames must go through wsproto
    assert plain is not None


def test_no_direct_writer_outside_hypercorn() -> None:
    async def other_server_send(message: dict[str, Any]) -> None:
        pass

    assert direct_writer(other_server_send) is None
    assert direct_writer(None) is None


# -- pings: the Hub's over HTTP/1.1, Hypercorn's own over HTTP/2 -----------------------------


async def handshake(port: int, deflate: bool) -> tuple[asyncio.StreamReader, asyncio.StreamWriter,
                                                         WSConnection, AcceptConnection]:
    """``raw_client``'s handshake, with the server's answer to it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    client = WSConnection(ConnectionType.CLIENT)
    writer.write(client.send(Request(host="127.0.0.1", target="/ws",
                                     extensions=[PerMessageDeflate()] if deflate else [])))
    accept = await next_event(reader, client, AcceptConnection)
    assert isinstance(accept, AcceptConnection)
    return reader, writer, client, accept


async def events_until(reader: asyncio.StreamReader, client: WSConnection, text: str) -> list[Event]:
    """The events before the text message ``text`` (and not it)."""
    seen: list[Event] = []
    while True:
        for event in client.events():
            if isinstance(event, TextMessage) and event.data == text:
                return seen
            seen.append(event)
        data = await asyncio.wait_for(reader.read(65536), 5)
        assert data, f"the server closed the socket before {text!r}"
        client.receive_data(data)


@pytest.mark.usefixtures("stream_fixes")
@pytest.mark.parametrize("deflate", [False, True])
def test_over_http1_hypercorn_pings_no_more_and_the_ping_writer_does(deflate: bool) -> None:
    # Hypercorn pinged every WebSocket from a task of its own (1.5 KiB a connection) every
    # websocket_ping_interval, whatever else had just been sent: at 10,000 visitors over a
    # quarter of the server's CPU in a round. Over HTTP/1.1 the Hub pings instead, with
    # ping_writer: the same two bytes on every connection, deflate or not.
    async def scenario() -> tuple[list[str], list[str], bool]:
        set_websocket_compression(deflate)
        try:
            async with serving(Served(writer=ping_writer), websocket_ping_interval=0.02) as server:
                reader, writer, client, accept = await handshake(server.port, deflate)
                try:
                    assert bool(accept.extensions) is deflate
                    pinger = await asyncio.wait_for(server.writers.get(), 5)
                    assert pinger is not None
                    before = await events_until(reader, client, "hello")
                    await asyncio.sleep(0.3)  # 15 of Hypercorn's intervals: a window to see its pings in
                    assert pinger.ping()
                    assert pinger.write(text_frame("mark"))  # (uncompressed: allowed with deflate)
                    during = await events_until(reader, client, "mark")
                    for event in during:
                        if isinstance(event, Ping):
                            writer.write(client.send(event.response()))  # the pong: read and dropped
                    assert pinger.write(text_frame("after the pong"))
                    await events_until(reader, client, "after the pong")
                    return ([type(e).__name__ for e in before], [type(e).__name__ for e in during],
                            server.disconnected.is_set())
                finally:
                    writer.close()
        finally:
            set_websocket_compression(False)

    before, during, disconnected = asyncio.run(scenario())
    assert before == [] and during == ["Ping"]  # ours alone: none of Hypercorn's
    assert not disconnected


def test_no_ping_writer_outside_hypercorn() -> None:
    async def other_server_send(message: dict[str, Any]) -> None:
        pass

    assert ping_writer(other_server_send) is None
    assert ping_writer(None) is None


def test_the_service_pings_a_visitor_it_sends_nothing_every_ws_ping_seconds(tmp_path: Path) -> None:
    # run.py starts the Hub's keepalive: without it nothing would ping over HTTP/1.1.
    async def scenario(port: int) -> list[float]:
        reader, writer, client, _ = await handshake(port, deflate=False)
        try:
            await next_event(reader, client, TextMessage)  # the hello
            pings = []
            for _ in range(3):
                ping = await next_event(reader, client, Ping)
                pings.append(time.monotonic())
                writer.write(client.send(ping.response()))  # type: ignore[attr-defined]
            return pings
        finally:
            writer.close()

    with Service(tmp_path, {"WS_PING_SECONDS": "0.2"}) as service:
        pings = asyncio.run(scenario(service.port))
        assert "Traceback" not in service.logs()
    gaps = [b - a for a, b in zip(pings, pings[1:], strict=False)]
    assert all(gap >= 0.1 for gap in gaps), gaps  # every 0.2 s (looks every 0.1 s), not a flood


# -- messages after the app's close -------------------------------------------------------------


class ClosesAndStopsReading:
    """A bare ASGI app that refuses the first message as web.ws does (close 1008) and reads
    nothing after its close, as Quart does once the route returns; it returns when
    ``release`` is set, so the test holds the moment between the two."""

    def __init__(self) -> None:
        self.port = free_port()
        self.release = asyncio.Event()

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if not await accepted(scope, receive, send):
            return
        await receive()
        await send({"type": "websocket.close", "code": 1008, "reason": "too many messages"})
        await self.release.wait()


async def next_event(reader: asyncio.StreamReader, client: WSConnection, kind: type[Event]) -> Event:
    """Read until ``client`` has an event of ``kind`` (the ones before it are dropped)."""
    while True:
        for event in client.events():
            if isinstance(event, kind):
                return event
        data = await asyncio.wait_for(reader.read(65536), 5)
        assert data, f"the server closed the socket before a {kind.__name__}"
        client.receive_data(data)


@pytest.mark.usefixtures("stream_fixes")
def test_messages_after_the_apps_close_are_dropped_and_the_socket_still_closes() -> None:
    # Hypercorn queues at most 10 messages for the app. A client that flooded on past the
    # close filled that queue, nobody emptied it, and Hypercorn waited for room forever:
    # it read nothing more (not the client's close) and never closed the socket.

    async def scenario() -> tuple[int, bytes | None]:
        app = ClosesAndStopsReading()
        async with serving(app):
            reader, writer = await asyncio.open_connection("127.0.0.1", app.port)
            try:
                client = WSConnection(ConnectionType.CLIENT)
                writer.write(client.send(Request(host="127.0.0.1", target="/ws")))
                await next_event(reader, client, AcceptConnection)
                writer.write(client.send(TextMessage("one too many")))
                close = await next_event(reader, client, CloseConnection)
                assert isinstance(close, CloseConnection)
                frames = FrameProtocol(client=True, extensions=[])  # the client's own is closing
                writer.write(b"".join(bytes(frames.send_data(f"ping {i}")) for i in range(20)))  # > 10
                writer.write(client.send(close.response()))
                try:
                    return close.code, await asyncio.wait_for(reader.read(), 5)  # until it closes
                except TimeoutError:
                    return close.code, None
            finally:
                app.release.set()
                writer.close()

    code, rest = asyncio.run(scenario())
    assert code == 1008
    assert rest is not None, "the server stopped reading, and kept the socket, after its close"
    assert rest == b""


class ReadsUntilDisconnect:
    """A bare ASGI app that accepts and reads until Hypercorn says the socket is gone, as
    web.ws does: it hears nothing of Hypercorn's own 1009."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[dict[str, Any]] = []
        self.disconnected = asyncio.Event()

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if not await accepted(scope, receive, send):
            return
        while (message := await receive())["type"] != "websocket.disconnect":
            self.received.append(message)
        self.disconnected.set()


async def raw_client(port: int, small_buffers: bool = False) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, WSConnection]:
    """A client over a plain socket, past the handshake: it answers nothing by itself, and
    reads only when the test does (with ``small_buffers`` a few KiB unread stop it reading)."""
    sock = socket.socket()
    if small_buffers:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=4096 if small_buffers else 2**16)
    client = WSConnection(ConnectionType.CLIENT)
    writer.write(client.send(Request(host="127.0.0.1", target="/ws")))
    await next_event(reader, client, AcceptConnection)
    return reader, writer, client


@pytest.mark.usefixtures("stream_fixes")
def test_a_client_that_does_not_answer_hypercorns_own_1009_is_disconnected() -> None:
    # Hypercorn closes a message over websocket_max_message_size itself and does not tell
    # the app. A client that never answered that close kept its socket (and its place
    # under the per-address limit) for good: nothing ended the stream.

    async def scenario() -> tuple[int, bytes | None, float, bool, list[dict[str, Any]]]:
        app = ReadsUntilDisconnect()
        async with serving(app, websocket_max_message_size=WEBSOCKET_MAX_MESSAGE_BYTES):
            reader, writer, client = await raw_client(app.port)
            try:
                writer.write(client.send(TextMessage("x" * (WEBSOCKET_MAX_MESSAGE_BYTES + 1))))
                close = await next_event(reader, client, CloseConnection)
                assert isinstance(close, CloseConnection)
                closed_at = time.monotonic()
                frames = FrameProtocol(client=True, extensions=[])  # the client's own is closing
                writer.write(bytes(frames.send_data("after the close")))  # dropped, not queued
                try:
                    rest: bytes | None = await asyncio.wait_for(reader.read(), 5)  # until it closes
                except TimeoutError:
                    rest = None
                waited = time.monotonic() - closed_at
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(app.disconnected.wait(), 5)
                return close.code, rest, waited, app.disconnected.is_set(), app.received
            finally:
                writer.close()

    code, rest, waited, told, received = asyncio.run(scenario())
    assert code == 1009
    assert rest == b"", "the server kept the socket of a client that did not answer its 1009"
    assert CLOSE_ANSWER_SECONDS / 2 <= waited < CLOSE_ANSWER_SECONDS + 3  # the client had time to answer
    assert told, "the app never heard that the socket was gone"
    assert received == []  # neither the oversized message nor the one after the close
