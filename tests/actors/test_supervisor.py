"""The Supervisor with real actors, a real database and an injected clock.

The tests move the clock and call ``tick`` themselves (no Ticker thread), and read the
events the Broadcaster publishes from a queue, waiting with timeouts.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from actors import wire
from actors.errors import BadPayload, CommandRefused, InvalidTopic, RoundtableError, UnknownAction
from actors.providers.base import GenerationRequest, Reply
from actors.system import RoundtableSystem, create_system
from settings import Settings

INTERVAL = 1000.0
SLOT = 1_800_000_000.0  # a multiple of INTERVAL


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


@dataclass
class Engine:
    system: RoundtableSystem
    clock: FakeClock
    events: queue.Queue[dict[str, Any]]

    def tick(self, advance: float = 0.0) -> None:
        self.clock.advance(advance)
        self.system.supervisor.tick().get(timeout=5)

    def run_until(self, predicate: Callable[[dict[str, Any]], bool], step: float = 0.5,
                  max_steps: int = 400) -> list[dict[str, Any]]:
        """Advance the clock a step at a time until an event matches; return all events seen."""
        seen: list[dict[str, Any]] = []
        for _ in range(max_steps):
            self.tick(step)
            try:
                while True:
                    event = self.events.get(timeout=0.05)
                    seen.append(event)
                    if predicate(event):
                        return seen
            except queue.Empty:
                continue
        raise AssertionError(f"no matching event after {max_steps} steps; saw {[e['type'] for e in seen]}")

    def hello(self) -> dict[str, Any]:
        """What a visitor connecting now is sent."""
        return wire.hello(self.system.view())

    def conversations(self) -> list[dict[str, Any]]:
        """Rows in the database, after every write told to Persistence so far is done."""
        from storage import queries

        self.system.persistence.load_status().get(timeout=5)  # its mailbox is in order
        return [wire.summary(r) for r in queries.list_conversations(self.system.db, 50, None)]


def settings_for(database_url: str, **env: str) -> Settings:
    return Settings.from_env({
        "DATABASE_URL": database_url,
        "ROUND_INTERVAL_SECONDS": str(INTERVAL),
        "MESSAGE_GAP_MIN_SECONDS": "1",
        "MESSAGE_GAP_MAX_SECONDS": "2",
        "MIN_COUNTDOWN_SECONDS": "60",
        "GENERATION_GRACE_SECONDS": "15",
        "COMPLETE_HOLD_SECONDS": "5",
        "TYPING_LEAD_SECONDS": "0.5",
        **env,
    })


@pytest.fixture
def make_engine(database_url: str) -> Iterator[Callable[..., Engine]]:
    started: list[RoundtableSystem] = []

    def make(now: float = SLOT - 10, providers: dict[str, Any] | None = None, **env: str) -> Engine:
        clock = FakeClock(now)
        events: queue.Queue[dict[str, Any]] = queue.Queue()
        system = create_system(settings_for(database_url, **env), clock=clock, providers=providers,
                               start_ticker=False, sinks=[lambda data: events.put(json.loads(data))])
        started.append(system)
        return Engine(system, clock, events)

    yield make
    for system in started:
        system.stop()


def is_state(state: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e["type"] == "state" and e["state"] == state


def test_a_scheduled_slot_starts_a_round_that_plays_out_and_completes(make_engine: Callable[..., Engine]) -> None:
    engine = make_engine()
    engine.tick()
    assert engine.hello()["state"] == "countdown"
    assert engine.hello()["next_round_at"] == int(SLOT * 1000)

    seen = engine.run_until(is_state("complete"), step=1.0)
    messages = [e for e in seen if e["type"] == "message"]
    typing = [e for e in seen if e["type"] == "typing"]
    assert [m["seq"] for m in messages] == list(range(1, 17))
    started = next(e for e in seen if e["type"] == "state" and e["state"] == "active")
    # Who speaks next and when travels in the state and message events, so the widget
    # shows "typing" on its own clock: no typing frames while the plan holds.
    assert typing == []
    assert started["next"]["seq"] == 1 and started["next"]["agent"] == "openai"
    # The first speaker is seen typing for TYPING_LEAD too: the round starts, then the
    # message, not both in one instant (at 10,000 visitors each fan-out takes a while).
    assert started["next"]["typing_at"] == started["server_time"]
    assert started["next"]["at"] == started["server_time"] + 500
    assert messages[0]["revealed_at"] >= started["server_time"] + 500
    for message, following in zip(messages, messages[1:], strict=False):
        assert message["next"]["seq"] == following["seq"]
        assert message["next"]["agent"] == following["agent"]
        assert message["next"]["typing_at"] == message["next"]["at"] - 500  # TYPING_LEAD 0.5 s
        assert following["revealed_at"] >= message["next"]["at"]
    assert messages[-1]["next"] is None
    complete = seen[-1]
    assert complete["state"] == "complete"  # and the last message had TYPING_LEAD to itself
    assert complete["server_time"] >= messages[-1]["revealed_at"] + 500
    assert started["next_round_at"] == int((SLOT + INTERVAL) * 1000)
    # Revealed on the plan: the last one well before the next slot minus the countdown.
    assert messages[-1]["revealed_at"] <= (SLOT + INTERVAL - 60) * 1000
    assert engine.conversations()[0]["scheduled_at"] == int(SLOT * 1000)

    engine.run_until(is_state("countdown"), step=1.0)  # after the complete hold


def test_a_long_typing_lead_never_pushes_a_round_past_its_end(make_engine: Callable[..., Engine]) -> None:
    # The first message waits TYPING_LEAD after the start and the round's end that long
    # after the last: bounded by the plan's end, so a lead of a day cannot hold the round
    # into the next slot's countdown (that slot would be skipped: "a round was still active").
    engine = make_engine(TYPING_LEAD_SECONDS="86400")
    end_by = (SLOT + INTERVAL - 60) * 1000
    seen = engine.run_until(is_state("complete"), step=5.0)
    messages = [e for e in seen if e["type"] == "message"]
    assert [m["seq"] for m in messages] == list(range(1, 17))
    assert messages[0]["revealed_at"] <= end_by and seen[-1]["server_time"] <= end_by + 5000  # one step
    engine.run_until(is_state("active"), step=5.0, max_steps=400)  # the next slot plays
    assert not [c for c in engine.conversations() if c["status"] == "skipped"]


def test_a_slot_that_arrives_during_a_round_is_recorded_as_skipped(make_engine: Callable[..., Engine]) -> None:
    # Forced 30 s before a slot, with a 60 s minimum countdown: the round aims at the
    # slot after, so the imminent slot arrives while it is active.
    engine = make_engine(now=SLOT - 30, MESSAGE_GAP_MIN_SECONDS="5", MESSAGE_GAP_MAX_SECONDS="6")
    engine.system.command("force")
    engine.run_until(lambda e: e["type"] == "message" and e["seq"] == 16, step=2.0)
    skipped = [c for c in engine.conversations() if c["status"] == "skipped"]
    assert [(c["scheduled_at"], c["skip_reason"]) for c in skipped] == [
        (int(SLOT * 1000), "a round was still active")
    ]


def test_a_slot_that_arrives_while_paused_is_skipped_and_the_grid_goes_on(make_engine: Callable[..., Engine]) -> None:
    engine = make_engine()
    engine.system.command("pause")
    engine.tick(20)
    (skipped,) = engine.conversations()
    assert skipped["status"] == "skipped" and skipped["skip_reason"] == "paused"
    assert engine.hello()["next_round_at"] == int((SLOT + INTERVAL) * 1000)
    with pytest.raises(CommandRefused, match="resume first"):
        engine.system.command("force")
    engine.system.command("resume")
    assert engine.hello()["state"] == "countdown"


@pytest.mark.parametrize(
    ("action", "arguments", "error"),
    [("resume", {}, CommandRefused), ("bogus", {}, UnknownAction), ("queue_topic", {"topic": "x"}, InvalidTopic),
     ("queue_topic", {}, BadPayload)],
)
def test_refusals_are_values_across_the_actor_boundary_never_pykka_tracebacks(
    make_engine: Callable[..., Engine], caplog: pytest.LogCaptureFixture,
    action: str, arguments: dict[str, str], error: type[RoundtableError],
) -> None:
    engine = make_engine()
    caplog.set_level(logging.DEBUG, logger="pykka")  # pykka logs an ask's exception at INFO
    with pytest.raises(error):
        engine.system.command(action, **arguments)
    assert not [r for r in caplog.records if r.name.startswith("pykka") and r.exc_info], caplog.text
    assert engine.hello()["state"] == "countdown"  # nothing changed


def test_pausing_mid_round_holds_it_and_resume_finishes_it(make_engine: Callable[..., Engine]) -> None:
    engine = make_engine()
    engine.system.command("force")
    engine.run_until(lambda e: e["type"] == "message" and e["seq"] == 3)
    engine.system.command("pause")
    for _ in range(10):
        engine.tick(1.0)
    held = engine.hello()
    assert held["state"] == "paused" and len(held["messages"]) == 3
    engine.system.command("resume")
    seen = engine.run_until(is_state("complete"))
    assert [e["seq"] for e in seen if e["type"] == "message"] == list(range(4, 17))


class HangingProvider:
    """Blocks until released, like an API that accepted the request and never answered."""

    name = "openai"
    model = "hangs-forever"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def generate(self, request: GenerationRequest, *, api_key: str, timeout: float) -> Reply:
        self.calls += 1
        self.release.wait(30)
        return Reply(text="far too late " * 10, model=self.model)


def test_a_hung_agent_costs_one_template_never_the_round(make_engine: Callable[..., Engine]) -> None:
    hanging = HangingProvider()
    engine = make_engine(providers={"openai": hanging}, OPENAI_API_KEY="sk-test")
    try:
        engine.system.command("force")
        seen = engine.run_until(lambda e: e["type"] == "message" and e["seq"] == 2, step=1.0)
        calls_while_hung = hanging.calls
    finally:
        hanging.release.set()
    first = next(e for e in seen if e["type"] == "message" and e["seq"] == 1)
    assert first["agent"] == "openai" and first["source"] == "template"
    assert calls_while_hung >= 1  # Orion's own call (others may try it as a fallback too)
    assert first["provider"] == "template" and first["model"] == "template"
    # Revealed past its deadline (planned + grace) but not by much: the round went on.
    started_at = engine.hello()["conversation"]["started_at"]
    assert 15_000 < first["revealed_at"] - started_at <= 19_000


def test_a_skipped_slot_stays_skipped_after_a_restart(make_engine: Callable[..., Engine]) -> None:
    engine = make_engine()
    engine.system.command("skip")
    skipped_to = engine.hello()["next_round_at"]
    assert skipped_to == int((SLOT + INTERVAL) * 1000)
    engine.system.stop()
    restarted = make_engine()
    assert restarted.hello()["next_round_at"] == skipped_to
    restarted.tick(20)  # the skipped slot passes: no round starts
    assert restarted.hello()["state"] == "countdown"


def test_a_gap_in_stored_messages_never_makes_a_seq_repeat(make_engine: Callable[..., Engine]) -> None:
    engine = make_engine()
    engine.system.command("force")
    engine.run_until(lambda e: e["type"] == "message" and e["seq"] == 4)
    conversation_id = engine.hello()["conversation"]["id"]
    engine.system.stop()
    # As if saving message 3 had failed: it was shown, but never stored.
    engine.system.db.execute_sql("DELETE FROM messages WHERE seq = 3")
    engine.system.db.close()

    restarted = make_engine()
    assert [m["seq"] for m in restarted.hello()["messages"]] == [1, 2, 4]
    seen = restarted.run_until(is_state("complete"))
    assert [e["seq"] for e in seen if e["type"] == "message"] == list(range(5, 17))
    from storage import queries

    stored = queries.get_conversation(restarted.system.db, conversation_id)
    assert stored is not None
    assert [m.seq for m in stored.messages] == [1, 2, *range(4, 17)]


def test_the_engine_writes_its_leader_id_and_a_heartbeat(make_engine: Callable[..., Engine]) -> None:
    engine = make_engine()
    first = engine.system.persistence.load_status().get(timeout=5)
    assert first["leader_id"].endswith(f":{os.getpid()}")
    engine.tick(20)
    later = engine.system.persistence.load_status().get(timeout=5)
    assert later["heartbeat_at"] >= first["heartbeat_at"] + 20


def test_a_longer_interval_before_a_restart_does_not_delay_the_next_round(
    make_engine: Callable[..., Engine],
) -> None:
    # A 4000 s grid (a multiple of 1000, so its slot is on the new grid too) saved
    # SLOT + 4000 as the next round; back on the 1000 s grid the next slot is SLOT + 1000.
    engine = make_engine(now=SLOT + 10, ROUND_INTERVAL_SECONDS="4000")
    assert engine.hello()["next_round_at"] == int((SLOT + 4000) * 1000)
    engine.system.stop()
    restarted = make_engine(now=SLOT + 10)
    assert restarted.hello()["next_round_at"] == int((SLOT + INTERVAL) * 1000)


def test_slots_skipped_ahead_stay_skipped_after_a_restart(make_engine: Callable[..., Engine]) -> None:
    engine = make_engine()
    engine.system.command("skip")
    engine.system.command("skip")
    engine.system.stop()
    restarted = make_engine()
    assert restarted.hello()["next_round_at"] == int((SLOT + 2 * INTERVAL) * 1000)


def test_tick_says_when_the_next_reveal_falls_due(make_engine: Callable[..., Engine]) -> None:
    """The Ticker sleeps until the instant ``tick`` returns: the planned reveal once the
    agent's reply is in (it rings the alarm), not the next poll of a fixed interval."""
    engine = make_engine(now=SLOT + 100)
    supervisor, alarm = engine.system.supervisor, engine.system.alarm
    engine.system.command("force")
    for _ in range(50):  # each reply or command rings the alarm; a tick then sees it
        due = supervisor.tick().get(timeout=5)
        upcoming = engine.hello()["next"]
        if due > engine.clock.now() and due == pytest.approx(upcoming["at"] / 1000, abs=0.001):
            break
        alarm.wait(5)
    else:
        raise AssertionError(f"tick never named the next reveal ({upcoming}); it said {due}")
    engine.clock.advance(due - engine.clock.now())
    seen = engine.run_until(lambda e: e["type"] == "message" and e["seq"] == upcoming["seq"], step=0.0, max_steps=5)
    assert seen[-1]["revealed_at"] == upcoming["at"]  # at its planned instant, not a poll later


