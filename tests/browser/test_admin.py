"""The admin dashboard (GET /control) in Chromium against the real service: signing in
with the token, the provider table, skipping a live round through the confirmation, the
audit trail, a phone's width, and untrusted strings shown as text."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PHONE
from tests.fakes.openai_server import FakeOpenAI
from tests.registry_views import DEFAULT_MODELS
from tests.service import ADMIN_TOKEN, Service

pytestmark = pytest.mark.browser

#: Gaps long enough that a forced round stays live for the whole test.
SLOW = {"MESSAGE_GAP_MIN_SECONDS": "30", "MESSAGE_GAP_MAX_SECONDS": "30"}
PAYLOAD = "<img src=x onerror=window.__pwned=1>"
NO_HORIZONTAL_SCROLL = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
TOKEN_KEY = "roundtable.adminToken"


@pytest.fixture
def openai() -> Iterator[FakeOpenAI]:
    turn = itertools.count(1)
    with FakeOpenAI(reply=lambda _: f"Reply number {next(turn)} takes a fresh angle on the topic.") as fake:
        yield fake


@pytest.fixture
def live_service(tmp_path: Path, openai: FakeOpenAI) -> Iterator[Service]:
    """The service with OpenAI (a fake) configured and the others without keys."""
    env = {**SLOW, "OPENAI_API_KEY": "sk-fake-dashboard", "OPENAI_BASE_URL": openai.base_url}
    with Service(tmp_path, env) as running:
        yield running


def sign_in(page: Any, service: Service, token: str = ADMIN_TOKEN) -> None:
    page.goto(service.url + "/control")
    page.get_by_label("Admin token").fill(token)
    page.get_by_role("button", name="Sign in").click()


def provider_cell(page: Any, provider: str, column: str) -> Any:
    return page.locator(f'[data-rt-providers] tr[data-provider="{provider}"] td[data-label="{column}"]')


def audit_rows(page: Any) -> Any:
    return page.locator("[data-rt-audit] tr")


def test_sign_in_read_the_providers_and_skip_a_live_round_through_the_confirmation(
    new_page: Any, live_service: Service
) -> None:
    service = live_service
    page = new_page()
    admin = page.locator("[data-rt-admin]")
    sign_in(page, service, "not-the-admin-token")
    expect(page.locator("[data-rt-signin-error]")).to_have_text("That is not the admin token.")
    expect(admin).to_have_attribute("data-signed-in", "false")
    expect(page.locator("[data-rt-dashboard]")).to_be_hidden()

    sign_in(page, service)
    expect(admin).to_have_attribute("data-signed-in", "true")
    assert ADMIN_TOKEN not in page.url and page.context.cookies() == []
    assert page.evaluate(f"sessionStorage.getItem('{TOKEN_KEY}')") == ADMIN_TOKEN

    expect(page.locator("[data-rt-providers] tr")).to_have_count(4)
    expect(provider_cell(page, "openai", "Model")).to_have_text(DEFAULT_MODELS["openai"])
    expect(provider_cell(page, "openai", "Keys")).to_have_text("1 key")
    expect(provider_cell(page, "openai", "Circuit")).to_have_text("closed (healthy)")
    expect(provider_cell(page, "gemini", "Keys")).to_have_text("no key")
    expect(page.locator("[data-rt-state]")).to_have_text("Waiting for the next round")
    # The fake is not OpenAI's API: MODERATION=auto reviews with the word list alone, and says why.
    expect(page.locator('[data-rt-facts] dt:text-is("Moderation") + dd')).to_have_text(
        "word list only: OPENAI_BASE_URL is not OpenAI's API; set MODERATION=openai to use its /moderations")

    service.force()
    expect(admin).to_have_attribute("data-state", "active", timeout=10_000)
    expect(page.locator("[data-rt-state]")).to_have_text("A round is live")
    expect(page.locator("[data-rt-countdown]")).to_contain_text("Running for")
    # OpenAI writes its own first message and stands in for Claude (no key) in the second;
    # the third is asked for only after the 30 s gap.
    expect(provider_cell(page, "openai", "Calls today")).to_have_text("2", timeout=10_000)
    expect(provider_cell(page, "openai", "Latency p50 / p95")).to_have_text(re.compile(r"^\d+ ms / "))
    topic = service.get("/api/status")[1]["conversation"]["topic"]
    expect(page.locator("[data-rt-facts]")).to_contain_text(topic)
    round_rows = page.locator("[data-rt-round] tr")
    expect(round_rows).to_have_count(1)  # the second waits for its 30 s gap
    expect(round_rows.first.locator('td[data-label="Written by"]')).to_have_text(re.compile(r"^openai · \S+$"))
    expect(round_rows.first.locator('td[data-label="Why a fallback"]')).to_have_text("—")

    dialog = page.locator("[data-rt-confirm]")
    page.get_by_role("button", name="Skip…").click()
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading")).to_have_text("End the live round now?")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("[data-rt-result]")).to_have_text("Nothing was skipped.")
    assert service.get("/api/countdown")[1]["state"] == "active"

    page.get_by_role("button", name="Skip…").click()
    dialog.get_by_role("button", name="End the round").click()
    expect(page.locator("[data-rt-result]")).to_have_text("Skipped.")
    expect(admin).not_to_have_attribute("data-state", "active")
    conversation_id = service.get("/api/conversations")[1]["conversations"][0]["id"]
    assert service.get(f"/api/conversations/{conversation_id}")[1]["status"] == "skipped"

    rows = audit_rows(page)
    expect(rows.first.locator('td[data-label="Action"]')).to_have_text("skip")
    expect(rows.first.locator('td[data-label="Result"]')).to_contain_text("accepted")
    actions = rows.locator('td[data-label="Action"]').all_text_contents()
    assert actions == ["skip", "force", "read audit"]  # the wrong token at sign-in is there too
    refused = rows.last.locator('td[data-label="Result"]')
    expect(refused).to_have_text("refused (403): wrong admin token")
    assert "{\"" not in page.locator("body").inner_text()  # no raw JSON on screen


def test_the_token_survives_a_reload_and_sign_out_forgets_it(new_page: Any, live_service: Service) -> None:
    page = new_page()
    sign_in(page, live_service)
    admin = page.locator("[data-rt-admin]")
    expect(admin).to_have_attribute("data-signed-in", "true")
    page.reload()
    expect(admin).to_have_attribute("data-signed-in", "true")
    page.get_by_role("button", name="Sign out").click()
    expect(admin).to_have_attribute("data-signed-in", "false")
    assert page.evaluate(f"sessionStorage.getItem('{TOKEN_KEY}')") is None
    page.reload()
    expect(page.locator("[data-rt-signin]")).to_be_visible()
    expect(admin).to_have_attribute("data-signed-in", "false")


def test_the_dashboard_fits_a_phone(new_page: Any, live_service: Service) -> None:
    page = new_page(viewport=PHONE)
    page.goto(live_service.url + "/control")
    assert page.evaluate(NO_HORIZONTAL_SCROLL)
    live_service.force()
    sign_in(page, live_service)
    expect(page.locator("[data-rt-admin]")).to_have_attribute("data-state", "active")
    expect(page.locator("[data-rt-providers] tr")).to_have_count(4)
    expect(audit_rows(page)).to_have_count(1)
    assert page.evaluate(NO_HORIZONTAL_SCROLL)
    page.get_by_role("button", name="Skip…").click()
    expect(page.locator("[data-rt-confirm]")).to_be_visible()
    assert page.evaluate(NO_HORIZONTAL_SCROLL)


def test_untrusted_strings_are_shown_as_text(new_page: Any, tmp_path: Path) -> None:
    topics = tmp_path / "topics.txt"
    topics.write_text(PAYLOAD + "\n")
    with Service(tmp_path, {**SLOW, "TOPICS_FILE": str(topics)}) as service:
        service.control(PAYLOAD)  # an unknown action: refused, and stored as sent
        service.force()
        page = new_page()
        sign_in(page, service)
        expect(page.locator("[data-rt-facts]")).to_contain_text(PAYLOAD)
        expect(audit_rows(page).last.locator('td[data-label="Action"]')).to_have_text(PAYLOAD)

        queued = "Topic " + PAYLOAD
        page.get_by_label("Queue a topic for the next free round").fill(queued)
        page.get_by_role("button", name="Queue").click()
        expect(page.locator("[data-rt-result]")).to_have_text("The topic is queued.")
        expect(page.locator("[data-rt-queue] li")).to_have_text([queued])
        expect(audit_rows(page).first.locator('td[data-label="Action"]')).to_have_text("queue_topic")
        expect(audit_rows(page).first.locator('td[data-label="Result"]')).to_have_text(f"accepted: queued {queued!r}")
        assert page.evaluate("window.__pwned") is None
        assert page.locator("[data-rt-admin] img").count() == 0
