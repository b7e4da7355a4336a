"""The visitor's page against the real service: countdown, live rounds, reconnects, safety.

Every test starts ``python run.py`` (tests/service.py) with a temp SQLite file and drives
Debian's Chromium. Waits are Playwright conditions with timeouts, never sleeps.
"""

from __future__ import annotations

import functools
import itertools
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PHONE, STEADY
from tests.fakes.openai_server import FakeOpenAI
from tests.service import Service

pytestmark = pytest.mark.browser

HOURS_3 = 3 * 3600 * 1000
PAYLOAD = "<img src=x onerror=window.__pwned=1>"
#: Distinct sentences, so the quality gate never rejects a reply as a near-duplicate.
SENTENCES = (
    "is what a careless page would execute, but here it stays plain text on the screen.",
    "Remote teams write more things down, which helps newcomers find old decisions quickly.",
    "Offices still win for mentoring, because so much learning happens by overhearing others.",
    "The honest answer depends on the team's habits far more than on where the desks are.",
)
#: Shifts Date.now() and `new Date()` by a fixed amount: a device whose clock is wrong.
SHIFT_DEVICE_CLOCK = """
(() => {
  const shift = %d;
  const RealDate = Date;
  class ShiftedDate extends RealDate {
    constructor(...args) { if (args.length) super(...args); else super(RealDate.now() + shift); }
    static now() { return RealDate.now() + shift; }
  }
  window.Date = ShiftedDate;
})();
"""
#: Records every mode the widget shows, with the hero's eyebrow text at that moment.
RECORD_MODES = """
() => {
  const root = document.querySelector('[data-roundtable]');
  window.__modes = [];
  new MutationObserver(() => {
    const entry = [root.dataset.mode, root.querySelector('.rt-eyebrow').textContent];
    const last = window.__modes[window.__modes.length - 1];
    if (!last || last[0] !== entry[0]) window.__modes.push(entry);
  }).observe(root, { attributes: true, attributeFilter: ['data-mode'] });
}
"""
NO_HORIZONTAL_SCROLL = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"


# -- helpers ------------------------------------------------------------------------------

def open_live(new_page: Any, service: Service, **options: Any) -> Any:
    """The live page, once its WebSocket is connected."""
    page = new_page(**options)
    page.goto(service.url + "/")
    expect(page.locator("[data-roundtable] .rt-status")).to_have_attribute("data-status", "connected")
    return page


def messages(page: Any) -> Any:
    return page.locator("[data-roundtable] .rt-messages .rt-msg")


def shown_seqs(page: Any) -> list[int]:
    return messages(page).evaluate_all("items => items.map(item => Number(item.dataset.seq))")


def wait_for_message_count(page: Any, at_least: int, timeout: float = 30_000) -> None:
    page.wait_for_function(
        "n => document.querySelectorAll('[data-roundtable] .rt-msg').length >= n",
        arg=at_least, timeout=timeout,
    )


def seconds_shown(text: str) -> int:
    """ "01:05" -> 65; "1:02:05" -> 3725."""
    seconds = 0
    for part in text.split(":"):
        seconds = seconds * 60 + int(part)
    return seconds


def wait_for_listing(service: Service, count: int, timeout: float = 15.0) -> dict[str, Any]:
    """/api/conversations once it lists ``count`` rounds (the database writer is asynchronous)."""
    deadline = time.monotonic() + timeout
    while True:
        _, listing = service.get("/api/conversations?limit=50")
        if len(listing["conversations"]) >= count or time.monotonic() > deadline:
            assert len(listing["conversations"]) == count, listing
            return dict(listing)
        time.sleep(0.02)  # polling the API for a condition, bounded by the timeout


def api_contents(service: Service, conversation_id: int) -> list[str]:
    status, body = service.get(f"/api/conversations/{conversation_id}")
    assert status == 200, body
    return [m["content"] for m in sorted(body["messages"], key=lambda m: m["seq"])]


# -- countdown ------------------------------------------------------------------------------

