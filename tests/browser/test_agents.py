"""The page learns the agents from the server: a provider the script has never heard of.

The service runs with the toy provider registered (``tests/toy_run.py``); the widget has
no list of agents, so the toy's name and colours can only come from ``hello.agents`` (the
live page) or ``/agents.css`` (the page rendered on the server), under the page's
``style-src 'self'`` policy.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import STEADY
from tests.service import ROOT, Service

pytestmark = pytest.mark.browser

TOY = {"TOY_API_KEY": "toy-key-5555", "MESSAGES_PER_ROUND": "10", **STEADY}
BORDER = "node => getComputedStyle(node).borderLeftColor"


@pytest.fixture
def toy_service(tmp_path: Path) -> Iterator[Service]:
    with Service(tmp_path, TOY, script=ROOT / "tests" / "toy_run.py") as running:
        yield running


def watch_csp(page: Any) -> list[str]:
    """Console lines about the Content Security Policy (a refused inline style, say)."""
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    return refused


@pytest.mark.parametrize(("scheme", "toy", "openai"), [
    ("light", "rgb(170, 51, 119)", "rgb(11, 122, 95)"),
    ("dark", "rgb(255, 136, 204)", "rgb(79, 209, 165)"),
])
def test_the_live_page_shows_an_agent_it_learnt_from_hello(
    new_page: Any, toy_service: Service, scheme: str, toy: str, openai: str
) -> None:
    page = new_page(color_scheme=scheme)
    refused = watch_csp(page)
    page.goto(toy_service.url + "/")
    expect(page.locator("[data-roundtable] .rt-status")).to_have_attribute("data-status", "connected")
    toy_service.force()

    cards = page.locator('[data-roundtable] .rt-msg[data-agent="toy"]')
    expect(cards).to_have_count(2, timeout=20_000)
    expect(cards.first.locator(".rt-persona")).to_have_text("Pip")
    assert cards.first.evaluate(BORDER) == toy
    assert page.locator('[data-roundtable] .rt-msg[data-agent="openai"]').first.evaluate(BORDER) == openai
    expect(page.locator('[data-roundtable] .rt-msg[data-agent="unknown"]')).to_have_count(0)
    expect(page.locator(".rt-page-footer")).to_contain_text("Gemini and Toy take turns")
    assert refused == []


def test_the_permalink_colours_an_agent_from_the_registry(new_page: Any, toy_service: Service) -> None:
    conversation_id = toy_service.force()["conversation"]["id"]
    toy_service.wait_for_state("countdown", timeout=20)
    page = new_page(color_scheme="light", java_script_enabled=False)  # the server's page alone
    refused = watch_csp(page)
    page.goto(f"{toy_service.url}/c/{conversation_id}")

    card = page.locator('.rt-msg[data-agent="toy"]').first
    expect(card.locator(".rt-persona")).to_have_text("Pip")
    assert card.evaluate(BORDER) == "rgb(170, 51, 119)"
    assert refused == []
