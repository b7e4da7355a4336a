from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import peewee
import pykka
import pytest

from actors import wire
from actors.persistence import STATUS_DEFAULTS, Persistence
from actors.providers.base import ApiCall, Citation, Outcome, Source
from storage import StorageError, connect, queries, setup_database
from storage.queries import calls_since

T0 = 1_767_312_000.0  # 2026-01-02T00:00:00Z
TIMEOUT = 10

Start = Callable[..., Any]


class FakeClock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def now(self) -> float:
        return self.t


def get_conversation(db: peewee.Database, conversation_id: int) -> dict[str, Any] | None:
    """The stored conversation as the API serves it."""
    found = queries.get_conversation(db, conversation_id)
    return None if found is None else wire.conversation(found)


@pytest.fixture
def start_persistence() -> Iterator[Start]:
    """Start Persistence actors; every actor is stopped in teardown."""
    databases: list[peewee.Database] = []

    def start(db: peewee.Database, clock: FakeClock | None = None) -> Any:
        databases.append(db)
        setup_database(db)
        return Persistence.start(db, clock=clock or FakeClock()).proxy()

    yield start
    pykka.ActorRegistry.stop_all(block=True, timeout=TIMEOUT)
    for db in databases:
        db.close()


@pytest.fixture
def persistence(db: peewee.Database, start_persistence: Start) -> Any:
    return start_persistence(db)


def outcome(content: str = "Hello.", **extra: Any) -> Outcome:
    fields: dict[str, Any] = {"provider": "openai", "model": "gpt-5-mini", "source": Source.API}
    return Outcome(content=content, **{**fields, **extra})


def test_a_round_is_written_and_read_back(persistence: Any, db: peewee.Database) -> None:
    cid = persistence.create_conversation("Tides", T0, T0 - 0.5, False).get(timeout=TIMEOUT)
    reply = outcome(
        "With sources",
        provider="anthropic",
        model="claude-x",
        source=Source.FALLBACK,
        citations=(Citation("https://a.org", "A"), Citation("https://b.org")),
        latency_ms=321,
        prompt_tokens=10,
        completion_tokens=20,
        cost_usd=0.002,
        fallback_reason="timeout",
        cost_estimated=True,
    )
    saved = persistence.save_message(cid, 1, "openai", "Ada", reply, T0 + 1, T0 + 1.25).get(
        timeout=TIMEOUT
    )
    assert wire.message(saved) == {
        "conversation_id": cid, "seq": 1, "agent": "openai", "persona": "Ada",
        "provider": "anthropic", "model": "claude-x", "source": "fallback",
        "content": "With sources",
        "citations": [{"url": "https://a.org", "title": "A"}, {"url": "https://b.org", "title": ""}],
        "revealed_at": 1_767_312_001_250,
        "latency_ms": 321, "prompt_tokens": 10, "completion_tokens": 20, "cost_usd": 0.002,
        "fallback_reason": "timeout", "cost_estimated": True,
    }  # fmt: skip
    persistence.end_conversation(cid, "complete", T0 + 60).get(timeout=TIMEOUT)

    stored = get_conversation(db, cid)
    assert stored is not None
    assert stored["messages"] == [wire.message(saved)]
    assert (stored["status"], stored["started_at"], stored["scheduled_at"]) == (
        "complete", 1_767_312_000_000, 1_767_311_999_500,
    )  # fmt: skip
    assert (stored["ended_at"], stored["forced"]) == (1_767_312_060_000, False)


def test_saving_a_seq_twice_returns_the_existing_row(persistence: Any, db: peewee.Database) -> None:
    cid = persistence.create_conversation("t", T0, None, True).get(timeout=TIMEOUT)
    first = persistence.save_message(cid, 1, "openai", "Ada", outcome("one"), T0, T0).get(
        timeout=TIMEOUT
    )
    again = persistence.save_message(cid, 1, "gemini", "Gil", outcome("two"), T0, T0 + 9).get(
        timeout=TIMEOUT
    )
    assert again == first
    stored = get_conversation(db, cid)
    assert stored is not None and stored["message_count"] == 1 and stored["forced"] is True


def test_failures_come_back_to_the_asker_as_storage_errors(persistence: Any) -> None:
    with pytest.raises(StorageError) as caught:
        persistence.save_message(404, 1, "openai", "Ada", outcome(), T0, T0).get(timeout=TIMEOUT)
    assert isinstance(caught.value.__cause__, peewee.IntegrityError)
    with pytest.raises(ValueError):
        persistence.end_conversation(1, "finished", T0).get(timeout=TIMEOUT)
    assert persistence.spend_today().get(timeout=TIMEOUT) == 0.0  # the actor lives on


def test_skipped_slots_and_admin_skips(persistence: Any, db: peewee.Database) -> None:
    slot = persistence.record_skipped_slot(T0, "paused").get(timeout=TIMEOUT)
    cid = persistence.create_conversation("cut short", T0, T0, False).get(timeout=TIMEOUT)
    persistence.end_conversation(cid, "skipped", T0 + 5, skip_reason="admin").get(timeout=TIMEOUT)

    skipped = get_conversation(db, slot)
    assert skipped is not None
    assert (skipped["status"], skipped["skip_reason"], skipped["started_at"]) == (
        "skipped", "paused", None,
    )  # fmt: skip
    ended = get_conversation(db, cid)
    assert ended is not None and (ended["status"], ended["skip_reason"]) == ("skipped", "admin")


