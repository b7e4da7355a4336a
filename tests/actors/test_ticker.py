"""The Ticker sleeps until the Supervisor's next due instant, or until the alarm rings."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from actors.clock import SystemClock
from actors.ticker import Alarm, Ticker

#: Far longer than any test waits: a Ticker that slept a fixed interval would never tick again.
INTERVAL = 3600.0


class Done:
    def __init__(self, value: float) -> None:
        self.value = value

    def get(self, timeout: float) -> float:
        return self.value


class FakeSupervisor:
    """``tick()`` answers each due instant from ``dues`` in turn (seconds from now)."""

    def __init__(self, *dues: float) -> None:
        self._dues = list(dues)
        self.ticks = 0
        self.ticked = threading.Condition()

    def tick(self) -> Any:
        with self.ticked:
            self.ticks += 1
            self.ticked.notify_all()
        return Done(time.time() + (self._dues.pop(0) if self._dues else INTERVAL))

    def wait_for_ticks(self, count: int, timeout: float = 10.0) -> bool:
        with self.ticked:
            return self.ticked.wait_for(lambda: self.ticks >= count, timeout)


@pytest.fixture
def start() -> Iterator[Any]:
    tickers: list[Ticker] = []

    def start(supervisor: FakeSupervisor, alarm: Alarm) -> Ticker:
        ticker = Ticker(supervisor, INTERVAL, SystemClock(), alarm)
        tickers.append(ticker)
        ticker.start()
        return ticker

    yield start
    for ticker in tickers:
        ticker.stop()


def test_the_ticker_wakes_when_the_next_thing_falls_due(start: Any) -> None:
    supervisor = FakeSupervisor(0.05)  # a reveal 50 ms from now, then nothing for an hour
    start(supervisor, Alarm())
    assert supervisor.wait_for_ticks(2), "the tick due in 50 ms waited for the poll interval"
    assert not supervisor.wait_for_ticks(3, timeout=0.3)  # and then it sleeps


def test_the_alarm_wakes_a_sleeping_ticker(start: Any) -> None:
    supervisor, alarm = FakeSupervisor(), Alarm()
    start(supervisor, alarm)
    assert supervisor.wait_for_ticks(1)
    alarm.ring()  # e.g. an agent's reply arrived: its reveal may be due before the hour
    assert supervisor.wait_for_ticks(2)


def test_stop_ends_a_sleeping_ticker_at_once(start: Any) -> None:
    supervisor = FakeSupervisor()
    ticker = start(supervisor, Alarm())
    assert supervisor.wait_for_ticks(1)
    ticker.stop()
    assert not ticker._thread.is_alive()
