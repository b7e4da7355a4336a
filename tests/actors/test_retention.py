"""RETENTION_DAYS: the engine prunes old rows once a day, by its injected clock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import peewee
import pytest

from actors.persistence import Persistence
from actors.retention import DAY_SECONDS, RetentionJob
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
