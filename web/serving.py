"""How Hypercorn serves the app: its limits, the listening sockets, file descriptors.

- ``raise_open_file_limit()`` lifts the soft ``RLIMIT_NOFILE`` to the hard one at
  start-up; ``connection_budget()`` then caps the WebSockets at that limit less
  ``FD_RESERVE``, so visitors can never take the descriptors that the database, the
  providers and ``/healthz`` need (one address opening sockets until the process ran out
  left every other request hanging and the log flooded with "Too many open files").
- ``hypercorn_config()`` sets the limits Hypercorn's defaults leave loose, and its
  listening sockets carry ``TCP_USER_TIMEOUT`` = ``WS_STALL_SECONDS``: the kernel aborts a
  connection whose sent data has waited that long unacknowledged (a peer that stopped
  reading), which frees its descriptor even while a write to it is blocked. They accept
  at most ``MAX_TCP_CONNECTIONS_PER_IP`` open connections per address (``web.accept``).
- ``HEADER_TIMEOUT_SECONDS`` is Hypercorn's ``keep_alive_timeout``, which (measured) is
  the deadline for a whole request head, counted from the accept or the previous response,
  however slowly its bytes trickle in (receiving does not restart it; a complete head
  stops it, a WebSocket never restarts it); and its ``ssl_handshake_timeout``, 60 s by
  default, during which a client that sends nothing held its descriptor. A head not done
  in time is closed without a 408: the same timer ends an idle keep-alive connection, and
  a 408 there would race the browser's next request (nginx closes silently too).
- ``loop_exception_handler`` keeps three expected loop errors out of the log's tracebacks.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
import socket
import time
from typing import Final

from hypercorn.config import Config, Sockets

from settings import Settings
from web.accept import CappedListener, ConnectionCap, connection_cap
from web.edge import MAX_HEADER_BYTES
from web.forwarded import TrustedProxies
from web.limits import CoalescedLog

__all__ = ["FD_RESERVE", "connection_budget", "fit_to_open_file_limit", "hypercorn_config",
           "loop_exception_handler", "raise_open_file_limit"]

log = logging.getLogger("roundtable.serving")

#: Descriptors kept for everything but WebSockets: database files and connections,
#: provider connections, the listening sockets, logs, and plain HTTP requests.
FD_RESERVE: Final = 100
#: The most descriptors asked for when the hard limit is unlimited.
FD_CEILING: Final = 1 << 20
#: Hypercorn limits that its defaults leave loose (see docs/architecture.md).
WEBSOCKET_MAX_MESSAGE_BYTES: Final = 64 * 1024
_OUT_OF_RESOURCES: Final = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


def raise_open_file_limit() -> int:
    """Lift the soft open-file limit to the hard one (as far as ``FD_CEILING``); the
    soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = FD_CEILING if hard == resource.RLIM_INFINITY else min(hard, FD_CEILING)
    if soft == resource.RLIM_INFINITY or soft >= target:
        return target if soft == resource.RLIM_INFINITY else soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as exc:  # e.g. a container's seccomp rules
        log.warning("could not raise the open-file limit from %d to %d: %s", soft, target, exc)
        return soft
    return target


def connection_budget(max_connections: int, fd_limit: int) -> int:
    """How many WebSockets may be open at once: ``MAX_CONNECTIONS``, but never more than
    the descriptors left after ``FD_RESERVE`` (at least one)."""
    return max(1, min(max_connections, fd_limit - FD_RESERVE))


def fit_to_open_file_limit(settings: Settings) -> Settings:
    """Raise the open-file limit; ``settings`` with ``max_connections`` within it. Logs
    the limits in force in one line."""
    fd_limit = raise_open_file_limit()
    fitted = settings.replace(max_connections=connection_budget(settings.max_connections, fd_limit))
    log.info("open-file limit %d: up to %d WebSockets, %d per address (%d TCP connections)",
             fd_limit, fitted.max_connections, fitted.max_connections_per_ip,
             fitted.tcp_connections_per_ip)
    return fitted


class _Config(Config):
    """Hypercorn's config whose listening sockets time out unacknowledged data and cap
    open connections per address."""

    user_timeout_ms: int = 0
    connection_cap: ConnectionCap | None = None

    def create_sockets(self) -> Sockets:
        sockets = super().create_sockets()
        return Sockets([self._prepare(sock) for sock in sockets.secure_sockets],
                       [self._prepare(sock) for sock in sockets.insecure_sockets],
                       sockets.quic_sockets)

    def _prepare(self, sock: socket.socket) -> socket.socket:
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return sock  # a Unix socket: no addresses to count
        if self.user_timeout_ms and hasattr(socket, "TCP_USER_TIMEOUT"):  # Linux
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, self.user_timeout_ms)
        return CappedListener.wrap(sock, self.connection_cap) if self.connection_cap else sock


def hypercorn_config(settings: Settings) -> Config:
    """The serving config for ``settings`` (accepted sockets inherit the timeout)."""
    config = _Config()
    config.bind = [f"{settings.host}:{settings.port}"]
    config.websocket_ping_interval = settings.ws_ping_seconds  # over HTTP/2; the Hub pings the rest
    config.websocket_max_message_size = WEBSOCKET_MAX_MESSAGE_BYTES
    config.h11_max_incomplete_size = MAX_HEADER_BYTES  # a request head past it is a 400
    config.graceful_timeout = settings.shutdown_grace_seconds
    config.keep_alive_timeout = settings.header_timeout_seconds
    config.ssl_handshake_timeout = settings.header_timeout_seconds
    config.user_timeout_ms = max(1, round(settings.ws_stall_seconds * 1000))
    config.connection_cap = connection_cap(settings.tcp_connections_per_ip,
                                           TrustedProxies(settings.trusted_proxies))
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")  # our format, printed once
    return config


_descriptors_log = CoalescedLog(log, 60.0, time.monotonic)


def loop_exception_handler(loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
    """Loop exception handler for the expected errors; the rest go to the default.

    Hypercorn's WebSocket ping loop keeps a closed connection's task asleep until its next
    ping; at shutdown that task is cancelled and asyncio would log the cancellation as an
    unhandled traceback. A connection the kernel aborted (TCP_USER_TIMEOUT: the peer
    stopped reading) makes Hypercorn's close fail with ETIMEDOUT, which it does not
    expect: one debug line. Out of descriptors, asyncio pauses accepting for a second and
    reports it each time with a traceback: one line a minute says so instead.
    """
    exception = context.get("exception")
    if isinstance(exception, asyncio.CancelledError):
        log.debug("connection task cancelled at shutdown")
        return
    if _only_os_errors(exception) and "client_connected_cb" in str(context.get("message", "")):
        log.debug("connection aborted: %s", exception)
        return
    if isinstance(exception, OSError) and exception.errno in _OUT_OF_RESOURCES:
        _descriptors_log.note("accept", f"cannot accept connections: {exception.strerror}; "
                                        "new connections wait (raise ulimit -n or lower MAX_CONNECTIONS)")
        return
    loop.default_exception_handler(context)


def _only_os_errors(exception: object) -> bool:
    """Whether ``exception`` is an OSError, or a group of nothing else."""
    if isinstance(exception, BaseExceptionGroup):
        return all(_only_os_errors(inner) for inner in exception.exceptions)
    return isinstance(exception, OSError)
