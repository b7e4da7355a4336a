"""Browser-test fixtures: Debian's Chromium driven by Playwright (never a downloaded browser).

One browser per session; a fresh context (cookies, storage, viewport) per test. Tests
wait on page conditions with Playwright's ``expect``/``wait_for_*`` and timeouts, never on
sleeps. The whole folder is skipped when Chromium or Playwright is missing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.service import Service

CHROMIUM = os.environ.get("ROUNDTABLE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 667}

sync_api = pytest.importorskip("playwright.sync_api")
if not Path(CHROMIUM).exists():  # pragma: no cover - depends on the machine
    # Like PostgreSQL: a developer without Chromium gets a skip with the reason; CI,
    # which is meant to prove the page works, fails instead.
    if os.environ.get("CI") == "true":
        raise pytest.UsageError(f"CI=true and no Chromium at {CHROMIUM} (make browser-deps)")
    pytest.skip(f"no Chromium at {CHROMIUM} (make browser-deps)", allow_module_level=True)


def launch(playwright: Any) -> Any:
    """Debian's Chromium, headless, with no background traffic."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Module scope, not session: Playwright's sync API keeps an asyncio loop running on
    # the main thread while it lives, and tests after it that use asyncio.run would fail.
    with sync_api.sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Any]:
    """``new_page(viewport=..., **context_options)``: a page in its own context; all closed after."""
    contexts: list[Any] = []
    errors: list[str] = []

    def make(viewport: dict[str, int] | None = None, **options: Any) -> Any:
        context = browser.new_context(viewport=viewport or DESKTOP, **options)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.on("pageerror", lambda error: errors.append(str(error)))
        return page

    yield make
    for context in contexts:
        context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


#: A daily grid keeps the next scheduled slot far away, so only forced rounds run in a test.
STEADY = {"ROUND_INTERVAL_SECONDS": "86400"}


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    """The real service with tiny timings and no provider keys (every message a template)."""
    with Service(tmp_path, STEADY) as running:
        yield running
