"""POST /control: force, skip, pause and resume, behind the admin bearer token."""

from __future__ import annotations

import hmac
import logging

from quart import Blueprint, Response, jsonify, request

from actors.machine import CommandRejected
from web.context import Context

bp = Blueprint("control", __name__)
log = logging.getLogger("roundtable.control")

NO_TOKEN = (
    "admin actions are disabled: set ADMIN_TOKEN in the environment (or .env) and restart, "
    "then send it as 'Authorization: Bearer <token>'"
)


def _error(message: str, status: int) -> tuple[Response, int]:
    response = jsonify({"error": message})
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="roundtable-control"'
    return response, status


def _authorize(expected: str | None) -> tuple[Response, int] | None:
    """None when the request carries the admin token; else the error to answer."""
    if not expected:
        return _error(NO_TOKEN, 403)
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _error("missing bearer token: send 'Authorization: Bearer <ADMIN_TOKEN>'", 401)
    if not hmac.compare_digest(token.strip().encode(), expected.encode()):
        log.warning("refused /control: wrong token from %s", request.remote_addr)
        return _error("wrong admin token", 403)
    return None


@bp.post("/control")
async def control() -> tuple[Response, int]:
    context = Context.current()
    refused = _authorize(context.settings.admin_token)
    if refused is not None:
        return refused
    body = await request.get_json(force=True, silent=True)
    action = body.get("action") if isinstance(body, dict) else None
    if not isinstance(action, str):
        return _error('body must be JSON like {"action": "force"} (force, skip, pause or resume)', 400)
    try:
        view = await context.call(context.system.command, action)
    except ValueError as exc:
        return _error(str(exc), 400)
    except CommandRejected as exc:
        return _error(str(exc), 409)
    except RuntimeError as exc:
        return _error(str(exc), 503)
    return jsonify({"ok": True, "action": action, **view}), 200
