"""RETENTION_DAYS: the engine prunes old rows once a day, by its injected clock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import peewee
import pytest

from actors.persistence import Persistence
from actors.retention import DAY_SECONDS, RetentionJob, StatisticsJob
from actors.system import create_system
from settings import Settings, SettingsError
from storage import connect, setup_database, using
from storage.models import ApiCallRecord, Conversation

NOW = 1_800_000_000.0


class FakeClock:
    def __init__(self, now: float) -> None:
        self._now = now
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


def add_call(db: peewee.Database, at_seconds: float) -> None:
    with using(db):
        ApiCallRecord.create(provider="openai", model="m", ok=True, at=round(at_seconds * 1000))


def call_times(db: peewee.Database) -> list[float]:
    with using(db):
        return sorted(c.at / 1000 for c in ApiCallRecord.select())


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        pause.wait(0.02)


@pytest.fixture
def persistence(db: peewee.Database) -> Iterator[object]:
    setup_database(db)
    ref = Persistence.start(db)
    yield ref.proxy()
    ref.stop()


def test_the_job_prunes_at_start_then_once_a_day_by_its_clock(
    db: peewee.Database, persistence: object
) -> None:
    clock = FakeClock(NOW)
    keep = 90 * DAY_SECONDS
    for age_days in (91, 90.5, 89.5, 1):
        add_call(db, NOW - age_days * DAY_SECONDS)
    job = RetentionJob(persistence, clock, keep)

    assert job.run_if_due() == {"conversations": 0, "messages": 0, "api_calls": 2, "audit_log": 0}
    assert call_times(db) == [NOW - 89.5 * DAY_SECONDS, NOW - DAY_SECONDS]

    clock.advance(DAY_SECONDS - 1)
    assert job.run_if_due() is None  # not a day yet: nothing runs
    assert len(call_times(db)) == 2

    clock.advance(1)  # a day after the first prune: the row now 90.5 days old goes
    assert job.run_if_due() is not None
    assert call_times(db) == [NOW - DAY_SECONDS]


def test_an_engine_with_retention_days_prunes_on_its_own(database_url: str) -> None:
    db = connect(database_url)
    setup_database(db)
    add_call(db, NOW - 2 * DAY_SECONDS)
    add_call(db, NOW - 0.5 * DAY_SECONDS)
    with using(db):
        Conversation.create(topic="old", status="complete", ended_at=round((NOW - 3 * DAY_SECONDS) * 1000))
    settings = Settings.from_env({"DATABASE_URL": database_url, "RETENTION_DAYS": "1"})
    system = create_system(settings, clock=FakeClock(NOW), start_ticker=False)
    try:
        wait_for(lambda: call_times(db) == [NOW - 0.5 * DAY_SECONDS])
        with using(db):
            assert Conversation.select().where(Conversation.topic == "old").count() == 0
    finally:
        system.stop()
        db.close()


def test_without_retention_days_nothing_is_pruned(database_url: str) -> None:
    db = connect(database_url)
    setup_database(db)
    add_call(db, NOW - 4000 * DAY_SECONDS)
    system = create_system(Settings.from_env({"DATABASE_URL": database_url}), clock=FakeClock(NOW),
                           start_ticker=False)
    try:
        assert system.settings.retention_days is None
        assert not any(t.name == "roundtable-retention" for t in threading.enumerate())
        assert len(call_times(db)) == 1
    finally:
        system.stop()
        db.close()


@pytest.mark.parametrize("value", ["0", "-3", "ten", "1.5"])
def test_a_bad_retention_days_names_the_setting(value: str) -> None:
    with pytest.raises(SettingsError, match="RETENTION_DAYS"):
        Settings.from_env({"RETENTION_DAYS": value})


def analyzed_rows(db: peewee.Database, table: str) -> int:
    """The row count SQLite's statistics hold for ``table`` (from the last ANALYZE)."""
    with using(db):
        stats = db.execute_sql("SELECT stat FROM sqlite_stat1 WHERE tbl = ?", (table,)).fetchall()
    return int(stats[0][0].split()[0]) if stats else 0


def test_a_prune_leaves_sqlites_planner_statistics_current(tmp_path: Path) -> None:
    # SQLite never refreshes them by itself (PostgreSQL's autovacuum does after deletes).
    db = connect(f"sqlite:///{tmp_path / 'r.db'}")
    setup_database(db)
    for age_days in range(40):
        add_call(db, NOW - (age_days + 0.5) * DAY_SECONDS)
    ref = Persistence.start(db)
    try:
        persistence = ref.proxy()
        persistence.refresh_statistics().get(timeout=30)
        assert analyzed_rows(db, "api_calls") == 40

        RetentionJob(persistence, FakeClock(NOW), 10 * DAY_SECONDS).run_if_due()

        assert len(call_times(db)) == 10 and analyzed_rows(db, "api_calls") == 10
    finally:
        ref.stop()
        db.close()


class CountingPersistence:
    def __init__(self) -> None:
        self.refreshed = threading.Semaphore(0)

    def refresh_statistics(self) -> object:
        self.refreshed.release()
        return Done()


class Done:
    def get(self, timeout: float) -> None:
        return None


def test_the_statistics_job_refreshes_them_every_period() -> None:
    persistence = CountingPersistence()
    job = StatisticsJob(persistence, every_seconds=0.01)
    job.start()
    try:
        assert persistence.refreshed.acquire(timeout=10) and persistence.refreshed.acquire(timeout=10)
    finally:
        job.stop()


def test_every_engine_runs_the_daily_statistics_refresh(database_url: str) -> None:
    system = create_system(Settings.from_env({"DATABASE_URL": database_url}), clock=FakeClock(NOW),
                           start_ticker=False)
    try:
        assert any(t.name == "roundtable-statistics" for t in threading.enumerate())
    finally:
        system.stop()
    assert not any(t.name == "roundtable-statistics" for t in threading.enumerate())
