"""A visitor opens a message's details (tokens, cost, time taken, why a fallback) from a
small closed disclosure on its card, live and on the round's permalink, against the real
service with a fake OpenAI; nothing of it shows until it is opened."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.fakes.openai_server import FakeOpenAI
from tests.service import Service

pytestmark = pytest.mark.browser

@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    """OpenAI (a fake answering with 120 + 60 tokens) has a key; the others have none."""
    turn = itertools.count(1)
    with FakeOpenAI(reply=lambda _: f"Answer {next(turn)} looks at the question from a new side.") as openai:
        # Gaps of 3 s keep the round live (its cards shown) while the test reads the first
        # two; a generous grace keeps a slow fake on a busy machine from becoming a template.
        env = {**STEADY_ROUND, "OPENAI_API_KEY": "sk-fake-details", "OPENAI_BASE_URL": openai.base_url}
        with Service(tmp_path, env) as running:
            yield running


STEADY_ROUND = {
    "MESSAGE_GAP_MIN_SECONDS": "3", "MESSAGE_GAP_MAX_SECONDS": "3", "GENERATION_GRACE_SECONDS": "20",
}


def card(page: Any, seq: int) -> Any:
    return page.locator(f'.rt-msg[data-seq="{seq}"]')


def detail(page: Any, seq: int, term: str) -> Any:
    """The <dd> after the <dt> named ``term`` in message ``seq``'s details."""
    return card(page, seq).locator(f'.rt-details dt:text-is("{term}") + dd')


def test_a_visitor_opens_a_message_s_details(new_page: Any, service: Service) -> None:
    page = new_page()
    page.goto(service.url + "/")
    expect(page.locator(".rt-status")).to_have_attribute("data-status", "connected")
    service.force()
    expect(card(page, 2)).to_be_visible(timeout=15_000)  # Claude has no key: OpenAI stands in

    own = card(page, 1).locator(".rt-details")
    expect(own).not_to_have_attribute("open", "")
    expect(detail(page, 1, "Tokens")).to_be_hidden()  # closed: no clutter
    own.locator("summary").click()
    expect(detail(page, 1, "Tokens")).to_have_text("120 in \u00b7 60 out")
    # The fake answers as "gpt-fake", which no price source knows: an estimate, and it says so.
    expect(detail(page, 1, "Cost")).to_have_text(re.compile(r"^\$0\.\d{6} \(estimated\)$"))
    expect(detail(page, 1, "Took")).to_have_text(re.compile(r"^\d+ ms$|^\d+\.\d s$"))
    expect(card(page, 1).locator('.rt-details dt:text-is("Why a fallback")')).to_have_count(0)

    card(page, 2).locator(".rt-details summary").click()
    expect(detail(page, 2, "Why a fallback")).to_contain_text("anthropic")

    conversation_id = service.get("/api/status")[1]["conversation"]["id"]
    page.goto(f"{service.url}/c/{conversation_id}")  # the permalink reads the API: the same
    card(page, 2).locator(".rt-details summary").click()
    expect(detail(page, 2, "Tokens")).to_have_text("120 in \u00b7 60 out")
    expect(detail(page, 2, "Why a fallback")).to_contain_text("anthropic")
