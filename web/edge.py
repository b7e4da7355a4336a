"""The ASGI layer in front of the Quart app: refuse broken requests, resolve proxies.

Quart builds its request context before any handler or error handler runs; a ``Host``
that werkzeug cannot bind (a 10,000-character one, a label over 63 characters) fails
right there, and Hypercorn answers a bare 500 after logging three tracebacks. So the
checks that must come first live here, in plain ASGI:

- headers over ``MAX_HEADER_BYTES`` in total: 431 ``headers_too_large``, JSON;
- a ``Host`` (or a trusted ``X-Forwarded-Host``) that is not a host name: 400
  ``invalid_host``, JSON;
- ``X-Forwarded-*`` from a trusted proxy rewrite the scope's client, scheme and Host
  (``web.forwarded``); from anyone else they are removed, so nothing downstream can be
  fooled by them.

A refused WebSocket handshake gets the same status and body through the ASGI
websocket denial response when the server offers it (Hypercorn does), else 403.

Every WebSocket scope also gets ``scope[CONNECTION_GONE]``, an ``asyncio.Future`` done
when the server's call into the app ends for any reason. Hypercorn cancels that call
when the connection dies under it (a socket aborted by the kernel, ``web.serving``), and
Quart then leaves the route's task running, waiting for a message that never comes; the
route watches this event to end with its connection. ``scope[CONNECTION_SEND]`` is the
server's own ASGI ``send``, for ``web.hypercorn_patches.direct_writer``.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

from actors.errors import HeadersTooLarge, InvalidHost, RoundtableError, body_of
from web.forwarded import TrustedProxies

__all__ = ["CONNECTION_GONE", "CONNECTION_SEND", "MAX_HEADER_BYTES", "EdgeMiddleware", "valid_host"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: All request headers together; browsers send 1-4 KiB (cookies included).
MAX_HEADER_BYTES: Final = 16 * 1024
MAX_HOST_CHARS: Final = 300
_HOST: Final = re.compile(r"(?:[A-Za-z0-9._~-]*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{0,5})?")
_FORWARDED: Final = (b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host")
_WS_SCHEMES: Final = {"http": "ws", "https": "wss"}
CONNECTION_GONE: Final = "roundtable.connection_gone"
CONNECTION_SEND: Final = "roundtable.connection_send"


def valid_host(host: str) -> bool:
    """Whether ``host`` (``name[:port]``) is one werkzeug can bind and a CSP can name."""
    if len(host) > MAX_HOST_CHARS or not _HOST.fullmatch(host):
        return False
    if host.startswith("["):
        return True
    try:
        host.partition(":")[0].lower().encode("idna")  # what werkzeug's Map.bind does
    except UnicodeError:
        return False
    return True


class EdgeMiddleware:
    """Wraps the app's ASGI callable (``app.asgi_app``)."""

    def __init__(self, app: ASGIApp, trusted: TrustedProxies) -> None:
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers", ()))
        if sum(len(name) + len(value) + 4 for name, value in headers) > MAX_HEADER_BYTES:
            await _refuse(scope, receive, send, HeadersTooLarge("request headers too large"))
            return
        headers = self._forward(scope, headers)
        host = next((value for name, value in headers if name == b"host"), b"")
        if not valid_host(host.decode("latin-1")):
            await _refuse(scope, receive, send, InvalidHost("invalid Host header"))
            return
        scope["headers"] = headers
        if scope["type"] == "http":
            await self.app(scope, receive, send)
            return
        gone = scope[CONNECTION_GONE] = asyncio.get_running_loop().create_future()
        scope[CONNECTION_SEND] = send
        try:
            await self.app(scope, receive, send)
        finally:
            if not gone.done():
                gone.set_result(None)

    def _forward(self, scope: Scope, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        """Apply a trusted proxy's X-Forwarded-* to ``scope``; the headers without them."""
        def values(name: bytes) -> list[str]:
            return [value.decode("latin-1") for key, value in headers if key == name]

        kept = [(name, value) for name, value in headers if name not in _FORWARDED]
        client = scope.get("client")
        if not self.trusted or not client:
            return kept
        proto, host = values(b"x-forwarded-proto"), values(b"x-forwarded-host")
        forwarded = self.trusted.resolve(client[0], values(b"x-forwarded-for"),
                                         proto[0] if proto else None, host[0] if host else None)
        scope["client"] = (forwarded.client, client[1] if forwarded.client == client[0] else 0)
        if forwarded.scheme is not None:
            scope["scheme"] = (_WS_SCHEMES[forwarded.scheme] if scope["type"] == "websocket"
                               else forwarded.scheme)
        if forwarded.host is not None:
            kept = [(n, v) for n, v in kept if n != b"host"] + [(b"host", forwarded.host.encode("latin-1"))]
        return kept


async def _refuse(scope: Scope, receive: Receive, send: Send, error: RoundtableError) -> None:
    """Answer ``error`` as ``web.errors`` would (Quart's handlers cannot run this early)."""
    status, body = error.status, json.dumps(body_of(error)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"x-content-type-options", b"nosniff")]
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    await receive()  # websocket.connect
    if "websocket.http.response" in scope.get("extensions", {}):
        await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008})