def test_countdown_follows_the_server_clock_even_when_the_device_clock_is_hours_off(
    new_page: Any, service: Service,
) -> None:
    page = new_page()
    page.add_init_script(SHIFT_DEVICE_CLOCK % HOURS_3)
    page.goto(service.url + "/")
    device_skew = page.evaluate("Date.now() - (performance.timeOrigin + performance.now())")
    assert abs(device_skew - HOURS_3) < 5_000  # the page really sees a wrong clock

    clock = page.locator("[data-roundtable] .rt-countdown")
    expect(clock).to_have_text(re.compile(r"^\d+:\d\d(:\d\d)?$"))
    _, countdown = service.get("/api/countdown")
    next_round_at = countdown["next_round_at"]
    for _ in range(3):
        # The display flips to N seconds exactly when the server's time reaches slot - N s.
        flipped = page.wait_for_function(
            "([el, old]) => el.textContent !== old && el.textContent",
            arg=[clock.element_handle(), clock.text_content()], polling="raf", timeout=3_000,
        )
        flipped_at_ms = time.time() * 1000  # the service runs on this machine's clock
        due_at_ms = next_round_at - seconds_shown(flipped.json_value()) * 1000
        assert abs(flipped_at_ms - due_at_ms) <= 500, (flipped_at_ms, due_at_ms)


def test_pause_stops_the_countdown_and_resume_brings_it_back(new_page: Any, service: Service) -> None:
    page = open_live(new_page, service)
    root = page.locator("[data-roundtable]")
    expect(root).to_have_attribute("data-mode", "countdown")
    assert service.control("pause")[0] == 200
    expect(root).to_have_attribute("data-mode", "paused")
    expect(root.locator(".rt-eyebrow")).to_have_text("Paused by the admins")
    expect(root.locator(".rt-countdown")).to_be_hidden()
    assert service.control("resume")[0] == 200
    expect(root).to_have_attribute("data-mode", "countdown")
    expect(root.locator(".rt-countdown")).to_be_visible()


# -- live rounds ------------------------------------------------------------------------------

def test_a_forced_round_shows_sixteen_messages_in_order_with_their_badges(
    new_page: Any, service: Service,
) -> None:
    page = open_live(new_page, service)
    page.evaluate(RECORD_MODES)
    conversation_id = service.force()["conversation"]["id"]

    expect(messages(page)).to_have_count(16, timeout=30_000)
    assert shown_seqs(page) == list(range(1, 17))
    personas = messages(page).locator(".rt-persona").all_text_contents()
    assert sorted(set(personas)) == ["Clio", "Lyra", "Orion", "Scout"]
    assert personas[4:] == personas[:-4]  # a fixed rotating order, 4 messages each
    badges = messages(page).locator(".rt-badge-template").all_text_contents()
    assert badges == ["template \u2014 no AI answered"] * 16  # no keys: every message a template
    contents = messages(page).locator(".rt-content").all_text_contents()
    assert contents == api_contents(service, conversation_id)

    root = page.locator("[data-roundtable]")
    expect(root).to_have_attribute("data-mode", "countdown")
    modes = page.evaluate("window.__modes")
    assert [mode for mode, _ in modes] == ["active", "complete", "countdown"]
    assert modes[1][1] == "Round complete"
    expect(root.locator(".rt-log-label a")).to_have_attribute("href", f"{service.url}/c/{conversation_id}")


def test_typing_shows_the_next_speaker_on_the_widgets_own_clock_without_typing_frames(
    new_page: Any, tmp_path: Path,
) -> None:
    # Gaps of about 1.5 s and a 1 s lead: each speaker is shown typing well before their
    # message, although the server sends no typing frame while the plan holds.
    paced = {**STEADY, "MESSAGE_GAP_MIN_SECONDS": "1.4", "MESSAGE_GAP_MAX_SECONDS": "1.6",
             "TYPING_LEAD_SECONDS": "1"}
    with Service(tmp_path, paced) as service:
        page = new_page()
        frames: list[str] = []
        page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(str(payload))))
        page.goto(service.url + "/")
        expect(page.locator("[data-roundtable] .rt-status")).to_have_attribute("data-status", "connected")
        service.force()
        wait_for_message_count(page, 1)
        typing = page.locator("[data-roundtable] .rt-typing")
        expect(typing).to_be_visible(timeout=5_000)
        expect(typing).to_contain_text("Clio is typing")  # seq 2: the second speaker
        expect(typing).to_have_attribute("data-agent", "anthropic")
        expect(messages(page)).to_have_count(2, timeout=5_000)
        expect(typing).to_contain_text("Scout is typing", timeout=5_000)
        assert not [f for f in frames if '"type":"typing"' in f]


