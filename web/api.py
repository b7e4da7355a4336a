"""The JSON API: status, countdown, past rounds and transcripts, health and readiness."""

from __future__ import annotations

from typing import Any, Final

from quart import Blueprint, Response, abort, jsonify, request

from actors import wire
from storage import export, queries
from web.context import Context
from web.snapshot import Body

bp = Blueprint("api", __name__)

MAX_PAGE: Final = 100
DEFAULT_PAGE: Final = 20
#: The largest id a database can hold (a signed 64-bit integer); SQLite raises
#: OverflowError on a larger one, so such ids never reach a query.
MAX_ID: Final = 2**63 - 1
#: Rounds in these states never change again.
FINISHED: Final = frozenset({"complete", "skipped", "aborted"})
#: Finished rounds: browsers and proxies may keep them for an hour without asking.
FINISHED_CACHE_CONTROL: Final = "public, max-age=3600"


@bp.get("/api/status")
async def status() -> Response:
    context = Context.current()
    view = await context.status_view.get()
    return Response(view.body(_now_ms(context)), content_type="application/json")


@bp.get("/api/countdown")
async def countdown() -> Response:
    context = Context.current()
    view = await context.countdown_view.get()
    return Response(view.body(_now_ms(context)), content_type="application/json")


def _now_ms(context: Context) -> int:
    now = wire.ms(context.system.clock.now())
    assert now is not None
    return now


def _int_arg(name: str, default: int | None, minimum: int, maximum: int | None = None) -> int | None:
    """A whole-number query argument; anything else is a 400 naming the argument."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        abort(400, f"{name} must be a whole number, not {raw[:40]!r}")
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and {maximum}" if maximum is not None else ""
        abort(400, f"{name} must be between {minimum}{upper}" if upper else f"{name} must be at least {minimum}")
    return value


@bp.get("/api/conversations")
async def conversations() -> Response:
    context = Context.current()
    limit = _int_arg("limit", DEFAULT_PAGE, 1, MAX_PAGE) or DEFAULT_PAGE
    before = _int_arg("before", None, 1, MAX_ID)
    listing = context.listings.view((limit, before), lambda: context.call(_listing, context.system.db, limit, before))
    return _cacheable(await listing.get(), finished=False)


def _listing(db: Any, limit: int, before: int | None) -> Body:
    """The body of ``/api/conversations`` for ``limit`` and ``before`` (a worker thread)."""
    rows = [wire.summary(r) for r in queries.list_conversations(db, limit, before)]
    next_before = rows[-1]["id"] if rows and len(rows) == limit else None
    return Body.of({"conversations": rows, "next_before": next_before})


async def _conversation_or_404(conversation_id: int) -> dict[str, Any]:
    if conversation_id > MAX_ID:
        abort(404, f"conversation {conversation_id} not found")
    context = Context.current()
    found = await context.call(queries.get_conversation, context.system.db, conversation_id)
    if found is None:
        abort(404, f"conversation {conversation_id} not found")
    return wire.conversation(found)


@bp.get("/api/conversations/<int:conversation_id>")
async def conversation(conversation_id: int) -> Response:
    """One round. A finished one never changes: served from memory once read, with an
    ETag and a max-age so browsers and proxies keep it; a live one must be revalidated."""
    context = Context.current()
    body = context.finished_rounds.get(conversation_id)
    if body is not None:
        return _cacheable(body, finished=True)
    found = await _conversation_or_404(conversation_id)
    body = Body.of(found)
    finished = found.get("status") in FINISHED
    if finished:
        context.finished_rounds.put(conversation_id, body)
    return _cacheable(body, finished=finished)


def _cacheable(body: Body, *, finished: bool) -> Response:
    """A JSON response with a strong ETag; 304 when the client already has it."""
    if body.etag in request.if_none_match:
        response = Response(b"", status=304)
    else:
        response = Response(body.data, content_type="application/json")
    response.set_etag(body.etag)
    response.headers["Cache-Control"] = FINISHED_CACHE_CONTROL if finished else "no-cache"
    return response


@bp.get("/api/conversations/<int:conversation_id>/export")
async def export_conversation(conversation_id: int) -> Response:
    fmt = request.args.get("format", "json")
    if fmt not in ("json", "md"):
        abort(400, "format must be json or md")
    found = await _conversation_or_404(conversation_id)
    if fmt == "md":
        body, mimetype = export.export_markdown(found), "text/markdown; charset=utf-8"
    else:
        body, mimetype = export.export_json(found), "application/json"
    # content_type, not mimetype: given a mimetype, Quart appends "; charset=utf-8" again.
    response = Response(body, content_type=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="roundtable-{conversation_id}.{fmt}"'
    return response


@bp.get("/healthz")
async def healthz() -> Response:
    return jsonify({"ok": True})


@bp.get("/readyz")
async def readyz() -> tuple[Response, int]:
    context = Context.current()
    checks: dict[str, Any] = {}
    try:
        checks["database"] = bool(await context.call(queries.ping, context.system.db))
    except Exception:
        checks["database"] = False
    try:
        checks["engine"] = (await context.call(context.system.view)).state
    except Exception:
        checks["engine"] = None
    # The engine's provider SDKs load in the background after start-up.
    checks["providers"] = "loaded" if context.system.providers_ready() else "loading"
    ready = checks["database"] and checks["engine"] is not None and checks["providers"] == "loaded"
    return jsonify({"ready": ready, **checks}), 200 if ready else 503
