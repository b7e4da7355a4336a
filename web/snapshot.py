"""The engine's view for the polling endpoints, kept on the event loop between events.

``/api/countdown`` and ``/api/status`` are what a visitor without a WebSocket polls, and
what monitors scrape. Asking the engine for each one costs a thread hand-off and an actor
ask (about 0.6 ms of CPU); the view only changes when an event says so (a ``state`` or a
``message``) or, for provider health and today's spend, slowly. So each view is fetched
at most once per ``max_age`` and again after any event this server's Hub delivers;
requests that arrive while a fetch runs share it. ``server_time`` (and the countdown's
``seconds_remaining``) are stamped fresh on every answer from the system's clock.

Lives on the event loop; never touch it from a thread.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Final

from actors import wire

__all__ = ["COUNTDOWN_MAX_AGE", "STATUS_MAX_AGE", "FinishedRounds", "ViewCache", "fresh_countdown", "fresh_status"]

#: The countdown changes only with events; the bound is a safety net, not a schedule.
COUNTDOWN_MAX_AGE: Final = 5.0
#: Provider health, circuits and today's spend move without events: at most 1 s stale.
STATUS_MAX_AGE: Final = 1.0


class ViewCache:
    """One view, fetched by ``fetch`` (an awaitable call into the engine) when stale."""

    def __init__(
        self, fetch: Callable[[], Awaitable[dict[str, Any]]], max_age: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._max_age = max_age
        self._monotonic = monotonic
        self._value: dict[str, Any] | None = None
        self._fetched_at = 0.0
        self._pending: asyncio.Future[dict[str, Any]] | None = None
        self._generation = 0

    def invalidate(self) -> None:
        """An event arrived: the next request fetches afresh."""
        self._value = None
        self._generation += 1

    async def get(self) -> dict[str, Any]:
        """The view, fetched if stale; raises whatever the fetch raises (nothing cached)."""
        if self._value is not None and self._monotonic() - self._fetched_at < self._max_age:
            return self._value
        if self._pending is None:
            self._pending = asyncio.ensure_future(self._refresh(self._generation))
        pending = self._pending
        try:
            return await asyncio.shield(pending)
        finally:
            if pending.done() and self._pending is pending:
                self._pending = None

    async def _refresh(self, generation: int) -> dict[str, Any]:
        started = self._monotonic()
        value = await self._fetch()
        if generation == self._generation:  # no event arrived while fetching
            self._value, self._fetched_at = value, started
        return value


def fresh_countdown(view: dict[str, Any], now_ms: int) -> dict[str, Any]:
    """``view`` (a countdown body) as of ``now_ms``."""
    return wire.restamp_countdown(view, now_ms / 1000)


def fresh_status(view: dict[str, Any], now_ms: int) -> dict[str, Any]:
    """``view`` (a status body) as of ``now_ms``."""
    return {**view, "server_time": now_ms}


class FinishedRounds:
    """Serialized bodies of finished rounds, which never change: an LRU of ``limit``
    entries, each kept at most ``max_age`` seconds (so a pruned round disappears)."""

    def __init__(self, limit: int = 256, max_age: float = 300.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._max_age = max_age
        self._monotonic = monotonic
        self._bodies: OrderedDict[int, tuple[float, bytes]] = OrderedDict()

    def get(self, conversation_id: int) -> bytes | None:
        entry = self._bodies.get(conversation_id)
        if entry is None or self._monotonic() - entry[0] >= self._max_age:
            self._bodies.pop(conversation_id, None)
            return None
        self._bodies.move_to_end(conversation_id)
        return entry[1]

    def put(self, conversation_id: int, body: bytes) -> None:
        self._bodies[conversation_id] = (self._monotonic(), body)
        self._bodies.move_to_end(conversation_id)
        while len(self._bodies) > self._limit:
            self._bodies.popitem(last=False)