def test_idle_ticks_sleep_until_the_next_slot_or_heartbeat(make_engine: Callable[..., Engine]) -> None:
    engine = make_engine(now=SLOT - 10)
    assert engine.system.supervisor.tick().get(timeout=5) == pytest.approx(SLOT, abs=0.001)
    engine.clock.advance(11)  # the slot: a round starts, then the hold after it
    engine.run_until(is_state("complete"), step=1.0)
    assert engine.system.supervisor.tick().get(timeout=5) <= engine.clock.now() + 5  # COMPLETE_HOLD 5 s


def test_a_database_failing_at_a_rounds_start_is_one_line_not_a_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    """The earlier rounds cannot be read (their messages' table is gone): the round starts
    without them, said in one line; a database failure is an expected path."""
    path = tmp_path / "roundtable.db"
    system = create_system(settings_for(f"sqlite:///{path}"), clock=FakeClock(SLOT - 10), start_ticker=False)
    try:
        with sqlite3.connect(path) as other:
            other.execute("ALTER TABLE messages RENAME TO messages_gone")
        caplog.set_level(logging.INFO)
        assert system.command("force")["state"] == "active"
    finally:
        system.stop()
    (line,) = [r for r in caplog.records if "earlier rounds" in r.getMessage()]
    assert line.levelno == logging.WARNING and "this round starts without them" in line.getMessage()
    assert not [r for r in caplog.records if r.name.startswith("roundtable") and r.exc_info], caplog.text
