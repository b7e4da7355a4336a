"""HTML pages: the live page, a round's permalink, history, the admin page, and 404s.

``/c/<id>`` is rendered on the server with the whole transcript (escaped by Jinja), its
title, description, OpenGraph and Twitter card tags, schema.org JSON-LD and canonical
URL, so crawlers and link previews see the round without JavaScript; the widget then
enhances it (local times).
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, render_template, request

from actors import wire
from settings import VERSION
from storage import queries
from web import roster, transcript
from web.context import Context

__all__ = ["bp", "not_found_page", "site_url"]

bp = Blueprint("pages", __name__)

#: The largest id a database can hold (a signed 64-bit integer); see web.api.MAX_ID.
MAX_ID = 2**63 - 1


def site_url() -> str:
    """The site's absolute base URL, no trailing slash: ``PUBLIC_URL`` when set, else the
    request's own scheme and host (right unless a proxy rewrites ``Host``)."""
    return Context.current().settings.public_url or request.host_url.rstrip("/")


@bp.app_context_processor
def _agents() -> dict[str, str]:
    """``agent_count`` and ``agent_labels`` for every template (``web.roster``)."""
    return roster.page_values(Context.current().settings.providers)


@bp.get("/agents.css")
async def agents_css() -> Response:
    """The agents' colours for pages rendered here (the widget sets them from ``hello``);
    versioned by ``?v=`` like the static files, so it may be kept a day."""
    names = Context.current().settings.providers
    return Response(roster.stylesheet(names), content_type="text/css; charset=utf-8",
                    headers={"Cache-Control": "public, max-age=86400"})


@bp.get("/")
async def index() -> str:
    """The live page: the same HTML for every visitor of a site URL, rendered once."""
    context = Context.current()
    key = (request.scheme, request.host)  # what site_url() reads (PUBLIC_URL is fixed)
    page = context.pages.get(key)
    if page is None:
        page = await render_template("index.html", asset_version=context.asset_version,
                                     canonical=site_url() + "/")
        context.pages.put(key, page)
    return page


@bp.get("/c/<int:conversation_id>")
async def conversation(conversation_id: int) -> tuple[str, int]:
    context = Context.current()
    found = None
    if conversation_id <= MAX_ID:
        found = await context.call(queries.get_conversation, context.system.db, conversation_id)
    if found is None:
        return await not_found_page(f"There is no round number {conversation_id}.")
    return await render_template("conversation.html", **_conversation_view(wire.conversation(found))), 200


def _conversation_view(found: dict[str, Any]) -> dict[str, Any]:
    canonical = f"{site_url()}/c/{found['id']}"
    messages = [
        {**m, "model_label": transcript.model_label(m), "badge": transcript.badge(m),
         "details": transcript.details(m),
         "time_iso": transcript.iso_time(m.get("revealed_at")),
         "time_text": transcript.iso_time(m.get("revealed_at"))[11:16] + " UTC"}
        for m in found["messages"]
    ]
    return {
        "asset_version": Context.current().asset_version,
        "conversation": found,
        "messages": messages,
        "page_title": transcript.title(found),
        "description": transcript.description(found),
        "meta": transcript.round_meta(found),
        "canonical": canonical,
        "site_url": site_url(),
        "json_ld": transcript.json_ld(found, canonical),
        "published": transcript.iso_time(found.get("started_at") or found.get("scheduled_at")),
    }


async def not_found_page(message: str = "There is nothing at this address.") -> tuple[str, int]:
    """The HTML 404 page (browsers); the API's 404s stay JSON (``web.app``)."""
    page = await render_template(
        "404.html", asset_version=Context.current().asset_version, message=message
    )
    return page, 404


@bp.get("/history")
async def history() -> str:
    return await render_template("history.html", asset_version=Context.current().asset_version)


@bp.get("/control")
async def control_page() -> str:
    return await render_template("control.html", asset_version=Context.current().asset_version,
                                 version=VERSION)
