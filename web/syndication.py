"""For crawlers and feed readers: ``/feed.xml`` (Atom), ``/sitemap.xml``, ``/robots.txt``.

Absolute URLs start at ``pages.site_url()`` (``PUBLIC_URL`` when set). XML is built with
ElementTree, which escapes markup; ``transcript.xml_text`` removes the characters XML 1.0
cannot hold, so one odd model reply cannot break the feed.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any, Final

import peewee
from quart import Blueprint, Response

from actors import wire
from storage import queries
from web import roster, transcript
from web.context import Context
from web.pages import site_url

__all__ = ["bp"]

bp = Blueprint("syndication", __name__)

ATOM: Final = "http://www.w3.org/2005/Atom"
SITEMAP: Final = "http://www.sitemaps.org/schemas/sitemap/0.9"
#: Entries in the feed: readers poll it, so it stays small (each entry is one excerpt).
FEED_ENTRIES: Final = 30
#: A sitemap file may list 50,000 URLs; the newest rounds matter most.
SITEMAP_ROUNDS: Final = 10_000
#: Browsers and crawlers may keep these for a few minutes: a round lasts much longer.
#: Only with PUBLIC_URL: otherwise the absolute URLs come from the request's Host header,
#: and a shared cache must not keep a copy made for a forged one.
CACHE: Final = "public, max-age=300"
NO_SHARED_CACHE: Final = "private, max-age=300"


@bp.get("/feed.xml")
async def feed() -> Response:
    context = Context.current()
    rounds = await context.call(_finished_with_messages, context.system.db)
    body = _atom(rounds, site_url(), wire.ms(context.system.clock.now()) or 0)
    return _xml(body, "application/atom+xml")


def _finished_with_messages(db: peewee.Database) -> list[dict[str, Any]]:
    return [wire.conversation(r) for r in queries.completed_conversations(db, FEED_ENTRIES, with_messages=True)]


def _atom(rounds: list[dict[str, Any]], base: str, now_ms: int) -> bytes:
    ET.register_namespace("", ATOM)
    root = ET.Element(f"{{{ATOM}}}feed")
    _sub(root, "id", f"{base}/feed.xml")
    _sub(root, "title", f"{transcript.SITE_NAME}: finished rounds")
    _sub(root, "subtitle", f"{roster.agent_count().capitalize()} AI agents hold a live, scheduled conversation.")
    newest = max((r.get("ended_at") or 0 for r in rounds), default=0) or now_ms
    _sub(root, "updated", transcript.iso_time(newest))
    ET.SubElement(root, f"{{{ATOM}}}link", rel="self", href=f"{base}/feed.xml", type="application/atom+xml")
    ET.SubElement(root, f"{{{ATOM}}}link", rel="alternate", href=f"{base}/", type="text/html")
    author = ET.SubElement(root, f"{{{ATOM}}}author")
    _sub(author, "name", transcript.SITE_NAME)
    for rnd in rounds:
        _entry(root, rnd, base)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _entry(root: ET.Element, rnd: dict[str, Any], base: str) -> None:
    url = f"{base}/c/{rnd['id']}"
    entry = ET.SubElement(root, f"{{{ATOM}}}entry")
    _sub(entry, "id", url)
    _sub(entry, "title", transcript.title(rnd))
    _sub(entry, "updated", transcript.iso_time(rnd.get("ended_at") or rnd.get("started_at")))
    _sub(entry, "published", transcript.iso_time(rnd.get("started_at") or rnd.get("ended_at")))
    ET.SubElement(entry, f"{{{ATOM}}}link", rel="alternate", href=url, type="text/html")
    summary = _sub(entry, "summary", transcript.description(rnd))
    summary.set("type", "text")


def _sub(parent: ET.Element, name: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{name}")
    element.text = transcript.xml_text(text)
    return element


def _finished(db: peewee.Database) -> list[dict[str, Any]]:
    return [wire.summary(r) for r in queries.completed_conversations(db, SITEMAP_ROUNDS)]


@bp.get("/sitemap.xml")
async def sitemap() -> Response:
    context = Context.current()
    rounds = await context.call(_finished, context.system.db)
    base = site_url()
    ET.register_namespace("", SITEMAP)
    urlset = ET.Element(f"{{{SITEMAP}}}urlset")
    for path in ("/", "/history"):
        _url(urlset, base + path, None)
    for rnd in rounds:
        _url(urlset, f"{base}/c/{rnd['id']}", rnd.get("ended_at"))
    return _xml(ET.tostring(urlset, encoding="utf-8", xml_declaration=True), "application/xml")


def _url(urlset: ET.Element, loc: str, lastmod_ms: int | None) -> None:
    url = ET.SubElement(urlset, f"{{{SITEMAP}}}url")
    ET.SubElement(url, f"{{{SITEMAP}}}loc").text = loc
    if lastmod_ms:
        ET.SubElement(url, f"{{{SITEMAP}}}lastmod").text = transcript.iso_time(lastmod_ms)


@bp.get("/robots.txt")
async def robots() -> Response:
    lines = [
        "User-agent: *",
        "Disallow: /api/",
        "Disallow: /control",
        f"Sitemap: {site_url()}/sitemap.xml",
    ]
    return _cached(Response("\n".join(lines) + "\n", content_type="text/plain; charset=utf-8"))


def _xml(body: bytes, mimetype: str) -> Response:
    return _cached(Response(body, content_type=f"{mimetype}; charset=utf-8"))


def _cached(response: Response) -> Response:
    public = Context.current().settings.public_url is not None
    response.headers["Cache-Control"] = CACHE if public else NO_SHARED_CACHE
    return response