def test_scrolling_up_stops_following_until_new_messages_is_pressed(new_page: Any, tmp_path: Path) -> None:
    slow = {**STEADY, "MESSAGE_GAP_MIN_SECONDS": "0.3", "MESSAGE_GAP_MAX_SECONDS": "0.4"}
    with Service(tmp_path, slow) as service:
        page = open_live(new_page, service, viewport={"width": 1280, "height": 600})
        service.force()
        wait_for_message_count(page, 5)
        log = page.locator("[data-roundtable] .rt-log")
        log.hover()
        page.mouse.wheel(0, -5000)
        page.wait_for_function("el => el.scrollTop === 0", arg=log.element_handle())
        seen = messages(page).count()
        wait_for_message_count(page, seen + 1)

        jump = page.get_by_role("button", name="New messages")
        expect(jump).to_be_visible()
        assert log.evaluate("el => el.scrollTop") == 0  # the visitor's reading place is kept
        jump.click()
        expect(jump).to_be_hidden()
        page.wait_for_function("el => el.scrollHeight - el.scrollTop - el.clientHeight < 48", arg=log.element_handle())


def test_without_websocket_the_page_polls_and_still_shows_the_round(new_page: Any, tmp_path: Path) -> None:
    slow = {**STEADY, "MESSAGE_GAP_MIN_SECONDS": "0.6", "MESSAGE_GAP_MAX_SECONDS": "0.7"}
    with Service(tmp_path, slow) as service:
        page = new_page()
        page.add_init_script("delete window.WebSocket")
        page.goto(service.url + "/")
        root = page.locator("[data-roundtable]")
        expect(root.locator(".rt-status")).to_have_attribute("data-status", "polling")
        expect(root.locator(".rt-countdown")).to_have_text(re.compile(r"^\d+:\d\d"))

        conversation_id = service.force()["conversation"]["id"]
        # Polls come every 5 s; a round of about 10 s is caught while it runs.
        expect(root).to_have_attribute("data-mode", "active", timeout=15_000)
        expect(messages(page).first).to_be_visible()
        service.wait_for_state("countdown", timeout=30)
        expect(root).to_have_attribute("data-mode", "countdown", timeout=15_000)
        expect(messages(page)).to_have_count(16)  # polling merges without duplicates
        expect(root.locator(".rt-log-label a")).to_have_attribute("href", f"{service.url}/c/{conversation_id}")


def test_a_crash_mid_round_shows_reconnecting_then_the_rest_without_duplicates(
    new_page: Any, tmp_path: Path,
) -> None:
    slow = {**STEADY, "MESSAGE_GAP_MIN_SECONDS": "0.35", "MESSAGE_GAP_MAX_SECONDS": "0.45"}
    service = Service(tmp_path, slow).start()
    try:
        page = open_live(new_page, service)
        conversation_id = service.force()["conversation"]["id"]
        wait_for_message_count(page, 3)
        service.kill()

        status = page.locator("[data-roundtable] .rt-status")
        expect(status).to_have_text(re.compile(r"Reconnecting \(attempt \d+\)"))
        service.start()
        expect(status).to_have_attribute("data-status", "connected", timeout=40_000)
        expect(messages(page)).to_have_count(16, timeout=40_000)
        assert shown_seqs(page) == list(range(1, 17))
        contents = messages(page).locator(".rt-content").all_text_contents()
        assert contents == api_contents(service, conversation_id)
    finally:
        service.stop()


def test_model_output_is_shown_as_literal_text_and_never_runs(new_page: Any, tmp_path: Path) -> None:
    turn = itertools.count()
    with FakeOpenAI(reply=lambda _: f"{PAYLOAD} {SENTENCES[next(turn) % len(SENTENCES)]}") as fake:
        env = {**STEADY, "OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": fake.base_url}
        with Service(tmp_path, env) as service:
            page = open_live(new_page, service)
            conversation_id = service.force()["conversation"]["id"]
            expect(messages(page)).to_have_count(16, timeout=30_000)
            orion = messages(page).and_(page.locator('[data-agent="openai"][data-source="api"]'))
            expect(orion.first.locator(".rt-content")).to_contain_text(PAYLOAD)
            assert_inert(page)

            page.goto(f"{service.url}/c/{conversation_id}")
            expect(page.locator(".rt-msg")).to_have_count(16)
            expect(page.locator('.rt-msg[data-agent="openai"] .rt-content').first).to_contain_text(PAYLOAD)
            assert_inert(page)


def assert_inert(page: Any) -> None:
    assert page.locator(".rt-messages img, .rt-messages script").count() == 0
    assert page.evaluate("window.__pwned") is None


# -- layout --------------------------------------------------------------------------------

