"""The Broadcaster actor and the loop-side Hub that fans events out to every WebSocket.

An event is serialized once, on the Broadcaster's thread, and the same string is handed
to the event loop with ``loop.call_soon_threadsafe``; there the Hub writes it to every
connection. A connection with a direct writer (``web.hypercorn_patches.direct_writer``:
uncompressed WebSockets under Hypercorn) that is idle (nothing queued, nothing being sent,
nothing buffered in its socket) gets the event's frame, encoded once for all of them,
written straight to its transport, with no task woken; every other connection, and an
idle one whose write is refused, gets it through its bounded queue, which its own task
sends in order. A fan-out writes ``FAN_OUT_BATCH`` connections a loop callback, so
10,000 visitors do not hold up a request, and events go out in the order delivered.
The Hub also keeps the connections alive (``start_keepalive``): when no event went out
for a while it pings every one (two bytes written straight to the socket, from one timer,
where Hypercorn kept a task per connection), so a visitor's NAT and proxies keep the
socket and a dead peer is found by the kernel's timeout on the unanswered ping. While
events go out more often than that, they do the same and nobody is pinged.
A connection whose queue is full is a slow visitor: it is dropped (closed) rather than
delaying anyone else or growing memory; so is one whose socket stopped draining
(``web.ws`` ends it as ``STALLED``), whatever its queue. At shutdown ``Hub.close_all``
ends every connection as going away, so visitors see a clean close.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Final, Protocol

import pykka

from actors.observe.metrics import WS_CLOSED, WS_DROPPED, WS_OPENED

__all__ = ["FAN_OUT_BATCH", "Broadcaster", "CloseReason", "Connection", "DirectWrite", "Hub", "Pinger",
           "encode"]

log = logging.getLogger("roundtable.broadcast")

#: Connections one loop callback writes an event to before the loop serves anything else
#: (about 10 ms of socket writes); a larger fan-out goes on in the next callback.
FAN_OUT_BATCH: Final = 1000
#: Events a connection may have waiting; a round is 16 messages plus a few states, so
#: a visitor this far behind is not keeping up.
QUEUE_LIMIT: Final = 256


def encode(event: dict[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


class CloseReason(enum.StrEnum):
    """Why the server ends a connection; the value is the close frame's reason text."""

    TOO_SLOW = "too slow: reconnect"
    STALLED = "not reading: reconnect"
    GOING_AWAY = "server shutting down"


class Pinger(Protocol):
    """Pings one connection (``web.hypercorn_patches.DirectWriter``)."""

    def ping(self) -> bool:
        """Write a ping frame now (True), or nothing when the socket is not idle (False)."""


class DirectWrite(Pinger, Protocol):
    """Writes an event's frame straight to one connection's socket (``web.hypercorn_patches``)."""

    def frame(self, text: str) -> bytes:
        """The frame for ``text``: the same bytes for every connection's writer."""

    def write(self, frame: bytes) -> bool:
        """Write ``frame`` now (True), or nothing when the socket is not idle (False)."""


class Connection:
    """One WebSocket's outbox. Lives on the event loop; never touch it from a thread.

    ``pending`` holds the events its own task has yet to send, in order, at most
    ``limit``; ``sending`` is True while that task sends one. ``direct``, once set (after
    the connection's first frame), lets the Hub write events straight to the socket while
    the connection is ``idle``; ``pinger`` (``direct`` itself, or one for pings only) is
    how the Hub keeps it alive. Kept small (slots, a list, a future only while someone
    waits): a server holds thousands of these.
    """

    __slots__ = ("_waiter", "address", "direct", "limit", "name", "pending", "pinger", "reason", "sending")

    def __init__(self, name: str, limit: int = QUEUE_LIMIT, address: str = "") -> None:
        self.name = name
        self.address = address
        self.limit = limit
        self.pending: list[str] = []
        self.reason: CloseReason | None = None
        self.direct: DirectWrite | None = None
        self.pinger: Pinger | None = None
        self.sending = False
        self._waiter: asyncio.Future[None] | None = None

    def idle(self) -> bool:
        """Whether an event may go straight to the socket: nothing of this connection's
        is queued or being sent (so it keeps its order), and it was not ended."""
        return self.reason is None and not self.sending and not self.pending

    @property
    def dropped(self) -> bool:
        """Whether this connection was dropped for falling ``limit`` events behind or for
        a socket that stopped draining."""
        return self.reason in (CloseReason.TOO_SLOW, CloseReason.STALLED)

    def offer(self, data: str) -> None:
        """Queue ``data`` for the connection's own task; a connection ``limit`` events
        behind is ended as too slow instead."""
        if self.reason is not None:
            return
        if len(self.pending) >= self.limit:
            log.warning("dropping slow WebSocket client %s: %d events unsent", self.name, len(self.pending))
            self.end(CloseReason.TOO_SLOW)
            return
        self.pending.append(data)
        self.wake()

    def take(self) -> str | None:
        """The oldest pending event, removed; None when there is none."""
        return self.pending.pop(0) if self.pending else None

    def end(self, reason: CloseReason) -> None:
        """Ask the connection's handler to close it; the first reason given wins."""
        if self.reason is None:
            self.reason = reason
            self.wake()

    def wake(self) -> None:
        """Return every ``wait`` now (also for the handler's own reasons to look again)."""
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self) -> None:
        """Until the next ``offer``, ``end`` or ``wake``."""
        if self._waiter is None:
            self._waiter = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._waiter)  # a cancelled waiter leaves the others waiting

    async def ended(self) -> CloseReason:
        """Wait until the server ends this connection; why it did."""
        while self.reason is None:
            await self.wait()
        return self.reason


