"""Every error answer of the app, in one place: ``install(app)`` registers the handlers.

- An ``actors.errors.RoundtableError`` (the project's tree, ``StorageError`` included) is
  an answer: JSON ``{"error": message, "code": code}`` with its status and headers
  (``Retry-After``, ``WWW-Authenticate``), and one log line without a traceback. Refusals
  that anyone can repeat at request speed are logged coalesced: wrong tokens by the
  /control throttle, rate limits by ``web.limits``, and here database outages and
  commands sent while no ``ADMIN_TOKEN`` is set, at most once per ``COALESCE_SECONDS``
  per kind.
- A werkzeug ``HTTPException`` (``abort(404)``, 405, 413...) is the same JSON with a code
  from its status; a browser asking for a missing page gets the HTML 404 page.
- Anything else is a bug: logged with its traceback, answered 500 ``internal_error`` with
  a message that says nothing of it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Final

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

from actors.errors import (
    AdminDisabled,
    MissingToken,
    RoundtableError,
    TooManyRequests,
    WrongToken,
    body_of,
)
from storage.errors import StorageError
from web import pages
from web.limits import CoalescedLog

__all__ = ["answer", "install", "json_error"]

log = logging.getLogger("roundtable.web")

INTERNAL: Final = "internal server error"
COALESCE_SECONDS: Final = 10.0
#: Counted and logged coalesced where they are refused (``web.control``, ``web.limits``).
_LOGGED_WHERE_COUNTED: Final = (MissingToken, WrongToken, TooManyRequests)
#: Logged coalesced here, by code.
_COALESCED: Final = (StorageError, AdminDisabled)
_COALESCED_LOG: Final = "roundtable.coalesced_errors"
#: Codes of the HTTP errors werkzeug raises, by status (others: from its name).
_HTTP_CODES: Final = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}


def install(app: Quart, monotonic: Callable[[], float] = time.monotonic) -> None:
    """Register the handlers on ``app``; ``monotonic`` paces the coalesced log lines."""
    app.extensions[_COALESCED_LOG] = CoalescedLog(log, COALESCE_SECONDS, monotonic)
    app.register_error_handler(RoundtableError, _roundtable_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)


def json_error(message: str, code: str, status: int, headers: dict[str, str] | None = None) -> tuple[Response, int]:
    """The JSON error answer every client gets, with ``headers``."""
    response = jsonify({"error": message, "code": code})
    response.headers.update(headers or {})
    return response, status


def answer(error: RoundtableError) -> tuple[Response, int]:
    """``error`` as the client gets it, logged once (in a request or WebSocket context)."""
    _log(error)
    body = body_of(error)
    return json_error(body["error"], body["code"], error.status, error.headers())


def _log(error: RoundtableError) -> None:
    if isinstance(error, _COALESCED):
        coalesced: CoalescedLog = current_app.extensions[_COALESCED_LOG]
        coalesced.note(error.code, f"{error.status} {error.code} on {_where()}: {error}")
    elif not isinstance(error, _LOGGED_WHERE_COUNTED):
        level = logging.WARNING if error.status >= 500 else logging.INFO
        log.log(level, "%d %s on %s: %s", error.status, error.code, _where(), error)


async def _roundtable_error(error: RoundtableError) -> tuple[Response, int]:
    return answer(error)


async def _http_error(error: HTTPException) -> tuple[Response | str, int]:
    status = error.code or 500
    if status == 404 and _wants_html():
        return await pages.not_found_page()
    code = _HTTP_CODES.get(status) or error.name.lower().replace(" ", "_")
    return json_error(error.description or error.name, code, status)


async def _unexpected_error(error: Exception) -> tuple[Response, int]:
    log.exception("unexpected error on %s", _where(), exc_info=error)
    return json_error(INTERNAL, RoundtableError.code, 500)


def _wants_html() -> bool:
    """A browser asking for a page (not the API, not a client that wants JSON)."""
    if request.path.startswith("/api/"):
        return False
    return request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"


def _where() -> str:
    """``METHOD /path`` of the request (or ``WS /path``) being handled, for a log line."""
    if has_request_context():
        return f"{request.method} {request.path}"
    if has_websocket_context():
        return f"WS {websocket.path}"
    return "(outside a request)"
