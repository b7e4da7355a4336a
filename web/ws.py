"""WS /ws: live events to every visitor.

Each connection subscribes to the Hub before it reads the snapshot, so no event falls
between the two (the client drops a repeat by conversation and seq). One task writes:
events and pongs both go through the connection's bounded queue, so a slow visitor
delays nobody else and is dropped when its queue fills. At shutdown the Hub ends every
connection and each is closed with 1001 (going away).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from typing import Any, Final

from quart import Blueprint, websocket

from actors.broadcaster import CloseReason, Connection, encode
from actors.round import ms
from web.context import Context, EngineTimeout

bp = Blueprint("ws", __name__)
log = logging.getLogger("roundtable.ws")

#: A client frame larger than this closes the socket (clients only send pings).
MAX_FRAME_BYTES: Final = 4096
CLOSE_GOING_AWAY: Final = 1001
CLOSE_POLICY: Final = 1008
CLOSE_TOO_BIG: Final = 1009
CLOSE_TRY_AGAIN: Final = 1013
#: The close code for each reason the server ends a connection.
CLOSE_CODES: Final = {CloseReason.TOO_SLOW: CLOSE_TRY_AGAIN, CloseReason.GOING_AWAY: CLOSE_GOING_AWAY}
_ids = itertools.count(1)


@bp.websocket("/ws")
async def live() -> None:
    context = Context.current()
    headers = websocket.headers
    if not context.origin_allowed(headers.get("Origin"), websocket.host, headers.get("X-Forwarded-Host")):
        log.warning("refused WebSocket from origin %s", websocket.headers.get("Origin"))
        await websocket.close(CLOSE_POLICY, "origin not allowed")
        return
    if context.hub is None:
        await websocket.close(CLOSE_TRY_AGAIN, "live events unavailable")
        return
    connection = Connection(f"ws-{next(_ids)}@{websocket.remote_addr}")
    context.hub.add(connection)
    try:
        try:
            snapshot = await context.call(context.system.snapshot)
        except EngineTimeout:
            log.warning("closing WebSocket %s: the engine did not answer in time", connection.name)
            await websocket.accept()  # accepted, so the client sees 1013 (try again), not a 403
            await websocket.close(CLOSE_TRY_AGAIN, "the engine is busy; reconnect")
            return
        await websocket.accept()
        await websocket.send(encode({"type": "hello", **snapshot}))
        await _serve(connection, context)
    finally:
        context.hub.discard(connection)
        log.debug("WebSocket %s closed", connection.name)


async def _serve(connection: Connection, context: Context) -> None:
    """Run the writer and the reader until either ends or the server ends the connection."""
    writer = asyncio.create_task(_write(connection))
    reader = asyncio.create_task(_read(connection, context))
    ended = asyncio.create_task(connection.ended())
    tasks = {writer, reader, ended}
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:  # also when Quart cancels this handler because the client went away
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if ended in done:
        reason = ended.result()
        await websocket.close(CLOSE_CODES[reason], reason.value)
    for task in done - {ended}:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


async def _write(connection: Connection) -> None:
    while True:
        data = await connection.queue.get()
        await websocket.send(data)


async def _read(connection: Connection, context: Context) -> None:
    """Answer pings; ignore other messages; close on oversized or malformed frames."""
    while True:
        frame = await websocket.receive()
        if len(frame) > MAX_FRAME_BYTES:
            await websocket.close(CLOSE_TOO_BIG, "frame too large")
            return
        message = _parse(frame)
        if message is None:
            await websocket.close(CLOSE_POLICY, "malformed frame: send JSON objects")
            return
        if message.get("type") == "ping":
            pong = {"type": "pong", "t": message.get("t"), "server_time": ms(context.system.clock.now())}
            connection.offer(encode(pong))


def _parse(frame: str | bytes) -> dict[str, Any] | None:
    try:
        message = json.loads(frame)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(message, dict):
        return None
    t = message.get("t")
    if message.get("type") == "ping" and t is not None and not isinstance(t, (int, float)):
        return None
    return message