class _FanOut:
    """One event on its way to the connections there were when it was delivered."""

    __slots__ = ("data", "frame", "next", "targets")

    def __init__(self, data: str, targets: tuple[Connection, ...]) -> None:
        self.data = data
        self.frame: bytes | None = None  # encoded at the first direct write, once
        self.targets = targets
        self.next = 0

    @property
    def done(self) -> bool:
        return self.next >= len(self.targets)

    def send(self, budget: int) -> int:
        """Write or queue the event for up to ``budget`` more connections; how many."""
        start, data = self.next, self.data
        self.next = end = min(len(self.targets), start + budget)
        for connection in self.targets[start:end]:
            direct = connection.direct
            if direct is not None and connection.idle():
                if self.frame is None:
                    self.frame = direct.frame(data)
                if direct.write(self.frame):
                    continue
            connection.offer(data)
        return end - start


class Hub:
    """The set of live connections of one web server, on one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.connections: set[Connection] = set()
        self.listeners: list[Callable[[str], None]] = []
        self.closing = False
        self._fan_outs: deque[_FanOut] = deque()
        self._continuing = False  # a later callback goes on with the fan-outs
        self._keepalive: asyncio.TimerHandle | None = None
        self._quiet_looks = 0  # keepalive looks since an event went out

    def add(self, connection: Connection) -> None:
        self.connections.add(connection)
        WS_OPENED.inc()
        if self.closing:  # a visitor arriving during shutdown is told to go at once
            connection.end(CloseReason.GOING_AWAY)

    def discard(self, connection: Connection) -> None:
        if connection in self.connections:
            self.connections.discard(connection)
            reason = connection.reason.name.lower() if connection.reason is not None else "client"
            WS_CLOSED.labels(reason).inc()
            if connection.dropped:
                WS_DROPPED.inc()

    def deliver(self, data: str) -> None:
        """On the loop: write ``data`` to every idle connection that can take it directly
        (its frame encoded once), and queue it for every other connection; at most
        ``FAN_OUT_BATCH`` connections a loop callback, events in the order delivered."""
        for listener in self.listeners:
            listener(data)
        self._quiet_looks = 0
        self._fan_outs.append(_FanOut(data, tuple(self.connections)))
        if not self._continuing:
            self._fan_out()

    def _fan_out(self) -> None:
        """Send the pending fan-outs, oldest first, up to a batch of connections; the rest
        in a later loop callback, so requests, pings and reads are served in between."""
        self._continuing = False
        budget = FAN_OUT_BATCH
        while self._fan_outs and budget > 0:
            fan_out = self._fan_outs[0]
            budget -= fan_out.send(budget)
            if fan_out.done:
                self._fan_outs.popleft()
        if self._fan_outs:
            self._continuing = True
            self.loop.call_soon(self._fan_out)

    def start_keepalive(self, every: float) -> None:
        """On the loop: from now on, ping every connection once no event has gone out for
        about ``every`` seconds (between ``every / 2`` and ``every``), and then every
        ``every`` seconds until one does. The server must not ping them itself
        (``web.hypercorn_patches.apply_stream_fixes``)."""
        def look() -> None:
            self._keepalive = self.loop.call_later(every / 2, look)
            self.keepalive_look()

        if self._keepalive is None:
            self._keepalive = self.loop.call_later(every / 2, look)

    def keepalive_look(self) -> None:
        """One look, every half ``every``: the second in a row with no event sent pings
        everyone (the event itself kept the sockets alive: connections that came since got
        their hello). ``FAN_OUT_BATCH`` connections a loop callback, as a fan-out."""
        self._quiet_looks += 1
        if self._quiet_looks >= 2:
            self._quiet_looks = 0
            self._ping(tuple(self.connections), 0)

    def _ping(self, targets: tuple[Connection, ...], start: int) -> None:
        end = min(len(targets), start + FAN_OUT_BATCH)
        for connection in targets[start:end]:
            pinger = connection.pinger
            if pinger is not None and connection.reason is None:
                pinger.ping()  # refused while bytes are buffered: that connection is being sent to
        if end < len(targets):
            self.loop.call_soon(self._ping, targets, end)

    def close_all(self) -> None:
        """On the loop, when shutdown starts: end every connection, now and later, as going
        away (close code 1001), before the server cancels their handlers."""
        self.closing = True
        if self._keepalive is not None:
            self._keepalive.cancel()
        for connection in tuple(self.connections):
            connection.end(CloseReason.GOING_AWAY)

    def deliver_threadsafe(self, data: str) -> None:
        """From any thread: schedule ``deliver`` on the loop (dropped if the loop is gone)."""
        try:
            self.loop.call_soon_threadsafe(self.deliver, data)
        except RuntimeError:  # the loop is closed: the server is shutting down
            pass


class Broadcaster(pykka.ThreadingActor):
    """Publishes events to the Hub (if a web server is attached) and to extra sinks."""

    #: A daemon thread: an embedding host that returns (or asks to stop) must exit even
    #: if it never called ``stop_system`` (which also runs at interpreter exit).
    use_daemon_thread = True

    def __init__(self, hub: Hub | None = None, sinks: Sequence[Callable[[str], None]] = ()) -> None:
        """``sinks`` also get every encoded event, on this actor's thread, from the first
        (given here, so none can miss an event published before it was added)."""
        super().__init__()
        self._hub = hub
        self._sinks = tuple(sinks)

    def publish(self, event: dict[str, Any]) -> None:
        data = encode(event)
        if self._hub is not None:
            self._hub.deliver_threadsafe(data)
        for sink in self._sinks:
            sink(data)
