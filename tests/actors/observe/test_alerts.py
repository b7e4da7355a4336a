"""observe.alerts against a real HTTP receiver on a free port: body, retries, de-dup,
and a hung receiver that costs the caller nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from actors.observe import alerts
from actors.observe.alerts import Alert, AlertSender
from tests.fakes.server import Script
from tests.fakes.webhook_server import FakeWebhook


@pytest.fixture
def receiver() -> Iterator[FakeWebhook]:
    server = FakeWebhook().start()
    yield server
    server.stop()


def test_an_alert_is_a_slack_style_json_post_with_fields(receiver: FakeWebhook) -> None:
    alerts.configure(receiver.url + "/services/T0/B0/x")
    try:
        alerts.emit("circuit_open", "openai's circuit opened", key="openai", provider="openai")
        [body] = receiver.wait_for("circuit_open")
    finally:
        alerts.shutdown()
    assert body["text"] == "Roundtable: openai's circuit opened"
    assert body["provider"] == "openai" and isinstance(body["at"], int) and ":" in body["instance"]
    request = receiver.requests[0]
    assert request.method == "POST" and request.path == "/services/T0/B0/x"
    assert request.header("content-type") == "application/json"


def test_a_failed_post_is_retried_with_backoff(receiver: FakeWebhook) -> None:
    receiver.enqueue(Script(500, raw="no"), Script(503, raw="no"))
    sender = AlertSender(receiver.url, backoff=0.01)
    try:
        sender.submit(Alert("circuit_open", "openai's circuit opened", "openai"))
        receiver.wait_for("circuit_open", count=3)
    finally:
        sender.close()
    assert len(receiver.requests) == 3  # 500, 503, then 200: no fourth try


def test_the_same_alert_is_sent_once_per_window(receiver: FakeWebhook) -> None:
    sender = AlertSender(receiver.url, dedup_seconds=300)
    try:
        assert sender.submit(Alert("circuit_open", "a", "openai"))
        assert not sender.submit(Alert("circuit_open", "a again", "openai"))
        assert sender.submit(Alert("circuit_open", "b", "gemini"))
        assert sender.submit(Alert("circuit_closed", "a closed", "openai"))
        receiver.wait_for("circuit_closed")
        receiver.wait_for("circuit_open", count=2)
    finally:
        sender.close()
    assert [a["text"] for a in receiver.alerts("circuit_open")] == ["Roundtable: a", "Roundtable: b"]


def test_a_hung_receiver_never_blocks_the_caller() -> None:
    hung = FakeWebhook(hang=True).start()
    sender = AlertSender(hung.url, queue_size=5, dedup_seconds=0, timeout=30)
    try:
        started = time.monotonic()
        accepted = [sender.submit(Alert("budget_reached", f"alert {i}", str(i))) for i in range(50)]
        elapsed = time.monotonic() - started
        # The first is in flight (hung), five wait in the queue, the rest are dropped.
        assert accepted.count(True) <= 6 and accepted[0]
        assert elapsed < 1.0, f"submitting 50 alerts took {elapsed:.2f} s"
        hung.wait_for("budget_reached")  # the sender is stuck on it; the caller is not
    finally:
        hung.stop()
        sender.close(timeout=0.1)


def test_without_a_url_emit_does_nothing() -> None:
    alerts.configure(None)
    alerts.emit("circuit_open", "nobody listens")  # no error, no thread
