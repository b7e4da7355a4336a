"""Shareable rounds without JavaScript: the server-rendered permalink, the Atom feed, the
sitemap, robots.txt and real 404s, against the real service and a fake OpenAI.

The OpenAI fake answers with hostile markup and a control character, and an admin
queues a topic holding ``</script>``: the page, its JSON-LD and the feed must stay whole.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from settings import Settings, SettingsError
from tests.fakes.openai_server import FakeOpenAI
from tests.service import ADMIN_TOKEN, Service
from tests.web.test_provider_round import fresh_text

PUBLIC = "https://roundtable.example.com"
HOSTILE_TOPIC = "Is </script><script>alert(1)</script> a fair <b>topic</b>?"
REPLY = "Quotas & \"tiers\" <img src=x onerror=alert(1)> matter\x01 more than the price tag itself."
ATOM = "{http://www.w3.org/2005/Atom}"
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def fetch(url: str, accept: str | None = None) -> tuple[int, str, str]:
    """(status, Content-Type, body) of a GET, as a client without JavaScript sees it."""
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


class Page(HTMLParser):
    """The parts of a page a crawler reads: meta tags, link rels, JSON-LD, visible text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.meta: dict[str, str] = {}
        self.links: dict[str, str] = {}
        self.json_ld: list[str] = []
        self.text: list[str] = []
        self._in_ld = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "meta" and ("property" in a or "name" in a):
            self.meta[a.get("property") or a["name"]] = a.get("content", "")
        if tag == "link" and "rel" in a:
            self.links[a["rel"]] = a.get("href", "")
        self._in_ld = tag == "script" and a.get("type") == "application/ld+json"

    def handle_endtag(self, tag: str) -> None:
        self._in_ld = False

    def handle_data(self, data: str) -> None:
        if self._in_ld:
            self.json_ld.append(data)
        elif data.strip():
            self.text.append(" ".join(data.split()))


def play_round(service: Service) -> dict[str, Any]:
    conversation_id = service.force()["conversation"]["id"]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        _, found = service.get(f"/api/conversations/{conversation_id}")
        if found["status"] == "complete":
            return dict(found)
        time.sleep(0.02)  # polling the API for a condition, bounded by the timeout
    raise TimeoutError(f"round {conversation_id} did not complete")


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, list[dict[str, Any]]]]:
    with FakeOpenAI(reply=lambda _: f"{REPLY} {fresh_text()}") as fake:
        env = {"PUBLIC_URL": PUBLIC + "/", "OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": fake.base_url}  # type: ignore[attr-defined]
        with Service(tmp_path_factory.mktemp("share"), env) as service:
            headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
            status, body = service.request("POST", "/control", {"action": "queue_topic", "topic": HOSTILE_TOPIC}, headers)
            assert status == 200, body
            rounds = [play_round(service), play_round(service)]
            yield service, rounds


def test_a_client_without_javascript_reads_the_round_and_its_preview_tags(played: Any) -> None:
    service, rounds = played
    rnd = rounds[0]
    assert rnd["topic"] == HOSTILE_TOPIC
    status, content_type, html = fetch(f"{service.url}/c/{rnd['id']}", BROWSER)
    assert status == 200 and content_type.startswith("text/html")
    page = Page(html)
    first = rnd["messages"][0]
    assert first["source"] == "api" and "<img" in first["content"]
    assert first["content"] in page.text  # the whole text, escaped in the HTML
    assert "<img src=x" not in html and "<script>alert" not in html
    assert all(m["content"] in page.text for m in rnd["messages"]) and len(rnd["messages"]) == 16
    assert page.meta["og:title"] == HOSTILE_TOPIC
    assert page.meta["twitter:title"] == HOSTILE_TOPIC and page.meta["twitter:card"] == "summary"
    assert page.meta["og:description"].startswith("Orion: Quotas & \"tiers\"")
    assert page.meta["description"] == page.meta["og:description"]
    canonical = f"{PUBLIC}/c/{rnd['id']}"
    assert page.links["canonical"] == canonical == page.meta["og:url"]
    assert len(page.json_ld) == 1  # "</script>" in the topic did not end the element
    data = json.loads(page.json_ld[0])
    assert data["@type"] == "DiscussionForumPosting" and data["headline"] == HOSTILE_TOPIC
    assert data["url"] == canonical and data["commentCount"] == 16
    assert data["comment"][0]["text"] == " ".join(first["content"].split())


