"""Open TCP connections per client address, capped where the kernel hands them over.

The per-address limits in ``web.limits`` count WebSockets; a client that opens plain
connections and sends nothing (or a request head a byte at a time, or never finishes its
TLS handshake) was never counted, and one address could hold thousands of descriptors
(MAX_CONNECTIONS is sized from the open-file limit, ``web.serving``). ``CappedListener``
is the listening socket asyncio accepts from: a connection past ``MAX_TCP_CONNECTIONS_PER_IP``
from its address (an IPv6 /64 is one address) is closed in ``accept()`` itself, before
asyncio builds a transport, a TLS handshake or a Hypercorn task for it: the client sees
the connection closed, never an HTTP error. Every other connection's socket gives its
count back when it closes.

Peers in ``TRUSTED_PROXIES`` are not counted: behind a proxy every visitor arrives from
the proxy's address, and capping it would cap the whole site (the proxy caps its own
clients: ``deploy/nginx.conf``).

Everything runs on the event loop (asyncio calls ``accept`` and closes transports there);
the lock covers a socket that is garbage-collected unclosed, on whatever thread.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import weakref
from collections.abc import Callable
from typing import Final

from web.forwarded import TrustedProxies, parse_address
from web.limits import CoalescedLog, address_key

__all__ = ["LOG_EVERY", "CappedListener", "ConnectionCap", "connection_cap"]

log = logging.getLogger("roundtable.edge")
#: A refused address is logged at most once per this many seconds.
LOG_EVERY: Final = 60.0
#: Refusals handled in one ``accept()`` call before the loop gets a turn again.
_REFUSALS_PER_ACCEPT: Final = 64


def _uncounted() -> None:
    """What a trusted proxy's connection gives back when it closes: nothing."""


class ConnectionCap:
    """Open connections per address key, at most ``per_address`` each."""

    def __init__(self, per_address: int, proxies: TrustedProxies, refusals: CoalescedLog) -> None:
        self.per_address = per_address
        self._proxies = proxies
        self._refusals = refusals
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()

    def admit(self, peer: str) -> Callable[[], None] | None:
        """Count a new connection from ``peer``: the function to call once when it closes,
        or None when ``peer`` already has ``per_address`` open (nothing is counted)."""
        if self._proxies.trusts(parse_address(peer)):
            return _uncounted
        key = address_key(peer)
        with self._lock:
            count = self._open.get(key, 0)
            if count < self.per_address:
                self._open[key] = count + 1
                return lambda: self._release(key)
        self._refusals.note(key, f"refused a connection from {key}: {count} open "
                                 f"(MAX_TCP_CONNECTIONS_PER_IP)")
        return None

    def open_from(self, peer: str) -> int:
        """How many connections ``peer``'s address key has open (counted ones)."""
        return self._open.get(address_key(peer), 0)

    def _release(self, key: str) -> None:
        with self._lock:
            left = self._open.get(key, 0) - 1
            if left > 0:
                self._open[key] = left
            else:
                self._open.pop(key, None)


class _CountedSocket(socket.socket):
    """An accepted socket that gives its count back when closed (or collected)."""

    release: Callable[[], object]

    def close(self) -> None:
        self.release()  # a finalize runs its function once, whichever comes first
        super().close()


class CappedListener(socket.socket):
    """A listening socket whose ``accept()`` closes connections past ``cap`` at once."""

    cap: ConnectionCap

    @classmethod
    def wrap(cls, listener: socket.socket, cap: ConnectionCap) -> CappedListener:
        """``listener`` (bound, listening, options set) as a CappedListener; the original
        object is detached and must not be used again."""
        capped = cls(listener.family, listener.type, listener.proto, fileno=listener.detach())
        capped.cap = cap
        return capped

    def accept(self) -> tuple[socket.socket, object]:  # type: ignore[override]
        """The next admitted connection. Refused ones are closed here; after a run of them
        ``ConnectionAbortedError`` hands the loop back (asyncio accepts again next turn),
        and ``BlockingIOError`` comes through as usual when none is waiting."""
        for _ in range(_REFUSALS_PER_ACCEPT):
            fd, address = self._accept()  # type: ignore[attr-defined]
            release = self.cap.admit(address[0])
            if release is None:
                socket.close(fd)
                continue
            connection = _CountedSocket(self.family, self.type, self.proto, fileno=fd)
            connection.release = weakref.finalize(connection, release)
            connection.release.atexit = False
            return connection, address
        raise ConnectionAbortedError("refused connections past MAX_TCP_CONNECTIONS_PER_IP")


def connection_cap(per_address: int, proxies: TrustedProxies) -> ConnectionCap:
    """The cap for one server, logging refusals once a minute per address."""
    return ConnectionCap(per_address, proxies, CoalescedLog(log, LOG_EVERY, time.monotonic))
