"""The Quart app factory: ``create_app(system, settings)``.

Routes live in one module each (pages, syndication, api, control, admin, ws, metrics);
this module wires them with the error answers (``web.errors``: JSON ``{"error", "code"}``
with its status, never a stack trace), and sets the security headers and the CORS rule
for embedding sites.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

from quart import Quart, Response, request

from actors.broadcaster import Hub
from actors.engine import Engine
from actors.errors import RateLimited
from settings import Settings
from web import admin, api, control, errors, metrics, pages, syndication, ws
from web.context import ENGINE_TIMEOUT, Context
from web.edge import EdgeMiddleware
from web.fastpath import FastPath
from web.forwarded import TrustedProxies
from web.headers import cors_headers, security_headers
from web.limits import EdgeLimits, address_key

__all__ = ["create_app"]

log = logging.getLogger("roundtable.web")

#: Request bodies larger than this are refused (only /control takes a body).
MAX_BODY_BYTES = 64 * 1024
STATIC = Path(__file__).parent / "static"


def create_app(
    system: Engine, settings: Settings, hub: Hub | None = None, *,
    engine_timeout: float = ENGINE_TIMEOUT, monotonic: Callable[[], float] = time.monotonic,
) -> Quart:
    """The app serving ``system``. ``hub`` fans events out to this server's WebSockets.

    ``engine_timeout`` bounds every wait on the engine (then 503); ``monotonic`` is the
    clock of the per-address limits and the /control failed-token throttle. Both are for
    tests to shorten or drive.
    """
    app = Quart(__name__, static_folder="static", template_folder="templates")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.config["SEND_FILE_MAX_AGE_DEFAULT"] = 300
    app.extensions["roundtable"] = Context(system, settings, hub, _asset_version(), engine_timeout)
    limits = EdgeLimits(settings, monotonic)
    limits.install(app.extensions)
    errors.install(app, monotonic)
    control.install(app, monotonic)
    for blueprint in (pages.bp, syndication.bp, api.bp, control.bp, admin.bp, ws.bp, metrics.bp):
        app.register_blueprint(blueprint)
    app.before_request(_api_rate_limit)
    app.after_request(_headers)
    app.after_request(_commands_change_the_view)
    fast = FastPath(app.asgi_app, app.extensions["roundtable"], limits)  # type: ignore[arg-type]
    app.asgi_app = EdgeMiddleware(fast, TrustedProxies(settings.trusted_proxies))  # type: ignore[method-assign, assignment]
    return app


async def _commands_change_the_view(response: Response) -> Response:
    """A command (any POST) may change what the polling endpoints say; its own ``state``
    event would tell them too, but it travels through the Broadcaster's thread and could
    arrive after the admin's next GET."""
    if request.method == "POST":
        Context.current().views_changed()
    return response


def _asset_version() -> str:
    """A short hash of the widget, so browsers fetch a new one after an upgrade."""
    digest = hashlib.sha256()
    for path in sorted(STATIC.rglob("*")):
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


async def _api_rate_limit() -> None:
    """Requests to /api/* per client address per second: past it, 429 with Retry-After."""
    if not request.path.startswith("/api/"):
        return
    limits = EdgeLimits.current()
    address = request.remote_addr or "unknown"
    wait = limits.api.take(address_key(address))
    if wait is None:
        return
    limits.refusals.note(f"api {address}", f"429: /api requests over the rate from {address}")
    raise RateLimited("too many requests from your address; slow down", retry_after=max(1, math.ceil(wait)))


async def _headers(response: Response) -> Response:
    context = Context.current()
    html = response.mimetype == "text/html"
    for name, value in security_headers(context, html=html, host=request.host, scheme=request.scheme):
        response.headers.setdefault(name, value)
    for name, value in cors_headers(context, request.headers.get("Origin"), request.path):
        response.headers[name] = value
    return response
