"""Alerts and metrics of the real service (``python run.py``) with the four fake providers
and a real webhook receiver, each on a free port."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes.server import Received, Script
from tests.fakes.webhook_server import FakeWebhook
from tests.service import Service
from tests.web.test_provider_round import KEYS, Fakes, fakes, play_round, rows  # noqa: F401


def failing(_: Received) -> Script:
    return Script(500, {"error": {"message": "down", "type": "server_error", "code": None}})


@pytest.fixture
def receiver() -> Iterator[FakeWebhook]:
    server = FakeWebhook().start()
    yield server
    server.stop()


def scrape(service: Service) -> tuple[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    """(the Content-Type header, {(sample name, sorted labels): value})."""
    with urllib.request.urlopen(service.url + "/metrics", timeout=10) as response:
        content_type = response.headers["Content-Type"]
        text = response.read().decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    return content_type, samples


def total(samples: dict, name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in samples.items()
               if n == name and all(dict(ls).get(k) == w for k, w in labels.items()))


def test_counters_move_as_a_round_runs(tmp_path: Path, fakes: Fakes) -> None:  # noqa: F811
    with Service(tmp_path, fakes.env()) as service:
        content_type, before = scrape(service)
        play_round(service)
        _, after = scrape(service)

    assert content_type.count("charset=utf-8") == 1, content_type
    assert total(before, "roundtable_messages_total") == 0
    assert total(before, "roundtable_provider_calls_total", provider="openai", outcome="ok") == 0
    assert total(after, "roundtable_messages_total") == 16
    for name in KEYS:
        assert total(after, "roundtable_messages_total", agent=name, provider=name, source="api") == 4
        assert total(after, "roundtable_provider_calls_total", provider=name, outcome="ok") == 4
        assert total(after, "roundtable_tokens_total", provider=name, kind="prompt") > 0
        assert total(after, "roundtable_tokens_total", provider=name, kind="completion") > 0
        assert total(after, "roundtable_cost_usd_total", provider=name) > 0
        assert total(after, "roundtable_provider_latency_seconds_count", provider=name) == 4
    assert total(after, "roundtable_rounds_total", outcome="complete") == 1
    assert total(after, "roundtable_reveal_lateness_seconds_count") == 16
    assert total(after, "roundtable_websocket_connections_opened_total") >= 1
    assert total(after, "roundtable_websocket_connections_closed_total") >= 1
    assert total(after, "roundtable_fallbacks_total") == 0
    assert total(after, "roundtable_leader") == 1
    assert total(after, "roundtable_provider_circuit", provider="openai", state="closed") == 1
    assert total(after, "roundtable_state", state="complete") + total(
        after, "roundtable_state", state="countdown") == 1
    assert total(after, "roundtable_budget_spent_today_usd", scope="total") == pytest.approx(
        sum(total(after, "roundtable_cost_usd_total", provider=n) for n in KEYS), abs=1e-5)


def test_a_failing_provider_opens_its_circuit_and_the_webhook_hears_it(
    tmp_path: Path, fakes: Fakes, receiver: FakeWebhook  # noqa: F811
) -> None:
    fakes.openai.answer = failing  # type: ignore[method-assign]
    env = {**fakes.env(), "ALERT_WEBHOOK_URL": receiver.url + "/hooks/secret-path-123",
           "CIRCUIT_FAILURE_THRESHOLD": "2"}
    with Service(tmp_path, env) as service:
        play_round(service)
        [alert] = receiver.wait_for("circuit_open")
        _, samples = scrape(service)
        logs = service.logs()

    assert alert["provider"] == "openai" and "openai's circuit opened" in alert["text"]
    assert "500" in alert["last_error"]
    assert total(samples, "roundtable_fallbacks_total", agent="openai", reason="server_error") >= 1
    assert total(samples, "roundtable_fallbacks_total", agent="openai", reason="circuit_open") >= 1
    assert total(samples, "roundtable_provider_calls_total", provider="openai", outcome="http") >= 2
    assert total(samples, "roundtable_alerts_total", kind="circuit_open") == 1
    assert "secret-path-123" not in logs
    for body in receiver.alerts():
        assert not any(key in str(body) for key in KEYS.values())


def test_a_hung_webhook_does_not_delay_a_reveal(tmp_path: Path, fakes: Fakes) -> None:  # noqa: F811
    hung = FakeWebhook(hang=True).start()
    fakes.openai.answer = failing  # type: ignore[method-assign]
    grace = 3.0
    env = {**fakes.env(), "ALERT_WEBHOOK_URL": hung.url, "CIRCUIT_FAILURE_THRESHOLD": "1",
           "GENERATION_GRACE_SECONDS": str(grace)}
    try:
        with Service(tmp_path, env) as service:
            messages = play_round(service)
            hung.wait_for("circuit_open")  # it arrived, and the receiver never answers it
    finally:
        hung.stop()
    assert len(messages) == 16
    stored = rows(service.database, "SELECT * FROM messages ORDER BY seq")
    # Had the alert blocked the agent's thread, the Supervisor would have had to rescue
    # Orion's message with a template past its deadline.
    assert not any("did not answer in time" in (m["fallback_reason"] or "") for m in stored)
    assert all(m["revealed_at"] - m["planned_at"] <= grace * 1000 for m in stored)
    orion = [m for m in stored if m["agent"] == "openai"]
    assert all(m["source"] == "fallback" for m in orion)


def test_reaching_the_daily_budget_is_alerted_once(
    tmp_path: Path, fakes: Fakes, receiver: FakeWebhook  # noqa: F811
) -> None:
    env = {**fakes.env(), "ALERT_WEBHOOK_URL": receiver.url, "DAILY_BUDGET_USD": "0.000001"}
    with Service(tmp_path, env) as service:
        messages = play_round(service)
        [alert] = receiver.wait_for("budget_reached")
        _, samples = scrape(service)
    assert alert["scope"] == "total" and alert["limit_usd"] == 0.000001
    assert "agents answer from templates until UTC midnight" in alert["text"]
    assert messages[0]["source"] == "api"
    assert [m["source"] for m in messages[1:]] == ["template"] * 15
    assert total(samples, "roundtable_fallbacks_total", reason="budget") == 15
    assert total(samples, "roundtable_budget_limit_usd", scope="total") == 0.000001
