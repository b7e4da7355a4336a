"""What the read endpoints serve, kept on the event loop between events, serialized once.

``/api/countdown`` and ``/api/status`` are what a visitor without a WebSocket polls, and
what monitors scrape; ``/api/conversations`` is the history page's first request. Asking
the engine or the database for each one costs a thread hand-off and a query or an actor
ask; their answers only change when an event says so (a ``state`` or a ``message``), or,
for provider health and today's spend, slowly. So each is fetched at most once per
``max_age`` and again after any event this server's Hub delivers (a standby's Hub gets
the engine's events too), requests that arrive while a fetch runs share it, and the
answer is kept as the bytes that go on the wire:

- a view (``StampedBody``) is the JSON text without its clock fields; ``server_time``
  (and the countdown's ``seconds_remaining``) are appended fresh on every answer from the
  system's clock;
- a listing (``Listings``) is a finished body with its ETag, per query;
- the live page (``RenderedPages``) is rendered once per site URL;
- a finished round (``FinishedRounds``) never changes: its body and ETag are kept for
  ``max_age`` (so a pruned round disappears).

Lives on the event loop; never touch it from a thread (``StampedBody.of_*`` may run in
one: they only serialize).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Mapping
from typing import Any, Final, Generic, NamedTuple, TypeVar

__all__ = [
    "COUNTDOWN_MAX_AGE", "LISTING_MAX_AGE", "STATUS_MAX_AGE", "Body", "FinishedRounds", "Listings",
    "RenderedPages", "StampedBody", "ViewCache",
]

T = TypeVar("T")

#: The countdown changes only with events; the bound is a safety net, not a schedule.
COUNTDOWN_MAX_AGE: Final = 5.0
#: Provider health, circuits and today's spend move without events: at most 1 s stale.
STATUS_MAX_AGE: Final = 1.0
#: A listing changes with events, and with ``prune`` or ``import`` run by another process
#: (no event): those show within this many seconds.
LISTING_MAX_AGE: Final = 5.0
#: Clock fields, stamped per answer rather than serialized with the view.
_CLOCK_FIELDS_ORDER: Final = ("server_time", "seconds_remaining")
_CLOCK_FIELDS: Final = frozenset(_CLOCK_FIELDS_ORDER)


class ViewCache(Generic[T]):
    """One view, fetched by ``fetch`` (an awaitable call into the engine) when stale."""

    def __init__(
        self, fetch: Callable[[], Awaitable[T]], max_age: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._max_age = max_age
        self._monotonic = monotonic
        self._value: T | None = None
        self._fetched_at = 0.0
        self._pending: asyncio.Future[T] | None = None
        self._generation = 0

    def invalidate(self) -> None:
        """An event arrived: the next request fetches afresh."""
        self._value = None
        self._generation += 1

    def fresh(self) -> T | None:
        """The view when it is fresh, else None (without fetching)."""
        if self._value is not None and self._monotonic() - self._fetched_at < self._max_age:
            return self._value
        return None

    async def get(self) -> T:
        """The view, fetched if stale; raises whatever the fetch raises (nothing cached)."""
        value = self.fresh()
        if value is not None:
            return value
        if self._pending is None:
            self._pending = asyncio.ensure_future(self._refresh(self._generation))
        pending = self._pending
        try:
            return await asyncio.shield(pending)
        finally:
            if pending.done() and self._pending is pending:
                self._pending = None

    async def _refresh(self, generation: int) -> T:
        started = self._monotonic()
        value = await self._fetch()
        if generation == self._generation:  # no event arrived while fetching
            self._value, self._fetched_at = value, started
        return value


class StampedBody:
    """A view's JSON body serialized once; ``body(now_ms)`` appends the clock fields.

    ``restamp(view, now_ms)`` gives the clock fields as of ``now_ms`` (the countdown's
    ``actors.wire.restamp_countdown``, which counts ``seconds_remaining`` down to
    ``next_round_at``); without it, ``server_time`` alone is stamped.
    """

    def __init__(self, view: Mapping[str, Any],
                 restamp: Callable[[Mapping[str, Any], int], Mapping[str, Any]] | None = None,
                 **constant: Any) -> None:
        fixed = {k: v for k, v in view.items() if k not in _CLOCK_FIELDS}
        fixed.update(constant)
        head = json.dumps(fixed, separators=(",", ":"))[:-1]  # without the closing brace
        self._head = (head + "," if fixed else head).encode()
        self._view = view
        self._restamp = restamp

    def body(self, now_ms: int) -> bytes:
        if self._restamp is None:
            return self._head + b'"server_time":%d}' % now_ms
        stamped = self._restamp(self._view, now_ms)
        clock = {k: stamped[k] for k in _CLOCK_FIELDS_ORDER if k in stamped}
        return self._head + json.dumps(clock, separators=(",", ":"))[1:].encode()


class Body(NamedTuple):
    """A serialized JSON body and its strong ETag (unquoted)."""

    data: bytes
    etag: str

    @classmethod
    def of(cls, value: Any) -> Body:
        data = json.dumps(value, separators=(",", ":")).encode()
        return cls(data, hashlib.sha256(data).hexdigest()[:20])


class Listings:
    """Listing bodies per query (``limit``, ``before``): a ``ViewCache`` each, at most
    ``limit`` queries kept (the least recently asked go first); ``invalidate`` drops them
    all."""

    def __init__(self, max_age: float = LISTING_MAX_AGE, limit: int = 64,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._max_age = max_age
        self._limit = limit
        self._monotonic = monotonic
        self._views: OrderedDict[Hashable, ViewCache[Body]] = OrderedDict()

    def view(self, key: Hashable, fetch: Callable[[], Awaitable[Body]]) -> ViewCache[Body]:
        """The cache of ``key``'s listing, fetched by ``fetch`` when stale."""
        view = self._views.get(key)
        if view is None:
            view = self._views[key] = ViewCache(fetch, self._max_age, self._monotonic)
            while len(self._views) > self._limit:
                self._views.popitem(last=False)
        self._views.move_to_end(key)
        return view

    def fresh(self, key: Hashable) -> Body | None:
        """``key``'s listing when it is fresh, else None (without fetching)."""
        view = self._views.get(key)
        return view.fresh() if view is not None else None

    def invalidate(self) -> None:
        for view in self._views.values():
            view.invalidate()


