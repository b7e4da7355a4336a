"""The Quart app factory: ``create_app(system, settings)``.

Routes live in one module each (pages, syndication, api, control, admin, ws, metrics);
this module wires them, answers every error as JSON ``{"error": ...}`` with its status
(never a stack trace; a browser asking for a missing page gets the HTML 404 page), and sets the security headers and the CORS rule for embedding sites.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from quart import (
    Quart,
    Response,
    current_app,
    has_request_context,
    has_websocket_context,
    jsonify,
    request,
    websocket,
)
from werkzeug.exceptions import HTTPException

from actors.broadcaster import Hub
from settings import Settings
from storage.errors import StorageError
from web import admin, api, control, metrics, pages, syndication, ws
from web.context import ENGINE_TIMEOUT, Context, EngineTimeout
from web.edge import EdgeMiddleware
from web.forwarded import TrustedProxies
from web.limits import CoalescedLog, EdgeLimits, address_key, retry_after
from web.tls import HSTS

__all__ = ["create_app"]

log = logging.getLogger("roundtable.web")

#: Request bodies larger than this are refused (only /control takes a body).
MAX_BODY_BYTES = 64 * 1024
STATIC = Path(__file__).parent / "static"
#: Never shared with embedding sites: the admin page and its API.
_ADMIN_PATHS = ("/control", "/api/admin")
#: What a client is told to wait when the database is unreachable.
DATABASE_RETRY_AFTER = "5"


def create_app(
    system: Any, settings: Settings, hub: Hub | None = None, *,
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
    EdgeLimits(settings, monotonic).install(app.extensions)
    app.extensions[_DATABASE_LOG] = CoalescedLog(log, 10.0, monotonic)
    control.install(app, monotonic)
    for blueprint in (pages.bp, syndication.bp, api.bp, control.bp, admin.bp, ws.bp, metrics.bp):
        app.register_blueprint(blueprint)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(EngineTimeout, _engine_timeout)
    app.register_error_handler(StorageError, _database_unavailable)
    app.register_error_handler(Exception, _unexpected_error)
    app.before_request(_api_rate_limit)
    app.after_request(_headers)
    app.after_request(_commands_change_the_view)
    app.asgi_app = EdgeMiddleware(app.asgi_app, TrustedProxies(settings.trusted_proxies))  # type: ignore[method-assign, assignment, arg-type]
    return app


async def _commands_change_the_view(response: Response) -> Response:
    """A command (any POST) may change what the polling endpoints say; its own ``state``
    event would tell them too, but it travels through the Broadcaster's thread and could
    arrive after the admin's next GET."""
    if request.method == "POST":
        context = Context.current()
        context.countdown_view.invalidate()
        context.status_view.invalidate()
    return response


_DATABASE_LOG = "roundtable.database_log"


def current_app_extension(name: str) -> Any:
    return current_app.extensions[name]


def _asset_version() -> str:
    """A short hash of the widget, so browsers fetch a new one after an upgrade."""
    digest = hashlib.sha256()
    for path in sorted(STATIC.rglob("*")):
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


async def _http_error(error: HTTPException) -> tuple[Response | str, int]:
    status = error.code or 500
    if status == 404 and _wants_html():
        return await pages.not_found_page()
    response = jsonify({"error": error.description or error.name})
    return response, status


def _wants_html() -> bool:
    """A browser asking for a page (not the API, not a client that wants JSON)."""
    if request.path.startswith("/api/"):
        return False
    return request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"


async def _engine_timeout(error: EngineTimeout) -> tuple[Response, int]:
    log.warning("503 on %s %s: %s", request.method, request.path, error)
    return jsonify({"error": "the engine is busy; try again"}), 503


async def _database_unavailable(error: StorageError) -> tuple[Response, int]:
    """A database outage is the server's trouble for a while, not a bug: 503, try later."""
    database_log: CoalescedLog = current_app_extension(_DATABASE_LOG)
    database_log.note("database", f"503 on {_where()}: {error}")
    response = jsonify({"error": "the database is unavailable; try again shortly"})
    response.headers["Retry-After"] = DATABASE_RETRY_AFTER
    return response, 503


async def _unexpected_error(error: Exception) -> tuple[Response, int]:
    log.exception("unexpected error on %s", _where(), exc_info=error)
    return jsonify({"error": "internal server error"}), 500


def _where() -> str:
    """``METHOD /path`` of the request (or ``WS /path``) being handled, for a log line."""
    if has_request_context():
        return f"{request.method} {request.path}"
    if has_websocket_context():
        return f"WS {websocket.path}"
    return "(outside a request)"


async def _api_rate_limit() -> tuple[Response, int] | None:
    """Requests to /api/* per client address per second: past it, 429 with Retry-After."""
    if not request.path.startswith("/api/"):
        return None
    limits = EdgeLimits.current()
    address = request.remote_addr or "unknown"
    wait = limits.api.take(address_key(address))
    if wait is None:
        return None
    limits.refusals.note(f"api {address}", f"429: /api requests over the rate from {address}")
    response = jsonify({"error": "too many requests from your address; slow down"})
    response.headers["Retry-After"] = retry_after(wait)
    return response, 429


async def _headers(response: Response) -> Response:
    context = Context.current()
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    if context.settings.tls:  # only over https: browsers ignore HSTS on plain http anyway
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    if response.mimetype == "text/html":
        policy = context.content_security_policy(request.host, request.scheme)
        response.headers.setdefault("Content-Security-Policy", policy)
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    origin = request.headers.get("Origin")
    if origin and context.embedding_allowed(origin) and not request.path.startswith(_ADMIN_PATHS):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
    return response
