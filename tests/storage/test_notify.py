"""Events across instances: EventPublisher NOTIFYs, EventListener LISTENs (PostgreSQL)."""

from __future__ import annotations

import json
import queue
from collections.abc import Iterator

import peewee
import psycopg2
import pytest

from storage import connect, setup_database, using
from storage.models import Conversation, Message
from storage.notify import MAX_PAYLOAD_BYTES, EventListener, EventPublisher, payload_for
from tests.db_fixtures import truncate_all


def test_a_small_event_is_sent_as_is_and_a_large_message_as_a_reference() -> None:
    small = json.dumps({"type": "state", "state": "active"})
    assert payload_for(small) == small
    large = json.dumps({"type": "message", "conversation_id": 7, "seq": 3, "content": "é" * MAX_PAYLOAD_BYTES})
    assert json.loads(payload_for(large) or "") == {"type": "message_ref", "conversation_id": 7, "seq": 3}
    assert payload_for(json.dumps({"type": "state", "x": "y" * 9000})) is None


@pytest.fixture
def pg_db(postgres_server_url: str) -> Iterator[peewee.Database]:
    truncate_all(postgres_server_url)
    db = connect(postgres_server_url)
    setup_database(db)
    yield db
    db.close()


@pytest.fixture
def received(postgres_server_url: str, pg_db: peewee.Database) -> Iterator[queue.Queue[str]]:
    events: queue.Queue[str] = queue.Queue()
    listener = EventListener(postgres_server_url, events.put, pg_db)
    listener.start()
    assert listener.wait_listening(10)
    yield events
    listener.stop()


@pytest.mark.postgres
def test_published_events_reach_the_listener_in_order(postgres_server_url: str, received: queue.Queue[str]) -> None:
    publisher = EventPublisher(postgres_server_url)
    try:
        for n in range(5):
            publisher(json.dumps({"type": "typing", "seq": n}))
    finally:
        publisher.close()
    assert [json.loads(received.get(timeout=10))["seq"] for _ in range(5)] == [0, 1, 2, 3, 4]


@pytest.mark.postgres
def test_a_large_message_is_read_back_from_the_database(
    postgres_server_url: str, pg_db: peewee.Database, received: queue.Queue[str]
) -> None:
    content = "word " * 3000
    with using(pg_db):
        cid = Conversation.insert(topic="Tides", status="active").execute()
        Message.insert(
            conversation=cid, seq=1, agent="openai", persona="Ada", provider="openai", model="m",
            source="api", content=content, planned_at=1000, revealed_at=1005,
        ).execute()  # fmt: skip
    publisher = EventPublisher(postgres_server_url)
    try:
        publisher(json.dumps({"type": "message", "conversation_id": cid, "seq": 1, "content": content}))
    finally:
        publisher.close()
    event = json.loads(received.get(timeout=10))
    assert event["type"] == "message" and event["seq"] == 1 and event["content"] == content


@pytest.mark.postgres
def test_the_publisher_and_the_listener_reconnect(postgres_server_url: str, received: queue.Queue[str]) -> None:
    publisher = EventPublisher(postgres_server_url)
    try:
        publisher(json.dumps({"type": "typing", "seq": 1}))
        assert json.loads(received.get(timeout=10))["seq"] == 1
        with psycopg2.connect(postgres_server_url) as conn, conn.cursor() as cursor:
            cursor.execute(  # every other session of this database: the listener's and the publisher's
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        conn.close()
        # The listener comes back after its backoff; until then a NOTIFY is lost, so send
        # until one arrives (each send also makes the publisher reconnect).
        for n in range(2, 60):
            publisher(json.dumps({"type": "typing", "seq": n}))
            try:
                assert json.loads(received.get(timeout=0.5))["seq"] >= 2
                break
            except queue.Empty:
                continue
        else:
            pytest.fail("the listener never came back")
    finally:
        publisher.close()
