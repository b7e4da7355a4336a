"""Answers sent from memory before Quart: the read endpoints' snapshots, in plain ASGI.

Quart builds a request object, a context, runs the hooks and a ``Response`` for every
request: on this machine about as much CPU as everything else a small answer costs. The
hottest read paths already keep their answers as bytes (``web.snapshot``), so when one is
fresh this layer sends it at once, with the headers the app would set (``web.headers``)
and after the same per-address rate limit:

- ``GET /api/countdown`` and ``GET /api/status`` (stamped with the clock per answer);
- ``GET /`` (the page rendered for this scheme and host);
- ``GET /api/conversations`` without a query (the history page's first request);
- ``GET /api/conversations/<id>`` of a finished round.

Everything else goes to the app unchanged, and so do these when their snapshot is missing
or stale (the app fetches it and keeps it for the next one), a conditional request
(``If-None-Match``: the app answers the 304), ``HEAD``, a request with a body, or one the
rate limit refuses (the app answers the 429 and logs it). Sits inside ``web.edge``, which
has already refused bad Host headers and resolved trusted proxies. On the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from werkzeug.sansio.utils import get_host

from actors import wire
from web.api import DEFAULT_PAGE, FINISHED_CACHE_CONTROL, MAX_ID
from web.context import Context
from web.edge import ASGIApp, Receive, Scope, Send
from web.headers import cors_headers, security_headers
from web.limits import EdgeLimits, address_key
from web.snapshot import Body

__all__ = ["FastPath"]

_JSON: Final = (b"content-type", b"application/json")
_HTML: Final = (b"content-type", b"text/html; charset=utf-8")
_ROUND: Final = "/api/conversations/"
_NO_CACHE: Final = "no-cache"
#: Longer is past any id (and ``int()`` refuses over 4,300 digits): the app answers 404.
_MAX_ID_DIGITS: Final = len(str(MAX_ID))
Answer = tuple[tuple[bytes, bytes], bytes, list[tuple[str, str]]]


class FastPath:
    """Wraps the app's ASGI callable; ``context`` and ``limits`` are the app's own."""

    def __init__(self, app: ASGIApp, context: Context, limits: EdgeLimits) -> None:
        self.app = app
        self.context = context
        self.limits = limits
        self._routes: dict[str, Callable[[Scope, dict[bytes, bytes]], Answer | None]] = {
            "/api/countdown": self._countdown, "/api/status": self._status, "/": self._page,
            "/api/conversations": self._listing,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = self._answer(scope) if scope["type"] == "http" and scope["method"] == "GET" else None
        if answer is None:
            await self.app(scope, receive, send)
            return
        content_type, body, extra = answer
        headers = [content_type, (b"content-length", b"%d" % len(body))]
        headers += [(name.encode("latin-1"), value.encode("latin-1")) for name, value in extra]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _answer(self, scope: Scope) -> Answer | None:
        """The answer from memory, or None when the app must answer."""
        path: str = scope["path"]
        route = self._routes.get(path)
        if route is None and not path.startswith(_ROUND):
            return None
        headers = _first_values(scope["headers"])
        if b"content-length" in headers or b"transfer-encoding" in headers:
            return None
        answer = route(scope, headers) if route is not None else self._round(path, headers)
        if answer is None:
            return None
        if path.startswith("/api/") and not self._within_rate(scope):
            return None
        origin = headers.get(b"origin")
        answer[2].extend(cors_headers(self.context, origin.decode("latin-1") if origin else None, path))
        return answer

    def _within_rate(self, scope: Scope) -> bool:
        client = scope.get("client") or ("<local>",)
        return self.limits.api.take(address_key(client[0] or "unknown")) is None

    def _now_ms(self) -> int:
        now = wire.ms(self.context.system.clock.now())
        assert now is not None
        return now

    def _json(self, body: bytes, *extra: tuple[str, str]) -> Answer:
        return _JSON, body, [*security_headers(self.context, html=False, host="", scheme=""), *extra]

    def _countdown(self, scope: Scope, headers: dict[bytes, bytes]) -> Answer | None:
        if scope["query_string"]:
            return None
        view = self.context.countdown_view.fresh()
        return self._json(view.body(self._now_ms())) if view is not None else None

    def _status(self, scope: Scope, headers: dict[bytes, bytes]) -> Answer | None:
        if scope["query_string"]:
            return None
        view = self.context.status_view.fresh()
        return self._json(view.body(self._now_ms())) if view is not None else None

    def _page(self, scope: Scope, headers: dict[bytes, bytes]) -> Answer | None:
        scheme: str = scope["scheme"]
        host_header = headers.get(b"host")
        if host_header is None or scope["query_string"]:  # HTTP/1.0 without Host: Quart's own default
            return None
        host = get_host(scheme, host_header.decode("latin-1"), scope.get("server"))
        page = self.context.pages.get((scheme, host))
        if page is None:
            return None
        return _HTML, page.encode(), security_headers(self.context, html=True, host=host, scheme=scheme)

    def _listing(self, scope: Scope, headers: dict[bytes, bytes]) -> Answer | None:
        if scope["query_string"] or b"if-none-match" in headers:
            return None
        body = self.context.listings.fresh((DEFAULT_PAGE, None))
        return self._cacheable(body, _NO_CACHE) if body is not None else None

    def _round(self, path: str, headers: dict[bytes, bytes]) -> Answer | None:
        digits = path[len(_ROUND):]
        if not (digits.isascii() and digits.isdigit() and len(digits) <= _MAX_ID_DIGITS) or b"if-none-match" in headers:
            return None
        conversation_id = int(digits)
        body = self.context.finished_rounds.get(conversation_id) if conversation_id <= MAX_ID else None
        return self._cacheable(body, FINISHED_CACHE_CONTROL) if body is not None else None

    def _cacheable(self, body: Body, cache_control: str) -> Answer:
        return self._json(body.data, ("ETag", f'"{body.etag}"'), ("Cache-Control", cache_control))


def _first_values(headers: Any) -> dict[bytes, bytes]:
    """Each request header's first value, by its lower-case name (ASGI gives them so)."""
    first: dict[bytes, bytes] = {}
    for name, value in headers:
        first.setdefault(name, value)
    return first
