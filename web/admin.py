"""The admin API behind the bearer token: the audit trail and the last provider errors.

- ``GET /api/admin/audit?limit=`` (1-200, default 50): ``{"entries": [...]}``, newest
  first, each ``{id, at, action, result, status, detail, client, token_fingerprint}``.
- ``GET /api/admin/errors?limit=`` (1-100, default 20): ``{"errors": [...]}``, the newest
  failed provider calls, each ``{provider, model, error_class, status_code, latency_ms, at}``.

401 without a token, 403 with a wrong one (or when no ``ADMIN_TOKEN`` is set), 429 after
too many wrong ones (the throttle shared with ``POST /control``). Refused reads are
recorded in the audit trail; accepted reads are not (the dashboard polls them).
Both read the database, so they answer on a standby too.
"""

from __future__ import annotations

from typing import Any, Final

from quart import Blueprint, Response, abort, jsonify, request

from actors import wire
from actors.errors import RoundtableError
from storage import audit as audit_table
from storage import queries
from web import audit, errors
from web.context import Context
from web.control import authorize

__all__ = ["bp"]

bp = Blueprint("admin", __name__)

DEFAULT_ENTRIES: Final = 50
DEFAULT_ERRORS: Final = 20
MAX_ERRORS: Final = 100


@bp.get("/api/admin/audit")
async def audit_trail() -> Response | tuple[Response, int]:
    refused = await _refused("read audit")
    if refused is not None:
        return refused
    context = Context.current()
    limit = _limit(DEFAULT_ENTRIES, audit_table.MAX_RECENT)
    entries = await context.call(audit_table.recent, context.system.db, limit)
    return jsonify({"entries": [wire.audit_entry(e) for e in entries]})


@bp.get("/api/admin/errors")
async def provider_errors() -> Response | tuple[Response, int]:
    refused = await _refused("read errors")
    if refused is not None:
        return refused
    context = Context.current()
    limit = _limit(DEFAULT_ERRORS, MAX_ERRORS)
    errors = await context.call(queries.recent_failures, context.system.db, limit)
    return jsonify({"errors": [wire.failure(f) for f in errors]})


async def _refused(action: str) -> tuple[Response, int] | None:
    """None for the admin token; else the refusal, recorded in the audit trail."""
    try:
        authorize(Context.current().settings.admin_token)
    except RoundtableError as error:
        refused = errors.answer(error)
        await audit.record(action, refused)
        return refused
    return None


def _limit(default: int, maximum: int) -> int:
    raw: Any = request.args.get("limit", "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        abort(400, f"limit must be a whole number between 1 and {maximum}")
    if not 1 <= value <= maximum:
        abort(400, f"limit must be a whole number between 1 and {maximum}")
    return value
