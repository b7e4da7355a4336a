"""A loose guard on fan-out: 500 visitors on one real service, every one gets every message
of a round exactly once. Not a timing: bench/ws_floor.py has the figures; this only makes
sure a change that drops, repeats or stalls visitors under load turns the suite red."""

from __future__ import annotations

import asyncio
import json
import resource
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.service import Service

VISITORS = 500
MESSAGES = 16


def _raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))


async def _visitor(url: str) -> ClientConnection:
    ws = await connect(url, compression="deflate", ping_interval=None, open_timeout=30, max_queue=64)
    hello = json.loads(await ws.recv())
    assert hello["type"] == "hello"
    return ws


async def _read_round(ws: ClientConnection) -> list[dict[str, Any]]:
    """Every ``message`` event until the round's ``complete`` state."""
    messages = []
    async for raw in ws:
        event = json.loads(raw)
        if event["type"] == "message":
            messages.append(event)
        elif event["type"] == "state" and event.get("state") == "complete":
            return messages
    raise AssertionError(f"closed before the round completed: {ws.close_code} {ws.close_reason}")


async def _play(service: Service) -> tuple[int, list[list[dict[str, Any]]]]:
    visitors: list[ClientConnection] = []
    try:
        for _ in range(VISITORS // 50):
            visitors += await asyncio.gather(*(_visitor(service.ws_url) for _ in range(50)))
        readers = [asyncio.create_task(_read_round(ws)) for ws in visitors]
        forced = await asyncio.to_thread(service.force)
        received = await asyncio.wait_for(asyncio.gather(*readers), timeout=45)
        return int(forced["conversation"]["id"]), received
    finally:
        await asyncio.gather(*(ws.close() for ws in visitors), return_exceptions=True)


@pytest.mark.timeout(90)
def test_500_visitors_each_get_every_message_exactly_once(tmp_path: Any) -> None:
    _raise_fd_limit(4 * VISITORS)  # the service, a child, inherits the limit too
    with Service(tmp_path) as service:
        conversation_id, received = asyncio.run(_play(service))
        assert len(received) == VISITORS
        for messages in received:
            seqs = [m["seq"] for m in messages if m["conversation_id"] == conversation_id]
            assert seqs == list(range(1, MESSAGES + 1)), seqs
            assert len(messages) == MESSAGES
        assert " ERROR " not in service.logs() and "Traceback" not in service.logs()