def test_status_defaults_then_partial_upserts(persistence: Any) -> None:
    assert persistence.load_status().get(timeout=TIMEOUT) == STATUS_DEFAULTS
    persistence.save_status(next_round_at=T0 + 1800, state="countdown", leader_id="a").get(
        timeout=TIMEOUT
    )
    persistence.save_status(paused=True, heartbeat_at=T0 + 1.5).get(timeout=TIMEOUT)
    status = persistence.load_status().get(timeout=TIMEOUT)
    assert status["updated_at"] is not None
    del status["updated_at"]
    assert status == {
        "next_round_at": T0 + 1800, "paused": True, "state": "countdown",
        "leader_id": "a", "heartbeat_at": T0 + 1.5,
    }  # fmt: skip
    persistence.save_status(next_round_at=None).get(timeout=TIMEOUT)
    assert persistence.load_status().get(timeout=TIMEOUT)["next_round_at"] is None
    with pytest.raises(TypeError):
        persistence.save_status(mood="good").get(timeout=TIMEOUT)


def test_updated_at_follows_the_injected_clock(db: peewee.Database, start_persistence: Start) -> None:
    clock = FakeClock(T0 - 1)  # 23:59:59 UTC: no wall clock says that now
    persistence = start_persistence(db, clock)
    persistence.save_status(state="countdown").get(timeout=TIMEOUT)
    persistence.save_topic_deck({"remaining": ["a"]}).get(timeout=TIMEOUT)
    assert persistence.load_status().get(timeout=TIMEOUT)["updated_at"] == T0 - 1
    clock.t = T0  # 00:00:00 UTC
    persistence.save_status(paused=True).get(timeout=TIMEOUT)
    assert persistence.load_status().get(timeout=TIMEOUT)["updated_at"] == T0
    with db.connection_context():
        stamps = [row[0] for row in db.execute_sql("SELECT updated_at FROM topic_deck")]
    assert stamps == [int((T0 - 1) * 1000)]  # the table's unit


def test_spend_today_counts_from_utc_midnight(db: peewee.Database, start_persistence: Start) -> None:
    clock = FakeClock(T0 + 7200)
    persistence = start_persistence(db, clock)

    def call(at: float, cost: float, provider: str = "openai") -> ApiCall:
        return ApiCall(provider, "m", True, at, latency_ms=5, cost_usd=cost)

    calls = [
        call(T0 - 0.001, 1.0),  # yesterday, by one millisecond
        call(T0, 0.25),  # exactly midnight: today
        call(T0 + 3600, 0.5, "gemini"),
        ApiCall("gemini", "m", False, T0 + 7, latency_ms=9, error_class="timeout"),
    ]
    persistence.record_api_calls(calls).get(timeout=TIMEOUT)
    persistence.record_api_calls([]).get(timeout=TIMEOUT)

    assert persistence.spend_today().get(timeout=TIMEOUT) == pytest.approx(0.75)
    clock.t = T0 - 1  # 23:59:59 the day before: its day began a day earlier
    assert persistence.spend_today().get(timeout=TIMEOUT) == pytest.approx(1.75)
    clock.t = T0 + 86_400
    assert persistence.spend_today().get(timeout=TIMEOUT) == 0.0
    assert calls_since(db, T0) == {
        "openai": {"calls": 1, "cost_usd": pytest.approx(0.25), "prompt_tokens": 0, "completion_tokens": 0},
        "gemini": {"calls": 2, "cost_usd": pytest.approx(0.5), "prompt_tokens": 0, "completion_tokens": 0},
    }


def test_active_conversation_survives_a_restart(
    database_url: str, start_persistence: Start
) -> None:
    first = start_persistence(connect(database_url))
    done = first.create_conversation("old", T0 - 3600, None, False).get(timeout=TIMEOUT)
    first.end_conversation(done, "complete", T0 - 3000).get(timeout=TIMEOUT)
    assert first.load_active_conversation().get(timeout=TIMEOUT) is None
    cid = first.create_conversation("live", T0, T0, False).get(timeout=TIMEOUT)
    revealed = [
        first.save_message(cid, seq, "openai", "Ada", outcome(f"m{seq}"), T0 + seq, T0 + seq).get(
            timeout=TIMEOUT
        )
        for seq in (1, 2, 3)
    ]
    first.stop()  # "crash": the round stays active

    second = start_persistence(connect(database_url))
    active = second.load_active_conversation().get(timeout=TIMEOUT)

    assert active is not None
    assert (active.id, active.status, active.topic) == (cid, "active", "live")
    assert list(active.messages) == revealed
    assert [m.seq for m in active.messages] == [1, 2, 3]


def test_two_services_side_by_side(
    database_url: str, tmp_path: Path, start_persistence: Start
) -> None:
    """Two actors on two databases in one process write at the same time, apart."""
    services = {
        "one": start_persistence(connect(database_url)),
        "two": start_persistence(connect(f"sqlite:///{tmp_path}/other.db")),
    }
    go = threading.Event()
    ids: dict[str, list[int]] = {name: [] for name in services}

    def drive(name: str) -> None:
        go.wait(timeout=TIMEOUT)
        for i in range(10):
            cid = services[name].create_conversation(f"{name}{i}", T0, None, False)
            ids[name].append(cid.get(timeout=TIMEOUT))

    threads = [threading.Thread(target=drive, args=(name,)) for name in services]
    for thread in threads:
        thread.start()
    go.set()
    for thread in threads:
        thread.join(timeout=TIMEOUT * 3)
    for name, proxy in services.items():
        active = proxy.load_active_conversation().get(timeout=TIMEOUT)
        assert active is not None and active.topic == f"{name}9"
        assert ids[name] == list(range(1, 11))
