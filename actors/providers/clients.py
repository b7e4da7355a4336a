"""One SDK client per API key, built on first use and shared by every agent thread."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

__all__ = ["ClientCache"]


class _Closable(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=_Closable)


class ClientCache(Generic[C]):
    """Thread-safe: each client holds a connection pool, reused across calls and threads."""

    def __init__(self, build: Callable[[str], C]) -> None:
        self._build = build
        self._clients: dict[str, C] = {}
        self._lock = threading.Lock()

    def get(self, api_key: str) -> C:
        with self._lock:
            client = self._clients.get(api_key)
            if client is None:
                client = self._clients[api_key] = self._build(api_key)
            return client

    def __len__(self) -> int:
        with self._lock:
            return len(self._clients)

    def close(self) -> None:
        """Close every cached client (their connection pools). Safe to call twice."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()