def test_a_phone_never_scrolls_sideways_in_either_mode(new_page: Any, tmp_path: Path) -> None:
    long_word = "Supercalifragilistic" * 12
    turn = itertools.count()
    reply = lambda _: f"{long_word} https://example.org/{'x' * 120} {SENTENCES[next(turn) % 4]}"  # noqa: E731
    with FakeOpenAI(reply=reply) as fake:
        env = {**STEADY, "OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": fake.base_url,
               "MESSAGE_GAP_MIN_SECONDS": "0.3", "MESSAGE_GAP_MAX_SECONDS": "0.4"}
        with Service(tmp_path, env) as service:
            page = open_live(new_page, service, viewport=PHONE)
            root = page.locator("[data-roundtable]")
            expect(root).to_have_attribute("data-mode", "countdown")
            assert page.evaluate(NO_HORIZONTAL_SCROLL)

            service.force()
            wait_for_message_count(page, 2)
            expect(root).to_have_attribute("data-mode", "active")
            assert page.evaluate(NO_HORIZONTAL_SCROLL)
            expect(messages(page)).to_have_count(16, timeout=30_000)
            assert page.evaluate(NO_HORIZONTAL_SCROLL)

            for path in ("/history", "/c/1", "/control"):
                page.goto(service.url + path)
                page.wait_for_load_state("networkidle")
                assert page.evaluate(NO_HORIZONTAL_SCROLL), path


# -- embedding ----------------------------------------------------------------------------------

EMBEDDING_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>A host site</title></head>
<body><h1>A host site</h1><div data-roundtable></div>
<script src="{server}/static/js/realtime_ui_components.js" data-server="{server}"></script>
</body></html>
"""


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def host_site(directory: Path) -> Iterator[str]:
    """Serves ``directory`` on another origin (another port); yields its URL."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(directory)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_the_widget_embeds_on_another_site(new_page: Any, tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    with host_site(site) as site_url:
        with Service(tmp_path, {**STEADY, "ALLOWED_ORIGINS": site_url}) as service:
            (site / "index.html").write_text(EMBEDDING_PAGE.format(server=service.url))
            page = new_page()
            page.goto(site_url + "/index.html")
            root = page.locator("[data-roundtable]")
            expect(root.locator(".rt-status")).to_have_attribute("data-status", "connected")
            expect(page.locator('link[rel="stylesheet"]')).to_have_attribute(
                "href", f"{service.url}/static/css/roundtable.css")
            expect(root.locator(".rt-countdown")).to_have_text(re.compile(r"^\d+:\d\d"))
            expect(root.locator(".rt-hero")).to_have_css("text-align", "center")  # the styles arrived

            conversation_id = service.force()["conversation"]["id"]
            expect(messages(page)).to_have_count(16, timeout=30_000)
            expect(root.locator(".rt-log-label a")).to_have_attribute(
                "href", f"{service.url}/c/{conversation_id}")


# -- past rounds -----------------------------------------------------------------------------

def test_history_pages_back_and_the_permalink_shows_the_round(new_page: Any, service: Service) -> None:
    for _ in range(2):
        service.force()
        service.wait_for_state("countdown", timeout=30)
    for _ in range(20):  # skipped slots are rounds too: enough for a second page
        assert service.control("skip")[0] == 200
    listing = wait_for_listing(service, 22)

    page = new_page()
    page.goto(service.url + "/history")
    items = page.locator(".rt-history-item")
    expect(items).to_have_count(20)
    page.get_by_role("button", name="Older rounds").click()
    expect(items).to_have_count(22)
    expect(page.get_by_role("button", name="Older rounds")).to_be_hidden()

    newest_played = next(c for c in listing["conversations"] if c["status"] == "complete")
    page.locator(f'.rt-history-topic[href$="/c/{newest_played["id"]}"]').click()
    expect(page).to_have_url(f"{service.url}/c/{newest_played['id']}")
    expect(page.locator("h1")).to_have_text(newest_played["topic"])
    expect(page.locator(".rt-msg")).to_have_count(16)
    assert page.locator(".rt-content").all_text_contents() == api_contents(service, newest_played["id"])
    for fmt in ("md", "json"):
        link = page.locator(f'a[href$="/export?format={fmt}"]')
        response = page.request.get(service.url + link.get_attribute("href"))
        assert response.status == 200, fmt


def test_the_permalink_of_a_missing_round_says_so(new_page: Any, service: Service) -> None:
    page = new_page()
    response = page.goto(service.url + "/c/999")
    assert response.status == 404
    expect(page.locator(".rt-empty")).to_have_text("There is no round number 999.")
    expect(page.locator(".rt-downloads")).to_have_count(0)  # nothing to download
    response = page.goto(service.url + "/no/such/page")
    assert response.status == 404 and response.headers["content-type"].startswith("text/html")
    expect(page.locator("h1")).to_have_text("Not found")
