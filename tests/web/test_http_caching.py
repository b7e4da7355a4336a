"""Finished rounds are cacheable by browsers and proxies; live data must be revalidated."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.service import Service
from tests.web.conftest import Client, is_state


def fetch(service: Service, path: str, etag: str | None = None,
          headers: dict[str, str] | None = None) -> tuple[int, Any, bytes]:
    """Status, headers (case-insensitive) and body."""
    headers = {**(headers or {}), **({"If-None-Match": etag} if etag else {})}
    request = urllib.request.Request(service.url + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as answered:  # 304 comes back as an "error"
        return answered.code, answered.headers, answered.read()


def test_a_finished_round_has_an_etag_and_a_max_age_and_a_live_one_does_not(tmp_path: Path) -> None:
    with Service(tmp_path, {"MESSAGE_GAP_MIN_SECONDS": "0.05", "MESSAGE_GAP_MAX_SECONDS": "0.06"}) as service:
        client = Client(service.ws_url)
        client.next()
        conversation_id = service.force()["conversation"]["id"]
        path = f"/api/conversations/{conversation_id}"
        client.until(lambda e: e["type"] == "message")
        status, live, _ = fetch(service, path)
        assert status == 200 and live["Cache-Control"] == "no-cache"
        client.until(is_state("complete"), timeout=30)
        client.close()

        status, first, body = fetch(service, path)
        assert status == 200 and first["Cache-Control"] == "public, max-age=3600"
        etag = first["ETag"]
        assert etag and etag != live["ETag"]
        status, again, body_again = fetch(service, path)  # from memory now: the same bytes
        assert (again["ETag"], body_again) == (etag, body)
        status, revalidated, empty = fetch(service, path, etag)
        assert status == 304 and empty == b"" and revalidated["ETag"] == etag

        status, listing, _ = fetch(service, "/api/conversations")
        assert status == 200 and listing["Cache-Control"] == "no-cache"
        assert fetch(service, "/api/conversations", listing["ETag"])[0] == 304


def test_the_listing_follows_the_round_to_its_end(tmp_path: Path) -> None:
    """The listing is kept between events: the round's end must show at once."""
    with Service(tmp_path, {"MESSAGE_GAP_MIN_SECONDS": "0.05", "MESSAGE_GAP_MAX_SECONDS": "0.06"}) as service:
        client = Client(service.ws_url)
        client.next()
        conversation_id = service.force()["conversation"]["id"]
        client.until(lambda e: e["type"] == "message")
        _, live, body = fetch(service, "/api/conversations")
        newest = json.loads(body)["conversations"][0]
        assert (newest["id"], newest["status"]) == (conversation_id, "active")
        client.until(is_state("complete"), timeout=30)
        client.close()
        _, ended, body = fetch(service, "/api/conversations")
        newest = json.loads(body)["conversations"][0]
        assert (newest["id"], newest["status"]) == (conversation_id, "complete")
        assert ended["ETag"] != live["ETag"]


def test_the_live_page_names_the_host_it_was_asked_for(tmp_path: Path) -> None:
    """The page is rendered once per site URL, not once for everyone."""
    with Service(tmp_path) as service:
        for host in ("one.example", "two.example:8080", "one.example"):
            status, _, page = fetch(service, "/", headers={"Host": host})
            assert status == 200
            assert f'<link rel="canonical" href="http://{host}/">' in page.decode()
