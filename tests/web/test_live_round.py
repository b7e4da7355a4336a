"""A whole round, end to end: the real service, real WebSocket clients, real SQLite."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from actors.personas import PERSONAS
from tests.service import Service
from tests.web.conftest import Client, is_state

ROTATION = [p.agent for p in PERSONAS]

#: Slow enough to join mid-round, still a round in about two seconds.
STEADY = {"MESSAGE_GAP_MIN_SECONDS": "0.08", "MESSAGE_GAP_MAX_SECONDS": "0.12"}


def stored_messages(database: Path, conversation_id: int) -> list[tuple[int, str, str]]:
    with sqlite3.connect(database) as db:
        return db.execute(
            "SELECT seq, agent, source FROM messages WHERE conversation_id = ? ORDER BY seq",
            (conversation_id,),
        ).fetchall()


async def test_forced_round_reaches_every_client_and_the_database(tmp_path: Path) -> None:
    with Service(tmp_path, STEADY) as service:
        first = await Client.connect(service.ws_url)
        second = await Client.connect(service.ws_url)
        hello = await first.next()
        await second.next()
        assert hello["type"] == "hello" and hello["state"] == "countdown"
        assert hello["conversation"] is None and hello["messages"] == []

        forced = await asyncio.to_thread(service.force)
        conversation_id = forced["conversation"]["id"]

        # A third visitor arrives mid-round and is caught up by hello.
        await first.until(lambda e: e["type"] == "message" and e["seq"] == 5)
        late = await Client.connect(service.ws_url)
        late_hello = await late.next()
        assert late_hello["state"] == "active"
        assert late_hello["conversation"]["id"] == conversation_id
        caught_up = [m["seq"] for m in late_hello["messages"]]
        assert caught_up[:5] == [1, 2, 3, 4, 5] and caught_up == sorted(caught_up)

        for client in (first, second, late):
            await client.until(is_state("complete"))
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
            await client.close()


async def test_ping_is_answered_with_server_time(service: Service) -> None:
    client = await Client.connect(service.ws_url)
    await client.next()
    await client.connection.send('{"type": "ping", "t": 12345}')
    await client.connection.send('{"type": "chat", "text": "ignored"}')
    await client.connection.send('{"type": "ping", "t": 777}')
    pong = await client.until(lambda e: e["type"] == "pong")
    assert pong["t"] == 12345 and isinstance(pong["server_time"], int)
    assert (await client.next())["t"] == 777  # the ignored message closed nothing
    await client.close()


async def test_oversized_frame_closes_that_socket_only(service: Service) -> None:
    victim = await Client.connect(service.ws_url, max_size=None)
    bystander = await Client.connect(service.ws_url)
    await victim.next()
    await bystander.next()
    await victim.connection.send("x" * 1_000_000)
    await victim.connection.wait_closed()
    assert victim.connection.close_code in (1008, 1009)
    await asyncio.to_thread(service.force)
    assert (await bystander.until(lambda e: e["type"] == "message"))["seq"] == 1
    await bystander.close()


async def test_malformed_frame_closes_the_socket(service: Service) -> None:
    client = await Client.connect(service.ws_url)
    await client.next()
    await client.connection.send("{not json")
    await client.connection.wait_closed()
    assert client.connection.close_code == 1008


async def test_restart_mid_round_resumes_without_loss_or_repeat(tmp_path: Path) -> None:
    slow = {"MESSAGE_GAP_MIN_SECONDS": "0.2", "MESSAGE_GAP_MAX_SECONDS": "0.25"}
    service = Service(tmp_path, slow).start()
    try:
        client = await Client.connect(service.ws_url)
        await client.next()
        conversation_id = (await asyncio.to_thread(service.force))["conversation"]["id"]
        await client.until(lambda e: e["type"] == "message" and e["seq"] == 4)
        await asyncio.to_thread(service.kill)  # a crash: no clean shutdown
        revealed_before = stored_messages(service.database, conversation_id)
        assert 4 <= len(revealed_before) < 16

        await asyncio.to_thread(service.start)
        client = await Client.connect(service.ws_url)
        hello = await client.next()
        assert hello["state"] == "active" and hello["conversation"]["id"] == conversation_id
        resumed = [m["seq"] for m in hello["messages"]]
        assert resumed[: len(revealed_before)] == [seq for seq, _, _ in revealed_before]
        await client.until(is_state("complete"))
        rows = stored_messages(service.database, conversation_id)
        assert [seq for seq, _, _ in rows] == list(range(1, 17))
        assert "resuming round" in service.logs()
        await client.close()
    finally:
        service.stop()
