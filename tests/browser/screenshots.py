"""Screenshots for the docs: ``python -m tests.browser.screenshots [visitor|admin]``.

Starts the real service against fake OpenAI, Anthropic and Perplexity servers (Gemini has
no key, so its turns show the fallback badge), plays one round so the countdown has a
"last round", then captures the visitor's page in countdown and active modes and the
admin dashboard during a live round, on a desktop (1280x800) and a phone (375x667), into
docs/screenshots/. With an argument, only that set. Uses Debian's Chromium, like the
browser tests.
"""

from __future__ import annotations

import itertools
import sys
import tempfile
from pathlib import Path
from typing import Any

from playwright.sync_api import expect, sync_playwright

from tests.browser.conftest import DESKTOP, PHONE, launch
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.anthropic_server import error as anthropic_error
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.perplexity_server import FakePerplexity
from tests.service import ADMIN_TOKEN, ROOT, Service

OUT = ROOT / "docs" / "screenshots"

ORION = (
    "Start with who carries the risk. Telling customers they are talking to an AI costs a "
    "company one sentence, and it lets people decide how much to trust what they hear.",
    "Scout's numbers are useful, but a label only helps if it is shown before the "
    "conversation starts, not buried in the terms of service.",
    "I would settle for a simple rule: disclose at the start, and offer a human on request.",
    "We agree more than it seems: the disagreement is about timing, not about honesty.",
)
CLIO = (
    "I agree with Orion on the principle, but the harder case is the blended one, where a "
    "person edits what a model drafted. Is that still a conversation with an AI?",
    "Lyra's point about fatigue is real; warnings everywhere teach people to ignore them.",
    "Then disclosure should be specific: say what the system does, not just that it exists.",
    "A rule that nobody can audit is a slogan. Who checks that the label is true?",
)
SCOUT = (
    "Surveys point the same way: most customers say they want to know when they are "
    "chatting with a bot [1], and trust drops sharply when they find out later [2].",
    "Regulators are moving too: several jurisdictions now require chatbot disclosure [1].",
    "In the studies I found, a short upfront notice barely changed satisfaction scores [2].",
    "Audits exist for accessibility and privacy; a disclosure audit could copy them [1].",
)


def cycle(texts: tuple[str, ...]) -> Any:
    turn = itertools.count()
    return lambda _: texts[next(turn) % len(texts)]


def main(argv: list[str]) -> int:
    sets = set(argv) or {"visitor", "admin"}
    if not sets <= {"visitor", "admin"}:
        print("usage: python -m tests.browser.screenshots [visitor|admin]", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    with (
        FakeOpenAI(reply=cycle(ORION)) as openai,
        FakeAnthropic(reply=cycle(CLIO)) as anthropic,
        FakePerplexity() as perplexity,
        tempfile.TemporaryDirectory() as tmp,
    ):
        perplexity.enqueue(*(perplexity.completed(text) for text in SCOUT * 8))
        anthropic.enqueue(anthropic_error(529, "overloaded_error"))  # an error for the dashboard
        env = {
            "ROUND_INTERVAL_SECONDS": "3600",  # an hourly grid: the countdown reads mm:ss
            "MESSAGE_GAP_MIN_SECONDS": "0.4", "MESSAGE_GAP_MAX_SECONDS": "0.5",
            "COMPLETE_HOLD_SECONDS": "1",
            "OPENAI_API_KEY": "sk-fake", "OPENAI_BASE_URL": openai.base_url,
            "ANTHROPIC_API_KEY": "sk-fake", "ANTHROPIC_BASE_URL": anthropic.base_url,
            "PERPLEXITY_API_KEY": "pplx-fake", "PERPLEXITY_BASE_URL": perplexity.url,
        }
        with Service(Path(tmp), env) as service, sync_playwright() as playwright:
            browser = launch(playwright)
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
    service.force()
    for page in pages.values():
        page.wait_for_function("() => document.querySelectorAll('.rt-msg').length >= 6", timeout=30_000)
    for name, page in pages.items():
        page.screenshot(path=OUT / f"active-{name}.png")


def shoot_admin(browser: Any, service: Service) -> None:
    """The dashboard signed in during a live round, after a few admin actions."""
    service.control("pause", token="a-guess-that-is-not-the-token")
    for action in ("pause", "resume"):
        service.control(action)
    if service.get("/api/countdown")[1]["state"] != "active":
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
