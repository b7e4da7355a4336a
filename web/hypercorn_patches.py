"""WebSocket compression (permessage-deflate) as a setting, in the one place Hypercorn
decides it.

Hypercorn 0.18 has no option for it: ``hypercorn.protocol.ws_stream.Handshake.accept``
always offers ``PerMessageDeflate`` and accepts it whenever the browser asks, and browsers
always ask. Measured here (docs/benchmarks.md) it costs about 3x the memory per connection
and about 1.5x the CPU per frame, while Roundtable's frames are small chat text. With
``WS_COMPRESSION`` off (the default) the handshake forgets the client's extension offer,
so the connection is plain WebSocket. ``tests/web/test_hypercorn_patches.py`` pins this
against the installed Hypercorn, so an upgrade that moves the handshake fails loudly.

It also holds the one other change Roundtable needs in Hypercorn's WebSocket stream: a
message over ``websocket_max_message_size`` that arrives in many reads (1 MB of text)
made Hypercorn send its 1009 close and then raise again on every following read, each
time leaving the rest of the events unprocessed, so the client's close was never seen
and the socket hung (``tests/web/test_live_round.py``). ``_handle_events`` below is
Hypercorn 0.18's own, except:

- once a close frame is out (the app's, or Hypercorn's own 1009), the client's further
  messages are dropped, not queued for the app; the rest of a too-big message with them,
  while the other events (the client's close) are still handled. Hypercorn's queue to
  the app holds 10 messages, and Quart stops reading it when the route returns, right
  after its close. A client that went on sending (a ping flood refused with 1008) filled
  it, so Hypercorn's own ``websocket.disconnect`` waited forever for room: the socket was
  never closed and the connection's tasks never ended.
- Hypercorn's own 1009 is not told to the app, so nothing ended a connection whose
  client did not answer it: the socket, and its place under the per-address limit, were
  kept for good. Now the stream is ended ``CLOSE_ANSWER_SECONDS`` after that close unless
  the client's answer ended it first; the app then hears ``websocket.disconnect``.

(``tests/web/test_hypercorn_patches.py``, ``tests/web/test_hostile_input.py``.)

And the one hook the fan-out needs (``direct_writer``): with compression off, a server's
text frame is the same bytes for every connection, so ``actors.broadcaster.Hub`` encodes
each event's frame once (``text_frame``) and writes it straight to every idle
connection's transport, as ``websockets.broadcast()`` does, instead of waking one task per
connection to go through Quart, the ASGI message, ``WSStream.app_send``, wsproto and
``TCPServer.protocol_send`` (measured: most of the CPU per delivered message). A write is
refused (the caller sends the frame the normal way, which waits for the socket to drain
and so meets the stall detector) unless the WebSocket is open, uncompressed, served over
HTTP/1.1 by Hypercorn's asyncio worker, and its transport has nothing buffered. Every
write is a whole frame, so Hypercorn's own (pings, pongs, the close) interleave whole.
``tests/web/test_hypercorn_patches.py`` pins the Hypercorn code it relies on by hash.

And the pings (``ping_writer``, ``apply_stream_fixes``): Hypercorn pings every WebSocket
from a task of its own per connection, asleep between pings (1.5 KiB a connection) and
pinging whether or not anything else was just sent (at 10,000 visitors, 500 pings and
pongs a second through wsproto: over a quarter of the server's CPU in a round). For a WebSocket
over HTTP/1.1 that task now returns at once, and ``actors.broadcaster.Hub`` pings instead,
writing the same two bytes (``PING_FRAME``: a control frame, never compressed) to every
connection that was sent nothing lately. Over HTTP/2 Hypercorn's own task pings, as before.

And one change to Hypercorn's connections (``apply_connection_fixes``): a connection ends
when its client closes it, not when the keep-alive timer runs out after that.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Final

from hypercorn.asyncio.tcp_server import TCPServer
from hypercorn.protocol import ws_stream
from hypercorn.protocol.h11 import H11Protocol
from wsproto.connection import ConnectionState
from wsproto.events import CloseConnection, Message, Ping
from wsproto.frame_protocol import CloseReason, FrameProtocol

__all__ = ["CLOSED_CONNECTION_SOURCES", "CLOSE_ANSWER_SECONDS", "DIRECT_WRITE_SOURCES",
           "ORIGINAL_HANDLE_EVENTS", "ORIGINAL_READ_DATA", "ORIGINAL_SEND_PINGS", "PING_FRAME",
           "DirectWriter", "apply_connection_fixes", "apply_stream_fixes", "direct_writer",
           "ping_writer", "set_websocket_compression", "text_frame"]

_ORIGINAL = ws_stream.Handshake
#: Hypercorn's own, kept so a test can tell when an upgrade changed what we replaced.
ORIGINAL_HANDLE_EVENTS = ws_stream.WSStream._handle_events
ORIGINAL_SEND_PINGS = ws_stream.WSStream._send_pings
#: How long Hypercorn's own close (1009, a message over ``websocket_max_message_size``)
#: waits for the client's answer before the socket is closed anyway: a browser answers
#: within a round trip; a client still sending the rest of a big message gets the time
#: to read the close before its unread bytes make the socket's end a reset.
CLOSE_ANSWER_SECONDS: Final = 1.0


class _PlainHandshake(_ORIGINAL):  # type: ignore[misc, valid-type]
    """Hypercorn's handshake, but deaf to ``Sec-WebSocket-Extensions``: no deflate."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.extensions = None


