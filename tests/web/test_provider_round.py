"""Whole rounds with the four real SDKs against the four fake provider servers.

The service runs as a subprocess (``python run.py``) with each provider's base URL
pointed at its fake on 127.0.0.1; the fakes speak each wire format, errors included.
"""

from __future__ import annotations

import itertools
import random
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.perplexity_server import FakePerplexity
from tests.fakes.server import Received, Script
from tests.service import ROOT, Service
from tests.web.conftest import Client, is_state

KEYS = {
    "openai": "sk-openai-TOPSECRET-1111",
    "anthropic": "sk-ant-TOPSECRET-2222",
    "perplexity": "pplx-TOPSECRET-3333",
    "gemini": "AIza-TOPSECRET-4444",
}
VOCABULARY = (
    "pricing adoption budgets latency teams customers margins regulation pilots evidence "
    "incentives workflows vendors privacy training metrics churn onboarding roadmap risk "
    "automation audits cities schools hospitals logistics retail energy farms insurers "
    "banks startups unions suppliers regulators investors designers engineers nurses "
    "drivers teachers analysts founders managers auditors translators researchers "
    "contracts standards benchmarks dashboards surveys forecasts prototypes experiments "
    "savings delays outages recalls lawsuits subsidies tariffs exports imports wages"
).split()
_replies = itertools.count(1)


def fresh_text(_: Any = None) -> str:
    """A new 45-word reply each call: no two share a phrase, so none is a near-duplicate."""
    rng = random.Random(next(_replies))
    return "We should weigh " + " ".join(rng.sample(VOCABULARY, 42)) + "."


class VaryingPerplexity(FakePerplexity):
    def answer(self, received: Received) -> Script:
        return self._refusal(received) or self.completed(text=fresh_text())


class VaryingGemini(FakeGemini):
    def answer(self, received: Received) -> Script:
        return self._refusal(received) or self.success(text=fresh_text())


class Fakes:
    def __init__(self) -> None:
        self.openai = FakeOpenAI(reply=fresh_text)
        self.anthropic = FakeAnthropic(reply=fresh_text)
        self.perplexity = VaryingPerplexity()
        self.gemini = VaryingGemini()
        self.all = {"openai": self.openai, "anthropic": self.anthropic,
                    "perplexity": self.perplexity, "gemini": self.gemini}

    def env(self) -> dict[str, str]:
        return {
            "OPENAI_API_KEY": KEYS["openai"], "OPENAI_BASE_URL": self.openai.base_url,
            "ANTHROPIC_API_KEY": KEYS["anthropic"], "ANTHROPIC_BASE_URL": self.anthropic.base_url,
            "PERPLEXITY_API_KEY": KEYS["perplexity"], "PERPLEXITY_BASE_URL": self.perplexity.url,
            "GEMINI_API_KEY": KEYS["gemini"], "GEMINI_BASE_URL": self.gemini.url,
        }


@pytest.fixture
def fakes() -> Iterator[Fakes]:
    servers = Fakes()
    for server in servers.all.values():
        server.start()
    yield servers
    for server in servers.all.values():
        server.stop()


def rows(database: Path, sql: str) -> list[dict[str, Any]]:
    with sqlite3.connect(database) as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute(sql)]


def play_round(service: Service) -> list[dict[str, Any]]:
    client = Client(service.ws_url)
    client.next()
    service.force()
    client.until(is_state("complete"), timeout=60)
    client.close()
    return client.messages()


def test_a_full_round_against_the_four_fakes(tmp_path: Path, fakes: Fakes) -> None:
    with Service(tmp_path, fakes.env()) as service:
        messages = play_round(service)
        status = service.get("/api/status")[1]
        service.restart()  # today's calls and cost are read back from the database
        status_after_restart = service.get("/api/status")[1]
        logs = service.logs()

    assert [m["seq"] for m in messages] == list(range(1, 17))
    for message in messages:
        assert message["source"] == "api" and message["provider"] == message["agent"]
    assert {m["model"] for m in messages if m["agent"] == "anthropic"} == {"claude-fake"}
    for message in messages:
        cited = message["agent"] == "perplexity"
        assert bool(message["citations"]) is cited
        assert all(c["url"].startswith("https://") for c in message["citations"])

    # What each fake received: its model and key, the persona, the earlier speakers' words.
    for name, server in fakes.all.items():
        assert len(server.requests) == 4, name
    first_anthropic = fakes.anthropic.requests[0]
    assert "Clio" in first_anthropic.body["system"]
    assert messages[0]["content"] in str(first_anthropic.body["messages"])
    assert "Orion" in str(first_anthropic.body["messages"])
    assert fakes.gemini.requests[0].header("x-goog-api-key") == KEYS["gemini"]
    assert fakes.perplexity.requests[0].body["tools"] == [{"type": "web_search"}]

    stored = rows(service.database, "SELECT * FROM messages ORDER BY seq")
    assert all(m["prompt_tokens"] > 0 and m["completion_tokens"] > 0 for m in stored)
    assert all(m["cost_usd"] > 0 for m in stored)
    calls = rows(service.database, "SELECT * FROM api_calls")
    assert len(calls) == 16 and all(c["ok"] for c in calls)
    assert {c["provider"] for c in calls} == set(KEYS)
    assert all(status["providers"][name]["calls_today"] == 4 for name in KEYS)
    assert status["today"]["cost_usd"] > 0
    assert status_after_restart["today"] == status["today"]

    # Keys never reach logs, the database or any response.
    database_bytes = service.database.read_bytes()
    for key in KEYS.values():
        assert key not in logs and key not in str(status)
        assert key.encode() not in database_bytes


