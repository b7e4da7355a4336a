"""The UTC day, on the injected clock: one helper for every "today"."""

from __future__ import annotations

from pathlib import Path

from actors import wire
from actors.clock import DAY_SECONDS, utc_day_start
from actors.standby import StandbySystem
from settings import Settings
from storage import connect, setup_database, using
from storage.models import ApiCallRecord

MIDNIGHT = 1_796_083_200.0  # 2026-12-01T00:00:00Z


class FakeClock:
    def __init__(self, t: float) -> None:
        self.t = t

    def now(self) -> float:
        return self.t


def test_the_day_starts_at_utc_midnight() -> None:
    assert utc_day_start(MIDNIGHT - 1) == MIDNIGHT - DAY_SECONDS  # 23:59:59
    assert utc_day_start(MIDNIGHT) == MIDNIGHT  # 00:00:00
    assert utc_day_start(MIDNIGHT + DAY_SECONDS - 0.001) == MIDNIGHT


def test_today_on_a_standby_follows_the_injected_clock(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'roundtable.db'}"
    db = connect(url)
    setup_database(db)
    with using(db):
        ApiCallRecord.insert(provider="openai", model="m", ok=True, latency_ms=5, cost_usd=0.5,
                             at=round((MIDNIGHT - 2) * 1000)).execute()
    clock = FakeClock(MIDNIGHT - 1)  # 23:59:59: the call was today
    standby = StandbySystem(Settings.from_env({"DATABASE_URL": url}), db, clock)
    try:
        before = wire.status(standby.status())
        clock.t = MIDNIGHT  # 00:00:00: a new day, nothing spent yet
        after = wire.status(standby.status())
    finally:
        standby.close()
    assert before["today"]["calls"] == 1 and before["budget"]["spent_today_usd"] == 0.5
    assert before["providers"]["openai"]["calls_today"] == 1
    assert after["today"]["calls"] == 0 and after["budget"]["spent_today_usd"] == 0.0
    assert before["server_time"] == wire.ms(MIDNIGHT - 1)