def set_websocket_compression(enabled: bool) -> None:
    """Let Hypercorn negotiate permessage-deflate (``enabled``) or never (the default).

    Process-wide: call it before serving. Idempotent either way.
    """
    ws_stream.Handshake = _ORIGINAL if enabled else _PlainHandshake  # type: ignore[misc]


async def _handle_events(self: Any) -> None:
    """Hypercorn 0.18's ``WSStream._handle_events``, with too-big messages dropped whole,
    messages dropped once a close frame is out (the app's or Hypercorn's own 1009: no one
    reads them then), and the socket ended ``CLOSE_ANSWER_SECONDS`` after a 1009 that the
    client does not answer (runs in the connection's reading task)."""
    for event in self.connection.events():
        if isinstance(event, Message):
            if _closing(self):
                continue  # app_put would wait for a reader that is gone, and hold the socket
            try:
                self.buffer.extend(event)
            except ws_stream.FrameTooLargeError:  # the rest of it comes after the close: dropped
                self.buffer.clear()
                await self._send_wsproto_event(CloseConnection(code=CloseReason.MESSAGE_TOO_BIG))
                self.task_group.spawn(_end_unanswered, self)
                continue
            if event.message_finished:
                await self.app_put(self.buffer.to_message())
                self.buffer.clear()
        elif isinstance(event, Ping):
            await self._send_wsproto_event(event.response())
        elif isinstance(event, CloseConnection):
            if self.connection.state == ConnectionState.REMOTE_CLOSING:
                await self._send_wsproto_event(event.response())
            await self.send(ws_stream.StreamClosed(stream_id=self.stream_id))


def _closing(stream: Any) -> bool:
    """Whether ``stream`` is closed, or its close frame is out (the app's, or Hypercorn's)."""
    return bool(stream.closed or stream.state is ws_stream.ASGIWebsocketState.CLOSED
                or stream.connection.state is not ConnectionState.OPEN)


async def _end_unanswered(stream: Any) -> None:
    """End ``stream`` (its socket, and the app hears ``websocket.disconnect``) unless the
    client answered Hypercorn's 1009 within ``CLOSE_ANSWER_SECONDS`` (its answer ends it
    at once). The app was never told of that close: without this a client that does not
    answer keeps the socket, and its place under the per-address limit, for good. A task
    in the connection's task group, which waits for it: at most this long after the end."""
    await stream.context.sleep(CLOSE_ANSWER_SECONDS)
    if not stream.closed:
        await stream.send(ws_stream.StreamClosed(stream_id=stream.stream_id))


async def _send_pings(self: Any) -> None:
    """Hypercorn 0.18's ``WSStream._send_pings`` over HTTP/2 only: a WebSocket over HTTP/1.1
    is pinged by the Hub (``ping_writer``), only when nothing else went to it lately."""
    if isinstance(getattr(self.send, "__self__", None), H11Protocol):
        return
    await ORIGINAL_SEND_PINGS(self)


def apply_stream_fixes() -> None:
    """Install the fixes above in Hypercorn's WebSocket stream (idempotent). The app's Hub
    must then ping the WebSockets over HTTP/1.1 (``actors.broadcaster.Hub.start_keepalive``)."""
    ws_stream.WSStream._handle_events = _handle_events  # type: ignore[method-assign]
    ws_stream.WSStream._send_pings = _send_pings  # type: ignore[method-assign]


# -- writing pre-encoded frames straight to a connection's transport -------------------------

#: Hypercorn's code that ``direct_writer`` relies on: how the ASGI send reaches the stream,
#: the stream the protocol, the protocol the TCP server and its writer (pinned by hash).
DIRECT_WRITE_SOURCES: Final[tuple[Callable[..., Any], ...]] = (
    ws_stream.WSStream.app_send, ws_stream.WSStream._send_wsproto_event, ws_stream.WSStream._accept,
    ws_stream.WSStream._send_pings, H11Protocol._create_stream, H11Protocol.stream_send,
    TCPServer.protocol_send, TCPServer.run,
)
#: A server's frames are not masked; without extensions a text frame is a function of its
#: text alone (``send_data`` with ``fin`` keeps no state between messages).
_FRAMES: Final = FrameProtocol(client=False, extensions=[])


