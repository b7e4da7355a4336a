from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import peewee
import pytest

from actors import wire
from storage import connect, queries, setup_database, using
from storage.models import ApiCallRecord, Conversation, Message
from storage.queries import calls_since, ping, spend_since


# The views in seconds, as the wire carries them (epoch ms): these tests read both at once.
def get_conversation(db: peewee.Database, cid: int) -> dict[str, Any] | None:
    found = queries.get_conversation(db, cid)
    return None if found is None else wire.conversation(found)


def list_conversations(db: peewee.Database, limit: int, before_id: int | None = None) -> list[dict[str, Any]]:
    return [wire.summary(r) for r in queries.list_conversations(db, limit, before_id)]


def last_completed_conversation(db: peewee.Database) -> dict[str, Any] | None:
    found = queries.last_completed_conversation(db)
    return None if found is None else wire.summary(found)


@pytest.fixture
def ready(db: peewee.Database) -> peewee.Database:
    setup_database(db)
    return db


def add_conversation(db: peewee.Database, topic: str, status: str = "complete", **extra) -> int:
    with using(db):
        return Conversation.insert(topic=topic, status=status, **extra).execute()


def add_message(db: peewee.Database, conversation_id: int, seq: int, **extra) -> None:
    row = {
        "conversation": conversation_id, "seq": seq, "agent": "openai", "persona": "Ada",
        "provider": "openai", "model": "gpt-5-mini", "source": "api", "content": f"m{seq}",
        "planned_at": 1_000 * seq, "revealed_at": 1_000 * seq + 5,
    }  # fmt: skip
    with using(db):
        Message.insert(**{**row, **extra}).execute()


def add_call(db: peewee.Database, provider: str, at: int, cost: float) -> None:
    with using(db):
        ApiCallRecord.insert(
            provider=provider, model="m", ok=True, latency_ms=10, cost_usd=cost, at=at
        ).execute()


def test_get_conversation_round_trips_every_wire_field(ready: peewee.Database) -> None:
    cid = add_conversation(
        ready, "Tides", "complete", scheduled_at=1_800_000, started_at=1_800_001,
        ended_at=1_900_000, forced=True,
    )  # fmt: skip
    citations = [{"url": "https://e.org/a?b=1", "title": "Ä title"}, {"url": "https://f.org"}]
    add_message(ready, cid, 2, content="second", source="fallback", provider="anthropic",
                model="claude-x", citations=json.dumps(citations), latency_ms=2310,
                prompt_tokens=812, completion_tokens=143, cost_usd=0.0030541,
                fallback_reason="openai: 529 overloaded_error after 3 tries")  # fmt: skip
    add_message(ready, cid, 1, content="first ✓\nline two")

    conversation = get_conversation(ready, cid)

    assert conversation is not None
    assert {k: v for k, v in conversation.items() if k != "messages"} == {
        "id": cid, "topic": "Tides", "status": "complete", "scheduled_at": 1_800_000,
        "started_at": 1_800_001, "ended_at": 1_900_000, "forced": True, "skip_reason": None,
        "message_count": 2,
    }  # fmt: skip
    first, second = conversation["messages"]
    assert first == {
        "conversation_id": cid, "seq": 1, "agent": "openai", "persona": "Ada",
        "provider": "openai", "model": "gpt-5-mini", "source": "api",
        "content": "first ✓\nline two", "citations": [], "revealed_at": 1_005,
        "latency_ms": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0,
        "fallback_reason": None, "cost_estimated": False,
    }  # fmt: skip
    assert second["citations"] == [
        {"url": "https://e.org/a?b=1", "title": "Ä title"},
        {"url": "https://f.org", "title": ""},
    ]
    assert (second["source"], second["provider"], second["model"]) == (
        "fallback", "anthropic", "claude-x",
    )  # fmt: skip
    # The operator's details of every message (issue 10): tokens, cost, latency, why.
    assert {k: second[k] for k in ("latency_ms", "prompt_tokens", "completion_tokens",
                                   "cost_usd", "fallback_reason")} == {
        "latency_ms": 2310, "prompt_tokens": 812, "completion_tokens": 143,
        "cost_usd": 0.003054, "fallback_reason": "openai: 529 overloaded_error after 3 tries",
    }  # fmt: skip


