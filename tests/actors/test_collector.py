"""``actors.collector.QuietCollector``: no automatic full garbage collection while it runs
(a full one scanned every connection's objects, seconds at 10,000 visitors), and the full
collection it runs itself only when nothing is due, freeing cyclic garbage that young
collections leave alone. The engine's view is injected, with its clock (``now``)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from actors.collector import INTERVAL_SECONDS, MARGIN_SECONDS, QuietCollector
from actors.view import EngineView, RoundView

START = 1_000_000.0


def view(now: float, state: str = "countdown", next_round_at: float | None = None,
         last: int | None = None) -> EngineView:
    finished = None
    if last is not None:
        finished = RoundView(id=last, topic="Tides", status="complete", scheduled_at=None, started_at=now - 60,
                             ended_at=now - 1, forced=True, skip_reason=None, message_count=16)
    return EngineView(now=now, state=state, next_round_at=next_round_at, next_topic=None, queued_topics=(),
                      conversation=None, last_conversation=finished, messages_per_round=16)


class Views:
    """The engine's view as the test sets it."""

    def __init__(self) -> None:
        self.current = view(START, next_round_at=START + 3600)

    def __call__(self) -> EngineView:
        return self.current


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


@pytest.fixture
def default_thresholds() -> Iterator[None]:
    """CPython's default thresholds for the test; the process's own afterwards."""
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    assert gc.isenabled()
    yield
    gc.set_threshold(*saved)


@pytest.fixture
def collector(default_thresholds: None) -> Iterator[tuple[QuietCollector, Views]]:
    views = Views()
    quiet = QuietCollector(views)
    quiet.stop_automatic()
    assert quiet.check() is None  # the first look only starts the count
    yield quiet, views
    quiet.restore()


def full_collections_in_a_burst() -> int:
    """How many full (generation 2) collections start while 400,000 cyclic objects are
    made, half of them kept alive (so generation 2 grows: CPython 3.11 also wants the
    objects promoted since the last full collection to be a quarter of those it kept)."""
    started: list[int] = []

    def note(phase: str, info: dict[str, Any]) -> None:
        if phase == "start" and info["generation"] == 2:
            started.append(1)

    kept = []
    gc.callbacks.append(note)
    try:
        for i in range(400_000):
            node = Node()
            if i % 2:
                kept.append(node)
    finally:
        gc.callbacks.remove(note)
    return len(started)


def test_with_the_default_thresholds_a_burst_runs_full_collections(default_thresholds: None) -> None:
    assert full_collections_in_a_burst() > 0  # what the service suffered in a round


def test_while_it_runs_no_full_collection_happens_on_its_own(collector: tuple[QuietCollector, Views]) -> None:
    assert full_collections_in_a_burst() == 0


def test_stopping_gives_the_thresholds_back(default_thresholds: None) -> None:
    quiet = QuietCollector(Views())
    quiet.stop_automatic()
    assert gc.get_threshold()[:2] == (700, 10) and gc.get_threshold()[2] > 10**8
    quiet.stop()  # never started: stopping still restores
    assert gc.get_threshold() == (700, 10, 10)


def old_cyclic_garbage() -> weakref.ref[Node]:
    """A cycle that lived long enough to reach the old generation, then became garbage:
    young collections never free it."""
    node = Node()
    gc.collect(1)
    gc.collect(1)  # survived twice: in generation 2 now
    ref = weakref.ref(node)
    del node
    gc.collect(1)
    assert ref() is not None
    return ref


def test_a_round_s_end_runs_a_full_collection_that_frees_cyclic_garbage(
    collector: tuple[QuietCollector, Views],
) -> None:
    quiet, views = collector
    ref = old_cyclic_garbage()
    views.current = view(START + 60, "complete", next_round_at=START + 3600, last=7)
    assert quiet.check() == "round ended"
    assert ref() is None
    assert quiet.check() is None  # once per round


def test_nothing_is_collected_while_a_round_plays_or_a_slot_is_near(
    collector: tuple[QuietCollector, Views],
) -> None:
    quiet, views = collector
    ref = old_cyclic_garbage()
    later = START + INTERVAL_SECONDS * 2
    views.current = view(later, "active", next_round_at=later + 3600, last=7)  # reveals due
    assert quiet.check() is None
    views.current = view(later, "complete", next_round_at=later + MARGIN_SECONDS - 1, last=7)
    assert quiet.check() is None
    assert ref() is not None
    views.current = view(later + MARGIN_SECONDS, "active", next_round_at=later + 3600, last=7)  # the next round
    assert quiet.check() is None
    views.current = view(later + 300, "complete", next_round_at=later + 3600, last=8)
    assert quiet.check() == "round ended"
    assert ref() is None


def grow_the_old_generation() -> list[Node]:
    """Half as many live objects again as the old generation holds, moved into it."""
    kept = [Node() for _ in range(len(gc.get_objects(generation=2)) // 2)]
    gc.collect(1)
    gc.collect(1)
    return kept


def test_when_idle_paused_or_a_standby_it_collects_every_interval_if_garbage_may_have_grown(
    collector: tuple[QuietCollector, Views],
) -> None:
    quiet, views = collector
    views.current = view(START + INTERVAL_SECONDS - 1, "paused", next_round_at=START + 3600)
    assert quiet.check() is None
    ref = old_cyclic_garbage()
    views.current = view(START + INTERVAL_SECONDS, "paused", next_round_at=START + 3600)
    assert quiet.check() is None  # an interval, but the old generation has not grown
    kept = grow_the_old_generation()
    assert ref() is not None
    views.current = view(START + INTERVAL_SECONDS * 2, "paused", next_round_at=START + 3600)
    assert quiet.check() == "interval"
    assert ref() is None
    kept += grow_the_old_generation()
    views.current = view(START + INTERVAL_SECONDS * 3 - 1, "countdown", next_round_at=None)  # a standby's view
    assert quiet.check() is None
    views.current = view(START + INTERVAL_SECONDS * 3, "countdown", next_round_at=None)
    assert quiet.check() == "interval"
