"""Screenshots for the docs: ``python -m tests.browser.screenshots [visitor|admin]``.

Starts the real service against fake OpenAI, Anthropic, Perplexity and Gemini servers that
answer like the real defaults (the default model names from settings, replies on the
round's topic from ``screenshot_script``), queues the rounds' topics, plays one round so
the countdown has a "last round", then captures the visitor's page in countdown and
active modes (and one message with its details open), the last round's shareable page,
and the admin dashboard during a live round, on a desktop (1280x800) and a phone
(375x667), into docs/screenshots/. With an argument, only that set. Uses Debian's Chromium, like the browser tests.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from playwright.sync_api import expect, sync_playwright

from tests.browser.conftest import DESKTOP, PHONE, launch
from tests.browser.screenshot_script import AI_SUPPORT, FOUR_DAY_WEEK, REPLIES, SOURCES, TOPICS
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.anthropic_server import error as anthropic_error
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.perplexity_server import FakePerplexity
from tests.fakes.server import Received, Script
from tests.registry_views import DEFAULT_MODELS
from tests.service import ADMIN_TOKEN, ROOT, Service

OUT = ROOT / "docs" / "screenshots"


def topic_of(received: Received) -> str:
    """The round's topic, from the system prompt inside any provider's request body."""
    text = json.dumps(received.body, ensure_ascii=False)
    return next((t for t in TOPICS if f"Today's topic: {t}" in text), TOPICS[0])


class OnTopic:
    """One agent's replies: its turns of each round in order, on that round's topic."""

    def __init__(self, agent: str) -> None:
        self.agent = agent
        self.turns: Counter[str] = Counter()

    def __call__(self, received: Received) -> str:
        topic = topic_of(received)
        turn = self.turns[topic]
        self.turns[topic] += 1
        return REPLIES[topic][self.agent][turn % len(REPLIES[topic][self.agent])]


class OnTopicPerplexity(FakePerplexity):
    def __init__(self) -> None:
        super().__init__(model=DEFAULT_MODELS["perplexity"])
        self.write = OnTopic("perplexity")

    def answer(self, received: Received) -> Script:
        return self._refusal(received) or self.completed(
            text=self.write(received), results=SOURCES[topic_of(received)])


class OnTopicGemini(FakeGemini):
    def __init__(self) -> None:
        super().__init__(model_version=DEFAULT_MODELS["gemini"])
        self.write = OnTopic("gemini")

    def answer(self, received: Received) -> Script:
        return self._refusal(received) or self.success(text=self.write(received))


def main(argv: list[str]) -> int:
    sets = set(argv) or {"visitor", "admin"}
    if not sets <= {"visitor", "admin"}:
        print("usage: python -m tests.browser.screenshots [visitor|admin]", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    with (
        FakeOpenAI(reply=OnTopic("openai"), model=DEFAULT_MODELS["openai"]) as openai,
        FakeAnthropic(reply=OnTopic("anthropic"), model=DEFAULT_MODELS["anthropic"]) as anthropic,
        OnTopicPerplexity() as perplexity,
        OnTopicGemini() as gemini,
        tempfile.TemporaryDirectory() as tmp,
    ):
        anthropic.enqueue(anthropic_error(529, "overloaded_error"))  # an error for the dashboard
        env = {
            "ROUND_INTERVAL_SECONDS": "3600",  # an hourly grid: the countdown reads mm:ss
            # A round of about 16 s: long enough to sign in to the dashboard during one.
            "MESSAGE_GAP_MIN_SECONDS": "0.9", "MESSAGE_GAP_MAX_SECONDS": "1.1",
            "COMPLETE_HOLD_SECONDS": "1",
            "DAILY_BUDGET_USD": "0.5", "PERPLEXITY_DAILY_BUDGET_USD": "0.25",  # for the dashboard
            "OPENAI_API_KEY": "sk-fake", "OPENAI_BASE_URL": openai.base_url,
            "ANTHROPIC_API_KEY": "sk-fake", "ANTHROPIC_BASE_URL": anthropic.base_url,
            "PERPLEXITY_API_KEY": "pplx-fake", "PERPLEXITY_BASE_URL": perplexity.url,
            "GEMINI_API_KEY": "gemini-fake", "GEMINI_BASE_URL": gemini.url,
        }
        with Service(Path(tmp), env) as service, sync_playwright() as playwright:
            browser = launch(playwright)
            # The last round, the live one, and one for the dashboard if it needs to force.
            for topic in (FOUR_DAY_WEEK, AI_SUPPORT, AI_SUPPORT):
                status, body = service.request(
                    "POST", "/control", {"action": "queue_topic", "topic": topic},
                    {"Authorization": f"Bearer {ADMIN_TOKEN}"})
                assert status == 200, body
            service.force()  # a first round, so the countdown shows a "last round"
            service.wait_for_state("countdown", timeout=60)
            if "visitor" in sets:
                shoot(browser, service)
            if "admin" in sets:
                shoot_admin(browser, service)
            browser.close()
    print(f"screenshots written to {OUT}")
    return 0


def shoot(browser: Any, service: Service) -> None:
    pages = {}
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        context = browser.new_context(viewport=viewport, reduced_motion="reduce", color_scheme="light")
        page = context.new_page()
        page.goto(service.url + "/")
        expect(page.locator(".rt-status")).to_have_attribute("data-status", "connected")
        expect(page.locator(".rt-last")).to_be_visible()
        page.screenshot(path=OUT / f"countdown-{name}.png")
        pages[name] = page
    shoot_permalink(browser, service)
    service.force()
    for page in pages.values():
        page.wait_for_function("() => document.querySelectorAll('.rt-msg').length >= 6", timeout=30_000)
    for name, page in pages.items():
        page.screenshot(path=OUT / f"active-{name}.png")
    # One card with its details open (a fallback's, when there is one: it says why).
    cards = pages["desktop"].locator(".rt-msg:has(.rt-details)")
    fallback = cards.and_(pages["desktop"].locator('[data-source="fallback"]'))
    card = fallback.first if fallback.count() else cards.first
    card.locator(".rt-details summary").click()
    card.screenshot(path=OUT / "message-details.png")


def shoot_permalink(browser: Any, service: Service) -> None:
    """The last round's shareable page, as rendered by the server (desktop)."""
    newest = service.get("/api/conversations?limit=1")[1]["conversations"][0]
    context = browser.new_context(viewport=DESKTOP, reduced_motion="reduce", color_scheme="light")
    page = context.new_page()
    page.goto(f"{service.url}/c/{newest['id']}")
    expect(page.locator(".rt-msg")).to_have_count(16)
    page.screenshot(path=OUT / "permalink-desktop.png")
    context.close()


def shoot_admin(browser: Any, service: Service) -> None:
    """The dashboard signed in during a live round, after a few admin actions."""
    service.wait_for_state("countdown", timeout=60)  # the visitor shots' round is over
    service.control("pause", token="a-guess-that-is-not-the-token")
    for action in ("pause", "resume"):
        service.control(action)
    service.force()
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        context = browser.new_context(viewport=viewport, reduced_motion="reduce", color_scheme="light")
        page = context.new_page()
        page.goto(service.url + "/control")
        page.get_by_label("Admin token").fill(ADMIN_TOKEN)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("[data-rt-providers] tr")).to_have_count(4)
        expect(page.locator("[data-rt-admin]")).to_have_attribute("data-state", "active")
        # The desktop shot shows the whole dashboard; the phone's its first screen, and
        # then the provider table as it stacks into one card per provider.
        page.screenshot(path=OUT / f"admin-{name}.png", full_page=name == "desktop")
        if name == "phone":
            page.locator("#rt-providers-h").evaluate("heading => heading.scrollIntoView()")
            page.screenshot(path=OUT / "admin-phone-providers.png")
        context.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
