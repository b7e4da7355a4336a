"""Hostile providers in a whole round: the real service and SDKs against fakes that trickle
their answers or stream 30 MB (issue 7, findings 1 and 4)."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.server import Oversize, Trickle
from tests.service import Service
from tests.web.test_provider_round import Fakes, fakes, play_round, rows

__all__ = ["fakes"]  # the fixture, shared with test_provider_round


def _peak_rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))


def test_trickling_and_oversized_providers_fall_back_and_are_recorded(
    tmp_path: Path, fakes: Fakes
) -> None:
    fakes.anthropic.mode = Trickle(0.05)  # headers at once, then a byte every 50 ms
    fakes.gemini.mode = Oversize(30 * 1024 * 1024)
    grace = 1.5
    with Service(tmp_path, {**fakes.env(), "GENERATION_GRACE_SECONDS": str(grace)}) as service:
        assert service.process is not None
        peak_before = _peak_rss_kib(service.process.pid)
        messages = play_round(service)
        peak_after = _peak_rss_kib(service.process.pid)

    assert [m["seq"] for m in messages] == list(range(1, 17))
    hostile = [m for m in messages if m["agent"] in ("anthropic", "gemini")]
    # A healthy provider stood in every time: neither an API answer nor a template.
    assert all(m["source"] == "fallback" and m["provider"] in ("openai", "perplexity") for m in hostile)
    stored = rows(service.database, "SELECT * FROM messages ORDER BY seq")
    assert all(m["revealed_at"] - m["planned_at"] <= grace * 1000 + 1500 for m in stored)
    reasons = {m["agent"]: m["fallback_reason"] for m in stored if m["seq"] <= 4}
    assert reasons["anthropic"].startswith("anthropic: timeout")
    assert reasons["gemini"].startswith("gemini: too_large")

    calls = rows(service.database, "SELECT * FROM api_calls WHERE ok = 0")
    assert {c["error_class"] for c in calls if c["provider"] == "anthropic"} == {"timeout"}
    assert {c["error_class"] for c in calls if c["provider"] == "gemini"} == {"too_large"}
    # Three failures in a row open each circuit: later messages skip the API at once.
    assert sum(c["provider"] == "anthropic" for c in calls) == 3
    assert sum(c["provider"] == "gemini" for c in calls) == 3
    assert any("circuit open" in (m["fallback_reason"] or "") for m in stored if m["agent"] == "gemini")
    # Three 30 MB answers never reached the process's memory.
    assert peak_after - peak_before < 60 * 1024, (peak_before, peak_after)
