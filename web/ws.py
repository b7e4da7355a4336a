"""WS /ws: live events to every visitor.

Admission first: the origin, then the per-address and total limits (``web.limits``); a
refused visitor is accepted and closed at once with 1013 and the reason, so it knows to
back off. Each connection subscribes to the Hub before it reads the view for its hello, so no
event falls between the two (the client drops a repeat by conversation and seq). After
the hello, the Hub writes events straight to the socket while the connection is idle
(``web.hypercorn_patches.direct_writer``); anything else, pongs included, goes through
the connection's bounded queue, which one task writes in order, so a slow visitor delays
nobody else and is dropped when its queue fills, or when one write has not drained for
``WS_STALL_SECONDS`` (a visitor that stopped reading). Every message a client sends
counts against its connection's rate, before it is parsed (pings are all the widget
sends). At shutdown the Hub ends every connection and each is closed with 1001. A
refused frame (binary, too big, malformed, a message past the rate) closes the socket
with its code, at once: a write still on its way to a visitor that stopped reading is
abandoned and the close frame queued behind what was written, never lost behind it.
What the client sends after a close is dropped before it reaches Quart
(``web.hypercorn_patches``), so a flood cannot hold the socket once the route returns.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import time
from typing import Any, Final

from hypercorn.utils import UnexpectedMessageError
from quart import Blueprint, websocket

from actors import wire
from actors.broadcaster import CloseReason, Connection, encode
from actors.engine import Engine
from actors.errors import Unavailable
from web.context import Context
from web.edge import CONNECTION_GONE, CONNECTION_SEND
from web.hypercorn_patches import direct_writer, ping_writer
from web.limits import EdgeLimits, KeyedBuckets
from web.payloads import BadPayload, parse_object

bp = Blueprint("ws", __name__)
log = logging.getLogger("roundtable.ws")

#: A client frame larger than this closes the socket (clients only send pings).
MAX_FRAME_BYTES: Final = 4096
CLOSE_GOING_AWAY: Final = 1001
CLOSE_UNSUPPORTED: Final = 1003
CLOSE_POLICY: Final = 1008
CLOSE_TOO_BIG: Final = 1009
CLOSE_TRY_AGAIN: Final = 1013
#: The close code for each reason the server ends a connection.
CLOSE_CODES: Final = {CloseReason.TOO_SLOW: CLOSE_TRY_AGAIN, CloseReason.STALLED: CLOSE_TRY_AGAIN,
                      CloseReason.GOING_AWAY: CLOSE_GOING_AWAY}
#: Messages a connection may send, of any type: a burst of this many, then one a second.
#: The widget sends only pings: three in its first second, then one every 15 s.
MESSAGE_BURST: Final = 10
MESSAGES_PER_SECOND: Final = 1.0
#: How long a close frame may wait for a socket that does not drain.
CLOSE_TIMEOUT: Final = 1.0
_ids = itertools.count(1)


@bp.websocket("/ws")
async def live() -> None:
    context = Context.current()
    limits = EdgeLimits.current()
    address = websocket.remote_addr or "unknown"
    origin = websocket.headers.get("Origin")
    if not context.origin_allowed(origin, websocket.host):
        limits.refusals.note(f"origin {address}", f"refused WebSocket from origin {origin[:200] if origin else origin}")
        await websocket.close(CLOSE_POLICY, "origin not allowed")
        return
    if context.hub is None:
        await websocket.close(CLOSE_TRY_AGAIN, "live events unavailable")
        return
    refusal = limits.admission.admit(address)
    if refusal is not None:
        limits.refusals.note(f"ws {address}", f"refused WebSocket from {address}: {refusal}")
        await websocket.accept()  # accepted, so the client sees 1013 and why, not a 403
        await _close(CLOSE_TRY_AGAIN, refusal)
        return
    try:
        connection = Connection(f"ws-{next(_ids)}@{address}", address=address)
        await _live(context, connection, limits)
    finally:
        limits.admission.release(address)


async def _live(context: Context, connection: Connection, limits: EdgeLimits) -> None:
    assert context.hub is not None
    stall_seconds = limits.stall_seconds
    context.hub.add(connection)
    try:
        try:
            hello = await context.call(_hello, context.system)
        except Unavailable as exc:  # busy, stopping, or the database is out: try again
            log.warning("closing WebSocket %s: %s", connection.name, exc)
            await websocket.accept()  # accepted, so the client sees 1013 (try again), not a 403
            await _close(CLOSE_TRY_AGAIN, "the engine is busy; reconnect")
            return
        await websocket.accept()
        if await _send(connection, hello, stall_seconds):
            send = websocket.scope.get(CONNECTION_SEND)
            connection.direct = direct_writer(send)
            connection.pinger = connection.direct or ping_writer(send)  # the Hub's keepalive
            await _serve(connection, context, limits)
    finally:
        context.hub.discard(connection)
        log.debug("WebSocket %s closed", connection.name)


def _hello(system: Engine) -> str:
    """The encoded ``hello`` (on a worker thread: it asks the engine or reads the database)."""
    return encode(wire.hello(system.view()))


async def _serve(connection: Connection, context: Context, limits: EdgeLimits) -> None:
    """Write the connection's queued events (in this task) while a reader task answers
    pings, until the reader refuses a frame, the server ends the connection or gives up
    on it; then close with the reader's refusal, else the server's reason.

    Only this task closes, once the reader is over. A write still on its way to a
    visitor that stopped reading is abandoned, not awaited (``_write``): its frame is
    whole in the transport's buffer or not there at all (and only the close, never
    compressed, follows), so the close frame queues right behind the frames already
    written. (A reader that closed by itself queued its close frame behind that write,
    where it was given up after ``CLOSE_TIMEOUT`` or cancelled with the reader: never
    sent.) The writer is this task, not one of its own: a writer task and its wait cost
    1.4 KiB a connection (``bench/ws_floor.py``: 46.0 against 44.6 KiB at 2,000)."""
    reader = asyncio.create_task(_read(connection, context, limits))
    reader.add_done_callback(lambda _: connection.wake())
    gone = websocket.scope.get(CONNECTION_GONE)  # done when the server gave up on it (web.edge)
    server_gone = gone if isinstance(gone, asyncio.Future) else asyncio.get_running_loop().create_future()
    server_gone.add_done_callback(lambda _: connection.wake())
    failure: BaseException | None = None
    try:
        await _write(connection, limits.stall_seconds, reader, server_gone)
    except Exception as exc:  # a bug: the connection is still closed first, then it is raised
        failure = exc
    finally:  # also when Quart cancels this handler because the client went away
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
    refusal = None
    if not reader.cancelled():
        failure = failure or reader.exception()
        refusal = None if reader.exception() else reader.result()
    if refusal is None and connection.reason is not None:
        refusal = CLOSE_CODES[connection.reason], connection.reason.value
    if refusal is not None and not server_gone.done():
        await _close(*refusal)
    if failure is not None:
        raise failure


async def _write(connection: Connection, stall_seconds: float, reader: asyncio.Task[tuple[int, str]],
                 server_gone: asyncio.Future[Any]) -> None:
    """Send the queued events in order until the connection is ended, the reader is over
    or the server gave up on it. Each send runs as a task of its own only while it is on
    its way, and is abandoned (cancelled) when the reader or the server is over first;
    ``connection.sending`` keeps the Hub's direct writes out while one is on its way,
    and after one was abandoned."""
    over = (reader, server_gone)
    while connection.reason is None and not any(f.done() for f in over):
        data = connection.take()
        if data is None:
            await connection.wait()
            continue
        connection.sending = True
        send = asyncio.ensure_future(_send(connection, data, stall_seconds))
        try:
            await asyncio.wait((send, *over), return_when=asyncio.FIRST_COMPLETED)
        finally:  # also when this handler is cancelled
            if not send.done():
                send.cancel()
        if not send.done() or send.cancelled():
            await asyncio.gather(send, return_exceptions=True)
            return
        if not send.result():  # (a send's own bug is raised here)
            return
        connection.sending = False


async def _send(connection: Connection, data: str, stall_seconds: float) -> bool:
    """Send ``data``; False when the connection is over: its socket has not drained for
    ``stall_seconds`` (then it is ended as stalled) or is gone."""
    try:
        async with asyncio.timeout(stall_seconds):  # not wait_for: on 3.11 it can swallow a cancel
            await websocket.send(data)
    except TimeoutError:  # also the kernel's ETIMEDOUT (TCP_USER_TIMEOUT, web.serving)
        log.warning("dropping stalled WebSocket client %s: its socket has not drained for %g s",
                    connection.name, stall_seconds)
        connection.end(CloseReason.STALLED)
        return False
    except (OSError, UnexpectedMessageError):  # gone, or closed already
        return False
    return True


async def _close(code: int, reason: str) -> None:
    """Close with ``code``; a socket that does not drain cannot hold the handler."""
    try:
        await asyncio.wait_for(websocket.close(code, reason), CLOSE_TIMEOUT)
    except (TimeoutError, OSError, UnexpectedMessageError, RuntimeError):  # RuntimeError: closed twice
        pass


async def _read(connection: Connection, context: Context, limits: EdgeLimits) -> tuple[int, str]:
    """Answer pings and ignore other messages, until a frame is refused (binary, oversized,
    malformed, or past the connection's rate): its close code and reason, for ``_serve``
    to close with. It writes nothing itself: pongs are queued."""
    bucket = KeyedBuckets(MESSAGES_PER_SECOND, MESSAGE_BURST, time.monotonic, max_keys=1)
    while True:
        refusal = _answer(await websocket.receive(), bucket, connection, context)
        if refusal is not None:
            limits.refusals.note(f"frame {connection.address}",
                                 f"closing WebSocket {connection.name}: {refusal[1]}")
            return refusal


def _answer(frame: str | bytes | None, bucket: KeyedBuckets, connection: Connection,
            context: Context) -> tuple[int, str] | None:
    """Queue the pong for a ping, ignore any other message; or the close code and reason
    ``frame`` is refused with. Every message is counted before it is parsed, so a flood
    of anything costs no parsing past the burst."""
    if frame is None or isinstance(frame, bytes):  # Quart gives an empty binary frame as None
        return CLOSE_UNSUPPORTED, "binary frames are not supported: send JSON text"
    if len(frame) > MAX_FRAME_BYTES:
        return CLOSE_TOO_BIG, "frame too large"
    if bucket.take("") is not None:
        return CLOSE_POLICY, "too many messages"
    message = _parse(frame)
    if message is None:
        return CLOSE_POLICY, "malformed frame: send JSON objects"
    if message.get("type") == "ping":
        connection.offer(encode(wire.pong(message.get("t"), context.system.clock.now())))
    return None


def _parse(frame: str) -> dict[str, Any] | None:
    try:
        message = parse_object(frame)
    except BadPayload:
        return None
    t = message.get("t")
    if message.get("type") == "ping" and t is not None and not _finite_number(t):
        return None
    return message


def _finite_number(value: object) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