def test_the_feed_is_atom_and_links_every_finished_round(played: Any) -> None:
    service, rounds = played
    status, content_type, body = fetch(f"{service.url}/feed.xml")
    assert status == 200 and content_type == "application/atom+xml; charset=utf-8"
    feed = ET.fromstring(body.encode())  # a control character would make this raise
    assert feed.tag == f"{ATOM}feed"
    for name in ("id", "title", "updated"):
        assert (feed.findtext(f"{ATOM}{name}") or "").strip(), name
    assert feed.find(f"{ATOM}author/{ATOM}name") is not None
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == len(rounds)
    links = set()
    for entry in entries:
        for name in ("id", "title", "updated"):
            assert (entry.findtext(f"{ATOM}{name}") or "").strip(), name
        link = entry.find(f"{ATOM}link[@rel='alternate']")
        assert link is not None
        links.add(link.get("href"))
        assert "\x01" not in (entry.findtext(f"{ATOM}summary") or "")
    assert links == {f"{PUBLIC}/c/{r['id']}" for r in rounds}
    assert entries[-1].findtext(f"{ATOM}title") == HOSTILE_TOPIC  # newest first


def test_sitemap_and_robots(played: Any) -> None:
    service, rounds = played
    status, content_type, body = fetch(f"{service.url}/sitemap.xml")
    assert status == 200 and content_type.startswith("application/xml")
    locs = {loc.text for loc in ET.fromstring(body.encode()).iter(f"{SITEMAP}loc")}
    assert locs == {f"{PUBLIC}/", f"{PUBLIC}/history", *(f"{PUBLIC}/c/{r['id']}" for r in rounds)}
    status, content_type, body = fetch(f"{service.url}/robots.txt")
    assert status == 200 and content_type == "text/plain; charset=utf-8"
    assert f"Sitemap: {PUBLIC}/sitemap.xml" in body.splitlines()
    assert "Disallow: /control" in body.splitlines()


def test_without_public_url_a_forged_host_is_never_cached_for_others(tmp_path: Path) -> None:
    with Service(tmp_path) as service:
        request = urllib.request.Request(f"{service.url}/robots.txt", headers={"Host": "evil.example"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert "Sitemap: http://evil.example/sitemap.xml" in response.read().decode()
            assert response.headers["Cache-Control"].startswith("private")


@pytest.mark.parametrize(
    ("path", "accept", "kind"),
    [
        ("/c/999999", BROWSER, "text/html"),
        ("/c/999999", None, "text/html"),
        ("/c/99999999999999999999999", BROWSER, "text/html"),
        ("/no/such/page", BROWSER, "text/html"),
        ("/no/such/page", None, "application/json"),
        ("/no/such/page", "application/json", "application/json"),
        ("/api/nope", BROWSER, "application/json"),
        ("/api/conversations/999999", BROWSER, "application/json"),
    ],
)
def test_unknown_rounds_and_paths_are_404_with_the_right_type(played: Any, path: str, accept: str | None, kind: str) -> None:
    service, _ = played
    status, content_type, body = fetch(service.url + path, accept)
    assert status == 404 and content_type.startswith(kind), (status, content_type)
    if kind == "application/json":
        assert "error" in json.loads(body)
    else:
        assert "Not found" in body and "Download" not in body


def test_the_markdown_export_and_metrics_name_their_charset_once(played: Any) -> None:
    service, rounds = played
    _, content_type, _ = fetch(f"{service.url}/api/conversations/{rounds[0]['id']}/export?format=md")
    assert content_type == "text/markdown; charset=utf-8"
    _, content_type, _ = fetch(f"{service.url}/metrics")
    assert content_type.lower().count("charset") == 1, content_type


def test_the_page_is_still_enhanced_by_the_widget(played: Any) -> None:
    service, rounds = played
    _, _, html = fetch(f"{service.url}/c/{rounds[1]['id']}", BROWSER)
    assert 'data-roundtable-conversation="' in html and "data-rt-rendered" in html
    assert "/static/js/realtime_ui_components.js" in html


@pytest.mark.parametrize(
    "value", ["example.com", "ftp://example.com", "https://", "https://example.com/?a=1",
              "https://user:pw@example.com", "https://exa mple.com", "https://example.com:99999"],
)
def test_public_url_must_be_an_absolute_http_url(value: str) -> None:
    with pytest.raises(SettingsError, match="PUBLIC_URL"):
        Settings.from_env({"PUBLIC_URL": value})


def test_public_url_accepts_a_site_and_drops_the_trailing_slash(tmp_path: Path) -> None:
    assert Settings.from_env({"PUBLIC_URL": "https://example.com/talks/"}).public_url == "https://example.com/talks"
    assert Settings.from_env({}).public_url is None
