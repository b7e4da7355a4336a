"""observe.events: fallback reason codes, and the alerts events raise."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from actors.observe import alerts, events
from actors.providers.resilience import CircuitBreaker
from tests.fakes.webhook_server import FakeWebhook
from tests.service import ROOT


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        ("anthropic: 529 overloaded_error after 3 tries; openai: circuit open", "server_error"),
        ("openai: 429 (slow down); retry-after 60s is past the deadline", "rate_limited"),
        ("openai: 401 auth (invalid API key)", "auth"),
        ("gemini: 400 (bad request)", "client_error"),
        ("openai: timeout (timed out)", "timeout"),
        ("perplexity: quality (rejected: near-duplicate)", "quality"),
        ("openai: no API key; anthropic: no API key", "no_key"),
        ("openai: circuit open", "circuit_open"),
        ("daily budget reached", "budget"),
        ("anthropic: its daily budget reached", "provider_budget"),
        ("openai: agent did not answer in time", "agent_stuck"),
        ("openai: too_large (reply over 65536 bytes, cut off)", "too_large"),
        ("anthropic: moderation flagged (harassment); openai: circuit open", "moderation_flagged"),
        ("openai: moderation unavailable (no time left): reply withheld", "moderation_unavailable"),
        ("something new", "other"),
        (None, "other"),
    ],
)
def test_fallback_codes_are_few_and_fixed(reason: str | None, code: str) -> None:
    assert events.fallback_code(reason) == code


class Clock:
    t = 1000.0

    def now(self) -> float:
        return self.t


def test_the_breaker_says_when_it_opens_and_closes() -> None:
    clock = Clock()
    breaker = CircuitBreaker(2, 10.0, clock)
    assert breaker.record_failure() is False
    assert breaker.record_failure() is True  # opened
    assert breaker.record_failure() is False  # already open: only extended
    clock.t += 11  # half-open: the probe fails and it opens again
    assert breaker.allow() and breaker.record_failure() is True
    clock.t += 11
    assert breaker.allow() and breaker.record_success() is True  # closed
    assert breaker.record_success() is False


@pytest.fixture
def receiver() -> Iterator[FakeWebhook]:
    server = FakeWebhook().start()
    alerts.configure(server.url)
    yield server
    alerts.shutdown()
    server.stop()


def test_round_and_budget_events_alert(receiver: FakeWebhook) -> None:
    events.round_ended(41, "complete", "Tides", ["api", "template"])
    events.round_ended(42, "complete", "Bridges", ["template"] * 16)
    events.budget_reached("total", 5.0123, 5.0)
    events.database_changed(False, "save message: database is locked")
    events.database_changed(True, "save message")
    [templates] = receiver.wait_for("round_all_templates")
    assert templates["conversation_id"] == 42 and "templates only" in templates["text"]
    [budget] = receiver.wait_for("budget_reached")
    assert budget["scope"] == "total" and budget["limit_usd"] == 5.0
    assert "agents answer from templates" in budget["text"]
    receiver.wait_for("database_failed")
    receiver.wait_for("database_recovered")


def test_the_alert_kinds_documented_are_the_ones_raised() -> None:
    """docs/operations.md's alert table is what an operator routes on: every kind the
    code raises is in it, and nothing in it is a kind that can never be sent."""
    sources = [p for room in ("actors", "web", "storage") for p in (ROOT / room).rglob("*.py")]
    raised = {kind for path in sources
              for kind in re.findall(r"\balert\(\s*\"([a-z_]+)\"", path.read_text())}
    section = (ROOT / "docs" / "operations.md").read_text().split("## Alerts", 1)[1].split("\n## ", 1)[0]
    documented = {kind for line in section.splitlines() if line.startswith("| `")
                  for kind in re.findall(r"`([a-z_]+)`", line.split("|")[1])}
    assert raised and raised == documented
