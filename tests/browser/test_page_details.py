"""Page details a visitor noticed (issue 12), each against the real service in Chromium:
arriving during "round complete", pausing mid-round, attribution labels, skip reasons,
"Reconnecting" (not "Offline") while the server restarts, and the server-rendered
permalink that the widget enhances."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import STEADY
from tests.browser.test_page import (
    api_contents,
    messages,
    open_live,
    wait_for_listing,
    wait_for_message_count,
)
from tests.service import Service
from tests.web.test_provider_round import VaryingPerplexity

pytestmark = pytest.mark.browser


def test_a_visitor_arriving_during_round_complete_sees_the_round(new_page: Any, tmp_path: Path) -> None:
    with Service(tmp_path, {**STEADY, "COMPLETE_HOLD_SECONDS": "120"}) as service:
        conversation_id = service.force()["conversation"]["id"]
        service.wait_for_state("complete", timeout=30)
        page = open_live(new_page, service)
        root = page.locator("[data-roundtable]")
        expect(root).to_have_attribute("data-mode", "complete")
        _, found = service.get(f"/api/conversations/{conversation_id}")
        expect(root.locator(".rt-title")).to_have_text(found["topic"])
        expect(messages(page)).to_have_count(16)
        assert messages(page).locator(".rt-content").all_text_contents() == api_contents(service, conversation_id)


def test_paused_mid_round_the_running_round_is_not_called_previous(new_page: Any, tmp_path: Path) -> None:
    slow = {**STEADY, "MESSAGE_GAP_MIN_SECONDS": "1", "MESSAGE_GAP_MAX_SECONDS": "1.2"}
    with Service(tmp_path, slow) as service:
        watching = open_live(new_page, service)
        topic = service.force()["conversation"]["topic"]
        wait_for_message_count(watching, 2)
        assert service.control("pause")[0] == 200
        arriving = open_live(new_page, service)
        for page in (watching, arriving):
            root = page.locator("[data-roundtable]")
            expect(root).to_have_attribute("data-mode", "paused")
            expect(root.locator(".rt-eyebrow")).to_have_text("Paused by the admins")
            expect(root.locator(".rt-title")).to_have_text(topic)
            expect(root.locator(".rt-note")).to_have_text("This round goes on when they resume.")
            expect(root.locator(".rt-log-label")).to_be_hidden()
            expect(root).not_to_contain_text("Previous round")
        assert service.control("resume")[0] == 200
        expect(arriving.locator("[data-roundtable]")).to_have_attribute("data-mode", "active")


def test_a_template_card_says_template_once_and_skips_say_their_reason_once(new_page: Any, tmp_path: Path) -> None:
    with Service(tmp_path, STEADY) as service:
        page = open_live(new_page, service)
        service.force()
        expect(messages(page)).to_have_count(16, timeout=30_000)
        heads = messages(page).locator(".rt-msg-head").all_text_contents()
        assert all(head.lower().count("template") == 1 for head in heads), heads[0]
        expect(messages(page).locator(".rt-model")).to_have_count(0)
        service.wait_for_state("countdown", timeout=30)
        assert service.control("skip")[0] == 200
        wait_for_listing(service, 2)
        history = new_page()
        history.goto(service.url + "/history")
        skipped = history.locator('.rt-history-item[data-status="skipped"] .rt-history-meta')
        expect(skipped).to_contain_text("skipped by admin")
        expect(skipped).not_to_contain_text("skipped: skipped")


def test_the_provider_is_not_repeated_in_the_model(new_page: Any, tmp_path: Path) -> None:
    with VaryingPerplexity() as perplexity:
        env = {**STEADY, "PERPLEXITY_API_KEY": "pplx-test", "PERPLEXITY_BASE_URL": perplexity.url}  # type: ignore[attr-defined]
        with Service(tmp_path, env) as service:
            page = open_live(new_page, service)
            conversation_id = service.force()["conversation"]["id"]
            expect(messages(page)).to_have_count(16, timeout=30_000)
            models = set(messages(page).locator(".rt-model").all_text_contents())
            assert models == {"perplexity \u00b7 sonar"}, models
            service.wait_for_state("countdown", timeout=30)
            shared = new_page()
            shared.goto(f"{service.url}/c/{conversation_id}")  # the server-rendered page
            assert set(shared.locator(".rt-model").all_text_contents()) == {"perplexity \u00b7 sonar"}


def test_a_restarting_server_shows_reconnecting_not_offline(new_page: Any, tmp_path: Path) -> None:
    service = Service(tmp_path, STEADY).start()
    try:
        page = open_live(new_page, service)
        service.kill()
        # From the third failure on, the widget also polls the API; that poll fails too.
        page.wait_for_function("() => window.Roundtable.widgets[0].failures >= 4", timeout=30_000)
        status = page.locator("[data-roundtable] .rt-status")
        expect(status).to_have_attribute("data-status", "reconnecting")
        expect(status).to_have_text(re.compile(r"^Reconnecting \(attempt \d+\)"))
        page.context.set_offline(True)  # the device itself is offline: now say so
        page.evaluate("() => window.Roundtable.widgets[0].showTrouble()")
        expect(status).to_have_attribute("data-status", "offline")
        page.context.set_offline(False)
        service.start()
        expect(status).to_have_attribute("data-status", "connected", timeout=40_000)
    finally:
        service.stop()


def test_the_shared_page_is_whole_without_javascript_and_enhanced_with_it(new_page: Any, tmp_path: Path) -> None:
    with Service(tmp_path, STEADY) as service:
        conversation_id = service.force()["conversation"]["id"]
        service.wait_for_state("countdown", timeout=30)
        plain = new_page(java_script_enabled=False)
        plain.goto(f"{service.url}/c/{conversation_id}")
        expect(plain.locator(".rt-msg")).to_have_count(16)
        assert plain.locator(".rt-content").all_text_contents() == api_contents(service, conversation_id)
        expect(plain.locator(".rt-time").first).to_have_text(re.compile(r"^\d\d:\d\d UTC$"))
        enhanced = new_page(timezone_id="Asia/Kolkata", locale="en-GB")
        enhanced.goto(f"{service.url}/c/{conversation_id}")
        expect(enhanced.locator(".rt-msg")).to_have_count(16)
        expect(enhanced.locator(".rt-time").first).not_to_contain_text("UTC")  # the visitor's own zone
