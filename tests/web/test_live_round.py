"""A whole round, end to end: the real service, real WebSocket clients, real SQLite."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from actors.providers.registry import personas
from tests.service import Service
from tests.web.conftest import Client, is_state

ROTATION = [p.agent for p in personas()]

#: Slow enough to join mid-round, still a round in about two seconds.
STEADY = {"MESSAGE_GAP_MIN_SECONDS": "0.08", "MESSAGE_GAP_MAX_SECONDS": "0.12"}


def stored_messages(database: Path, conversation_id: int) -> list[tuple[int, str, str]]:
    with sqlite3.connect(database) as db:
        return db.execute(
            "SELECT seq, agent, source FROM messages WHERE conversation_id = ? ORDER BY seq",
            (conversation_id,),
        ).fetchall()


def test_forced_round_reaches_every_client_and_the_database(tmp_path: Path) -> None:
    with Service(tmp_path, STEADY) as service:
        first = Client(service.ws_url)
        second = Client(service.ws_url)
        hello = first.next()
        second.next()
        assert hello["type"] == "hello" and hello["state"] == "countdown"
        assert hello["conversation"] is None and hello["messages"] == []

        forced = service.force()
        conversation_id = forced["conversation"]["id"]

        # A third visitor arrives mid-round and is caught up by hello.
        first.until(lambda e: e["type"] == "message" and e["seq"] == 5)
        late = Client(service.ws_url)
        late_hello = late.next()
        assert late_hello["state"] == "active"
        assert late_hello["conversation"]["id"] == conversation_id
        caught_up = [m["seq"] for m in late_hello["messages"]]
        assert caught_up[:5] == [1, 2, 3, 4, 5] and caught_up == sorted(caught_up)

        for client in (first, second, late):
            client.until(is_state("complete"))
        for client in (first, second):
            states = [e["state"] for e in client.events if e["type"] == "state"]
            assert states == ["active", "complete"]
            messages = client.messages()
            assert [m["seq"] for m in messages] == list(range(1, 17))
            assert [m["agent"] for m in messages] == ROTATION * 4
            assert {m["source"] for m in messages} == {"template"}
            assert all(m["provider"] == "template" and m["content"] for m in messages)
        seen_late = {m["seq"] for m in late_hello["messages"]} | {m["seq"] for m in late.messages()}
        assert seen_late == set(range(1, 17))

        rows = stored_messages(service.database, conversation_id)
        assert [(seq, agent) for seq, agent, _ in rows] == list(zip(range(1, 17), ROTATION * 4, strict=True))
        status, body = service.get(f"/api/conversations/{conversation_id}")
        assert status == 200 and body["status"] == "complete"
        assert [m["content"] for m in body["messages"]] == [m["content"] for m in first.messages()]
        assert len({m["content"] for m in body["messages"]}) == 16  # no message repeats
        for client in (first, second, late):
            client.close()


def test_ping_is_answered_with_server_time(service: Service) -> None:
    client = Client(service.ws_url)
    client.next()
    client.send('{"type": "ping", "t": 12345}')
    client.send('{"type": "chat", "text": "ignored"}')
    client.send('{"type": "ping", "t": 777}')
    pong = client.until(lambda e: e["type"] == "pong")
    assert pong["t"] == 12345 and isinstance(pong["server_time"], int)
    assert (client.next())["t"] == 777  # the ignored message closed nothing
    client.close()


def test_oversized_frame_closes_that_socket_only(service: Service) -> None:
    victim = Client(service.ws_url, max_size=None)
    bystander = Client(service.ws_url)
    victim.next()
    bystander.next()
    victim.send("x" * 1_000_000)
    with pytest.raises(ConnectionClosed) as closed:
        victim.next(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code in (1008, 1009)
    service.force()
    assert (bystander.until(lambda e: e["type"] == "message"))["seq"] == 1
    bystander.close()


def test_malformed_frame_closes_the_socket(service: Service) -> None:
    client = Client(service.ws_url)
    client.next()
    client.send("{not json")
    with pytest.raises(ConnectionClosed) as closed:
        client.next(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


def test_restart_mid_round_resumes_without_loss_or_repeat(tmp_path: Path) -> None:
    slow = {"MESSAGE_GAP_MIN_SECONDS": "0.2", "MESSAGE_GAP_MAX_SECONDS": "0.25"}
    service = Service(tmp_path, slow).start()
    try:
        client = Client(service.ws_url)
        client.next()
        conversation_id = (service.force())["conversation"]["id"]
        client.until(lambda e: e["type"] == "message" and e["seq"] == 4)
        service.kill()  # a crash: no clean shutdown
        revealed_before = stored_messages(service.database, conversation_id)
        assert 4 <= len(revealed_before) < 16

        service.start()
        client = Client(service.ws_url)
        hello = client.next()
        assert hello["state"] == "active" and hello["conversation"]["id"] == conversation_id
        resumed = [m["seq"] for m in hello["messages"]]
        assert resumed[: len(revealed_before)] == [seq for seq, _, _ in revealed_before]
        client.until(is_state("complete"))
        rows = stored_messages(service.database, conversation_id)
        assert [seq for seq, _, _ in rows] == list(range(1, 17))
        assert "resuming round" in service.logs()
        client.close()
    finally:
        service.stop()
