"""Issue 10, money: per-message details on every operator surface, spend against budgets.

One real round of the real service against the four fake providers, with a tiny
per-provider budget for Anthropic so that its own cap is reached after its first answer.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.service import Service
from tests.web.test_provider_round import KEYS, Fakes, fakes, play_round  # noqa: F401

DETAILS = ("latency_ms", "prompt_tokens", "completion_tokens", "cost_usd", "fallback_reason",
           "cost_estimated")


@pytest.fixture
def played(tmp_path: Path, fakes: Fakes) -> Iterator[tuple[Service, list[dict]]]:  # noqa: F811
    env = {**fakes.env(), "ANTHROPIC_DAILY_BUDGET_USD": "0.000001", "DAILY_BUDGET_USD": "50"}
    with Service(tmp_path, env) as service:
        yield service, play_round(service)


def test_details_of_every_message_on_every_surface(played: tuple[Service, list[dict]]) -> None:
    service, events = played
    conversation_id = events[0]["conversation_id"]
    detail = service.get(f"/api/conversations/{conversation_id}")[1]
    exported = service.get(f"/api/conversations/{conversation_id}/export?format=json")[1]
    markdown = service.get(f"/api/conversations/{conversation_id}/export?format=md")[1]

    for surface in (events, detail["messages"], exported["messages"]):
        assert len(surface) == 16
        for message in surface:
            assert set(DETAILS) <= set(message), message
            if message["source"] != "template":
                assert message["prompt_tokens"] > 0 and message["completion_tokens"] > 0
                assert message["cost_usd"] > 0 and message["latency_ms"] >= 0
    by_seq = {m["seq"]: m for m in detail["messages"]}
    for event in events:
        assert {k: event[k] for k in DETAILS} == {k: by_seq[event["seq"]][k] for k in DETAILS}

    # The fakes' model names are unknown to every price source, except Perplexity's
    # perplexity/sonar: those costs are the providers' fallback rates, and say so.
    for message in detail["messages"]:
        assert message["cost_estimated"] is (message["provider"] != "perplexity"), message
    assert "(estimated)" in markdown
    clio = [m for m in detail["messages"] if m["agent"] == "anthropic"]
    assert clio[0]["source"] == "api" and clio[0]["fallback_reason"] is None
    for later in clio[1:]:  # Anthropic's own budget is spent: it is skipped, honestly
        assert later["source"] == "fallback" and later["provider"] != "anthropic"
        assert later["fallback_reason"] == "anthropic: its daily budget reached"
    first = detail["messages"][0]
    assert (f"{first['prompt_tokens']} prompt + {first['completion_tokens']} completion tokens · "
            f"${first['cost_usd']:.6f}") in markdown
    assert "Fallback reason: `anthropic: its daily budget reached`" in markdown
    text = str(detail) + str(exported) + markdown + str(events)
    assert not any(key in text for key in KEYS.values())


def test_status_shows_spend_against_budgets(played: tuple[Service, list[dict]]) -> None:
    service, _ = played
    status = service.get("/api/status")[1]
    budget = status["budget"]
    assert budget["daily_limit_usd"] == 50 and 0 < budget["spent_today_usd"] < 50
    assert budget["remaining_usd"] == pytest.approx(50 - budget["spent_today_usd"], abs=1e-6)
    assert budget["reached"] is False
    anthropic = budget["providers"]["anthropic"]
    assert anthropic["daily_limit_usd"] == 0.000001 and anthropic["reached"] is True
    assert anthropic["remaining_usd"] == 0
    assert budget["providers"]["openai"]["daily_limit_usd"] is None
    assert budget["providers"]["openai"]["spent_today_usd"] > 0
    spent = sum(p["spent_today_usd"] for p in budget["providers"].values())
    assert budget["spent_today_usd"] == pytest.approx(spent, abs=1e-5)
    health = status["providers"]["openai"]
    assert health["prompt_tokens_today"] > 0 and health["completion_tokens_today"] > 0
    assert health["p95_latency_ms"] >= health["p50_latency_ms"] >= 0
    assert health["keys"] == 1 and health["keys_available"] == 1
    assert status["today"]["prompt_tokens"] == sum(
        p["prompt_tokens_today"] for p in status["providers"].values()
    )


def test_status_says_whether_each_model_is_offered(tmp_path: Path, fakes: Fakes) -> None:  # noqa: F811
    fakes.gemini.offered = [{"id": "gemini-2.5-flash"}]  # not the configured 3.x Flash
    env = {**fakes.env(), "OPENAI_MODEL": "gpt-5-mini"}
    fakes.openai.offered = [{"id": "gpt-5-mini", "shutdown_date": "2026-12-11"}]
    with Service(tmp_path, env) as service:
        deadline = time.monotonic() + 20
        while True:  # the check runs beside start-up, never before it
            providers = service.get("/api/status")[1]["providers"]
            checks = {name: p["model_check"] for name, p in providers.items()}
            if all(c["status"] != "unchecked" for c in checks.values()) or time.monotonic() > deadline:
                break
            time.sleep(0.05)  # polling the status for a condition, bounded by the deadline
        logs = service.logs()
    assert checks["anthropic"]["status"] == "ok" and checks["perplexity"]["status"] == "ok"
    assert checks["gemini"]["status"] == "unknown"
    assert checks["openai"]["status"] in ("retiring", "retired")  # by today's date
    assert "2026-12-11" in checks["openai"]["detail"]
    assert isinstance(checks["openai"]["checked_at"], int)
    assert "gemini model gemini-3.8-flash: unknown" in logs
    assert fakes.gemini.listings and not fakes.gemini.requests
