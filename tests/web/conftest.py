"""Fixtures for tests against the real service: a subprocess of ``python run.py``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets

from tests.service import Service


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    with Service(tmp_path) as running:
        yield running


class Client:
    """A WebSocket client that collects events; waits are bounded by timeouts."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.events: list[dict[str, Any]] = []

    @classmethod
    async def connect(cls, url: str, **kwargs: Any) -> Client:
        return cls(await websockets.connect(url, **kwargs))

    async def next(self, timeout: float = 10.0) -> dict[str, Any]:
        event = json.loads(await asyncio.wait_for(self.connection.recv(), timeout))
        self.events.append(event)
        return dict(event)

    async def until(self, predicate: Any, timeout: float = 15.0) -> dict[str, Any]:
        """Read events until one matches ``predicate``; fail after ``timeout`` seconds."""
        async with asyncio.timeout(timeout):
            while True:
                event = await self.next(timeout)
                if predicate(event):
                    return event

    def messages(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == "message"]

    async def close(self) -> None:
        await self.connection.close()


def is_state(state: str) -> Any:
    return lambda event: event["type"] == "state" and event["state"] == state
