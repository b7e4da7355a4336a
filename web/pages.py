"""HTML pages: the live page, a round's permalink, history, and the admin page."""

from __future__ import annotations

from quart import Blueprint, render_template

from settings import VERSION
from web.context import Context

bp = Blueprint("pages", __name__)


@bp.get("/")
async def index() -> str:
    return await render_template("index.html", asset_version=Context.current().asset_version)


@bp.get("/c/<int:conversation_id>")
async def conversation(conversation_id: int) -> str:
    return await render_template(
        "conversation.html",
        asset_version=Context.current().asset_version,
        conversation_id=conversation_id,
    )


@bp.get("/history")
async def history() -> str:
    return await render_template("history.html", asset_version=Context.current().asset_version)


@bp.get("/control")
async def control_page() -> str:
    return await render_template("control.html", asset_version=Context.current().asset_version,
                                 version=VERSION)