class RenderedPages:
    """Pages whose HTML depends only on the site's URL (and the process's asset version),
    rendered once per URL: at most ``limit`` kept, the least recently served go first
    (``Host`` is the client's to choose)."""

    def __init__(self, limit: int = 64) -> None:
        self._limit = limit
        self._pages: OrderedDict[Hashable, str] = OrderedDict()

    def get(self, key: Hashable) -> str | None:
        page = self._pages.get(key)
        if page is not None:
            self._pages.move_to_end(key)
        return page

    def put(self, key: Hashable, page: str) -> None:
        self._pages[key] = page
        while len(self._pages) > self._limit:
            self._pages.popitem(last=False)


class FinishedRounds:
    """Bodies of finished rounds, which never change: an LRU of ``limit`` entries, each
    kept at most ``max_age`` seconds (so a pruned round disappears)."""

    def __init__(self, limit: int = 256, max_age: float = 300.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._max_age = max_age
        self._monotonic = monotonic
        self._bodies: OrderedDict[int, tuple[float, Body]] = OrderedDict()

    def get(self, conversation_id: int) -> Body | None:
        entry = self._bodies.get(conversation_id)
        if entry is None or self._monotonic() - entry[0] >= self._max_age:
            self._bodies.pop(conversation_id, None)
            return None
        self._bodies.move_to_end(conversation_id)
        return entry[1]

    def put(self, conversation_id: int, body: Body) -> None:
        self._bodies[conversation_id] = (self._monotonic(), body)
        self._bodies.move_to_end(conversation_id)
        while len(self._bodies) > self._limit:
            self._bodies.popitem(last=False)