def test_get_conversation_missing_is_none(ready: peewee.Database) -> None:
    assert get_conversation(ready, 12345) is None


def test_list_is_newest_first_with_limit_and_before(ready: peewee.Database) -> None:
    ids = [add_conversation(ready, f"t{i}") for i in range(5)]
    add_message(ready, ids[3], 1)
    add_message(ready, ids[3], 2)

    page = list_conversations(ready, limit=2)
    assert [c["id"] for c in page] == [ids[4], ids[3]]
    assert [c["message_count"] for c in page] == [0, 2]
    older = list_conversations(ready, limit=2, before_id=page[-1]["id"])
    assert [c["id"] for c in older] == [ids[2], ids[1]]
    assert [c["id"] for c in list_conversations(ready, limit=10, before_id=ids[1])] == [ids[0]]
    assert list_conversations(ready, limit=10, before_id=ids[0]) == []
    assert list_conversations(ready, limit=0) == []
    assert set(page[0]) == {
        "id", "topic", "status", "scheduled_at", "started_at", "ended_at", "forced",
        "skip_reason", "message_count",
    }  # fmt: skip


def test_skipped_slots_are_listed_with_their_reason(ready: peewee.Database) -> None:
    add_conversation(ready, "", "skipped", scheduled_at=5_000, skip_reason="paused")
    (row,) = list_conversations(ready, limit=5)
    assert (row["status"], row["skip_reason"], row["started_at"]) == ("skipped", "paused", None)


def test_last_completed_conversation(ready: peewee.Database) -> None:
    assert last_completed_conversation(ready) is None
    older = add_conversation(ready, "old")
    add_conversation(ready, "running", "active")
    add_conversation(ready, "gone", "aborted")
    newest = last_completed_conversation(ready)
    assert newest is not None and (newest["id"], newest["topic"]) == (older, "old")
    assert "messages" not in newest


def test_spend_and_calls_since(ready: peewee.Database) -> None:
    assert spend_since(ready, 0) == 0.0
    assert calls_since(ready, 0) == {}
    add_call(ready, "openai", 999, 1.0)
    add_call(ready, "openai", 1_000, 0.25)
    add_call(ready, "openai", 2_000, 0.5)
    add_call(ready, "gemini", 1_500, 0.0)

    assert spend_since(ready, 1.0) == pytest.approx(0.75)  # seconds: the rows say 1_000 ms
    assert calls_since(ready, 1.0) == {
        "openai": {"calls": 2, "cost_usd": pytest.approx(0.75), "prompt_tokens": 0, "completion_tokens": 0},
        "gemini": {"calls": 1, "cost_usd": 0.0, "prompt_tokens": 0, "completion_tokens": 0},
    }


def test_ping(ready: peewee.Database) -> None:
    assert ping(ready) is True
    assert ping(connect("postgresql://postgres@127.0.0.1:1/nothing")) is False


def test_reads_give_back_the_connection_they_opened(ready: peewee.Database) -> None:
    list_conversations(ready, limit=1)
    if isinstance(ready, peewee.SqliteDatabase):
        assert not ready.is_closed()  # kept by this thread: reopening re-reads the schema
    else:
        assert ready.is_closed()  # back in the pool
        assert len(ready._connections) >= 1  # type: ignore[attr-defined]


@pytest.fixture
def second_db(database_url: str) -> Iterator[peewee.Database]:
    db = connect(database_url)
    yield db
    db.close()


def test_reads_see_rows_committed_by_another_database_object(
    ready: peewee.Database, second_db: peewee.Database
) -> None:
    cid = add_conversation(second_db, "from the writer", "active")
    conversation = get_conversation(ready, cid)
    assert conversation is not None and conversation["topic"] == "from the writer"
