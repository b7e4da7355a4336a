"""A standby's /api/status shows the same spend against budget as the engine's."""

from __future__ import annotations

from pathlib import Path

from actors import wire
from actors.standby import StandbySystem
from settings import Settings
from storage import connect, setup_database, using
from storage.models import ApiCallRecord

NOON = 1_795_996_800.0 + 12 * 3600  # 2026-11-30T12:00:00Z


class Clock:
    def now(self) -> float:
        return NOON


def test_a_standby_reports_budgets_and_tokens_from_the_engine_s_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'roundtable.db'}"
    db = connect(url)
    setup_database(db)
    with using(db):
        for provider, cost, at in (("openai", 0.4, NOON - 60), ("openai", 0.2, NOON - 30),
                                   ("gemini", 0.1, NOON - 10), ("gemini", 9.0, NOON - 86_400)):
            ApiCallRecord.insert(provider=provider, model="m", ok=True, latency_ms=5, cost_usd=cost,
                                 prompt_tokens=100, completion_tokens=10, at=round(at * 1000)).execute()
    settings = Settings.from_env({"DATABASE_URL": url, "DAILY_BUDGET_USD": "2",
                                  "OPENAI_DAILY_BUDGET_USD": "0.5"})
    standby = StandbySystem(settings, db, Clock())
    try:
        status = wire.status(standby.status())
    finally:
        standby.close()
    budget = status["budget"]
    assert budget["spent_today_usd"] == 0.7 and budget["remaining_usd"] == 1.3
    assert budget["providers"]["openai"]["reached"] is True
    assert budget["providers"]["gemini"]["spent_today_usd"] == 0.1
    assert status["today"]["prompt_tokens"] == 300 and status["today"]["completion_tokens"] == 30
    assert status["role"] == "standby"