#: A server's ping with no payload. A control frame: never compressed, so the same bytes
#: with or without permessage-deflate; the client answers with a pong, which Hypercorn reads
#: and drops (as it does the pongs to its own pings).
PING_FRAME: Final = bytes(_FRAMES.ping())


def text_frame(text: str) -> bytes:
    """The WebSocket frame (uncompressed, unmasked, final) a server sends for ``text``."""
    return bytes(_FRAMES.send_data(text))


class DirectWriter:
    """Writes whole pre-encoded frames to one Hypercorn WebSocket's transport, when it is
    idle: text frames (``write``) only where ``direct_writer`` made it (no extensions);
    pings (``ping``) on any WebSocket over HTTP/1.1."""

    __slots__ = ("_stream", "_transport")

    def __init__(self, stream: ws_stream.WSStream, transport: asyncio.WriteTransport) -> None:
        self._stream = stream
        self._transport = transport

    @staticmethod
    def frame(text: str) -> bytes:
        """The bytes ``write`` takes for ``text`` (the same for every DirectWriter)."""
        return text_frame(text)

    def write(self, frame: bytes) -> bool:
        """Write ``frame`` now and say True; or False, writing nothing, when the connection
        is closing or closed, or anything is buffered or waiting to be written on it (a
        slow or stalled reader: the caller's normal path waits for the socket to drain)."""
        stream, transport = self._stream, self._transport
        if (stream.closed or stream.state is not ws_stream.ASGIWebsocketState.CONNECTED
                or stream.connection.state is not ConnectionState.OPEN
                or transport.is_closing() or transport.get_write_buffer_size()):
            return False
        transport.write(frame)
        return True

    def ping(self) -> bool:
        """Write ``PING_FRAME`` now and say True; or False, as ``write`` (a connection with
        bytes still buffered is being sent to: its kernel's timeout covers a dead peer)."""
        return self.write(PING_FRAME)


def direct_writer(send: object) -> DirectWriter | None:
    """A ``DirectWriter`` for the WebSocket whose ASGI ``send`` Hypercorn gave the app, once
    accepted; None when it is not Hypercorn's asyncio worker over HTTP/1.1, or the client
    offered extensions (compression may be on), or the socket is gone."""
    stream = getattr(send, "__self__", None)
    if not isinstance(stream, ws_stream.WSStream) or stream.handshake.extensions:
        return None
    return ping_writer(send)


def ping_writer(send: object) -> DirectWriter | None:
    """A ``DirectWriter`` for its ``ping`` only (text frames differ with extensions), for any
    WebSocket over HTTP/1.1 under Hypercorn's asyncio worker; None otherwise (over HTTP/2
    Hypercorn pings it itself), or when the socket is gone."""
    stream = getattr(send, "__self__", None)
    if not isinstance(stream, ws_stream.WSStream):
        return None
    protocol = getattr(stream.send, "__self__", None)
    server = getattr(getattr(protocol, "send", None), "__self__", None)
    if not isinstance(protocol, H11Protocol) or not isinstance(server, TCPServer):
        return None
    transport = server.writer.transport
    if transport.is_closing():
        return None
    return DirectWriter(stream, transport)


# -- a connection the client closed between requests -------------------------------------------

#: Hypercorn's own, kept so a test can tell when an upgrade changed what we wrap.
ORIGINAL_READ_DATA = TCPServer._read_data
#: Hypercorn's code ``apply_connection_fixes`` relies on: the connection's task waits for
#: its task group, which holds the idle timer (pinned by hash).
CLOSED_CONNECTION_SOURCES: Final[tuple[Callable[..., Any], ...]] = (
    TCPServer.run, TCPServer._read_data, TCPServer._idle_timeout, TCPServer._close,
)


async def _read_data_then_stop_idle_timer(self: TCPServer) -> None:
    """Hypercorn 0.18's ``TCPServer._read_data``, then its idle timer stopped: the client
    has closed, and no request is coming."""
    await ORIGINAL_READ_DATA(self)
    await self.idle_task.stop()


def apply_connection_fixes() -> None:
    """Close a connection as soon as its client does (idempotent).

    Hypercorn ends a connection's task only when its task group is empty, and between
    requests that group holds the keep-alive timer: a client that closed an idle
    connection (or connected and hung up at once) kept the server's socket, and its
    place under MAX_TCP_CONNECTIONS_PER_IP, for all of HEADER_TIMEOUT_SECONDS. A client
    opening a connection per request (a script polling /api) reached the cap at a
    fraction of its request rate (``tests/web/test_accept.py``).
    """
    TCPServer._read_data = _read_data_then_stop_idle_timer  # type: ignore[method-assign]
