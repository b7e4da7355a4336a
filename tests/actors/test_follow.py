"""What a standby's visitors are sent: repeats dropped, gaps and missed rounds caught up
from the database (a real SQLite file written as the engine writes it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from actors.clock import SystemClock
from actors.follow import Delivered, Follower
from actors.standby import StandbySystem
from settings import Settings
from storage import connect, setup_database, using
from storage.models import Conversation, Message, SystemStatus


def message(conversation_id: int, seq: int) -> dict[str, Any]:
    return {"type": "message", "conversation_id": conversation_id, "seq": seq}


def test_delivered_drops_repeats_and_older_rounds() -> None:
    delivered = Delivered()
    assert delivered.admit(message(1, 1)) and delivered.admit(message(1, 2))
    assert not delivered.admit(message(1, 2)) and not delivered.admit(message(1, 1))
    assert delivered.admit(message(2, 1))
    assert not delivered.admit(message(1, 3))  # an older round's message
    assert delivered.follows(message(2, 2)) and not delivered.follows(message(2, 4))
    delivered.note(json.dumps({"type": "state", "state": "complete", "conversation_id": None}))
    assert delivered.state == ("complete", None)


@pytest.fixture
def standby(tmp_path: Path) -> StandbySystem:
    url = f"sqlite:///{tmp_path / 'roundtable.db'}"
    db = connect(url)
    setup_database(db)
    return StandbySystem(Settings.from_env({"DATABASE_URL": url}), db, SystemClock())


def store(standby: StandbySystem, conversation_id: int, seqs: range, status: str = "active") -> None:
    with using(standby.db):
        Conversation.insert(id=conversation_id, topic="t", status=status, started_at=1).on_conflict_replace().execute()
        for seq in seqs:
            Message.insert(
                conversation=conversation_id, seq=seq, agent="openai", persona="Orion", provider="openai",
                model="m", source="api", content=f"m{seq}", citations="[]", planned_at=1, revealed_at=1,
            ).execute()
        SystemStatus.insert(id=1, state="active" if status == "active" else "complete").on_conflict_replace().execute()


def test_a_message_after_a_gap_brings_the_missing_ones_first(standby: StandbySystem) -> None:
    sent: list[dict[str, Any]] = []
    follower = Follower(standby, Delivered(), lambda data: sent.append(json.loads(data)))
    store(standby, 1, range(1, 5))
    follower.on_event(json.dumps(message(1, 1)))
    follower.on_event(json.dumps(message(1, 4)))  # 2 and 3 were lost on the way
    follower.on_event(json.dumps(message(1, 3)))  # a late repeat
    assert [(e["type"], e["seq"]) for e in sent] == [("message", 1), ("message", 2), ("message", 3), ("message", 4)]


def test_polling_finishes_the_round_then_announces_the_state(standby: StandbySystem) -> None:
    sent: list[dict[str, Any]] = []
    follower = Follower(standby, Delivered(), lambda data: sent.append(json.loads(data)))
    store(standby, 1, range(1, 3))
    follower.catch_up_quietly()
    store(standby, 1, range(3, 5), status="complete")  # the round ended between two polls
    follower.catch_up_quietly()
    follower.catch_up_quietly()  # nothing new: nothing sent
    kinds = [e["seq"] if e["type"] == "message" else e["state"] for e in sent]
    assert kinds == ["active", 1, 2, 3, 4, "complete"]