def test_all_four_down_gives_sixteen_templates_on_time(tmp_path: Path, fakes: Fakes) -> None:
    def broken(_: Received) -> Script:
        return Script(500, {"error": {"message": "down", "type": "server_error", "code": None}})

    for server in fakes.all.values():
        server.answer = broken  # type: ignore[method-assign]
    grace = 1.0
    with Service(tmp_path, {**fakes.env(), "GENERATION_GRACE_SECONDS": str(grace)}) as service:
        messages = play_round(service)
    assert [m["source"] for m in messages] == ["template"] * 16
    stored = rows(service.database, "SELECT * FROM messages ORDER BY seq")
    assert all("500" in (m["fallback_reason"] or "") for m in stored[:1])
    # On time: never later than its deadline (planned + grace) plus a little slack.
    assert all(m["revealed_at"] - m["planned_at"] <= grace * 1000 + 1500 for m in stored)
    failed = rows(service.database, "SELECT * FROM api_calls WHERE ok = 0")
    # Every call failed with the 500 it got; on a loaded machine a retry may instead run
    # into its message's deadline, which is recorded as a timeout (no status).
    assert failed and any(c["status_code"] == 500 for c in failed)
    assert all(c["status_code"] == 500 or c["error_class"] == "timeout" for c in failed), failed


def test_a_hanging_provider_costs_one_fallback_and_the_round_stays_on_time(
    tmp_path: Path, fakes: Fakes
) -> None:
    fakes.anthropic.answer = lambda received: Script(hang_seconds=30)  # type: ignore[method-assign]
    grace = 1.5
    with Service(tmp_path, {**fakes.env(), "GENERATION_GRACE_SECONDS": str(grace)}) as service:
        messages = play_round(service)
    clio = [m for m in messages if m["agent"] == "anthropic"]
    assert all(m["source"] == "fallback" and m["provider"] != "anthropic" for m in clio)
    assert all(m["source"] == "api" for m in messages if m["agent"] != "anthropic")
    stored = rows(service.database, "SELECT * FROM messages WHERE agent = 'anthropic'")
    reasons = [m["fallback_reason"] or "" for m in stored]
    assert reasons[0].startswith("anthropic: timeout")
    # After three timeouts the circuit opens and Clio goes straight to her fallback.
    assert all(r.startswith(("anthropic: timeout", "anthropic: circuit open")) for r in reasons)
    assert all(m["revealed_at"] - m["planned_at"] <= grace * 1000 + 1500 for m in stored)


def test_check_keys_prints_a_table_and_fails_on_a_bad_key(fakes: Fakes) -> None:
    fakes.anthropic.api_key = "the-right-key"  # so ours is answered with 401
    env = {
        "PATH": "/usr/bin:/bin",
        "OPENAI_API_KEY": KEYS["openai"], "OPENAI_BASE_URL": fakes.openai.base_url,
        "ANTHROPIC_API_KEY": KEYS["anthropic"], "ANTHROPIC_BASE_URL": fakes.anthropic.base_url,
    }
    result = subprocess.run([sys.executable, "run.py", "check-keys", "--env-file", "/nonexistent"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    assert "ok" in lines["openai"]
    assert "401" in lines["anthropic"]
    assert "not configured" in lines["gemini"] and "not configured" in lines["perplexity"]
    for key in KEYS.values():
        assert key not in result.stdout + result.stderr


def test_shutdown_does_not_wait_for_a_hung_provider_call(tmp_path: Path, fakes: Fakes) -> None:
    fakes.openai.answer = lambda received: Script(hang_seconds=60)  # type: ignore[method-assign]
    env = {**fakes.env(), "GENERATION_GRACE_SECONDS": "30"}
    service = Service(tmp_path, env).start()
    service.force()
    deadline = time.monotonic() + 10
    while not fakes.openai.requests and time.monotonic() < deadline:
        time.sleep(0.01)  # polling the fake for a condition, bounded
    assert fakes.openai.requests, "Orion's call never reached the fake"
    started = time.monotonic()
    assert service.stop(timeout=20) == 0
    assert time.monotonic() - started < 8  # not the 30 s a hung call could take
    assert "Traceback" not in service.logs()
