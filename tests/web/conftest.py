"""Fixtures for tests against the real service: a subprocess of ``python run.py``."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

from tests.service import Service


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    with Service(tmp_path) as running:
        yield running


class Client:
    """A (synchronous) WebSocket client that collects events; every wait has a timeout."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        self._stack = contextlib.ExitStack()  # websockets wants connect() as a context
        self.connection = self._stack.enter_context(connect(url, **kwargs))
        self.events: list[dict[str, Any]] = []

    def next(self, timeout: float = 10.0) -> dict[str, Any]:
        event = json.loads(self.connection.recv(timeout=timeout))
        self.events.append(event)
        return dict(event)

    def until(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 15.0) -> dict[str, Any]:
        """Read events until one matches ``predicate``; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            event = self.next(max(deadline - time.monotonic(), 0.001))
            if predicate(event):
                return event

    def send(self, text: str) -> None:
        self.connection.send(text)

    def messages(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == "message"]

    def close(self) -> None:
        self._stack.close()


def is_state(state: str) -> Any:
    return lambda event: event["type"] == "state" and event["state"] == state
