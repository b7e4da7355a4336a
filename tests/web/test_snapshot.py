"""web/snapshot.py: the polling endpoints' views, on a loop of their own."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import pytest

from actors import wire
from web.snapshot import Body, Listings, StampedBody, ViewCache


class Engine:
    """Counts fetches; each answers the current ``state`` after ``release`` is set."""

    def __init__(self) -> None:
        self.fetches = 0
        self.state = "countdown"
        self.release = asyncio.Event()
        self.release.set()
        self.fail = False

    async def fetch(self) -> dict[str, Any]:
        self.fetches += 1
        await self.release.wait()
        if self.fail:
            raise TimeoutError("the engine is busy")
        return {"state": self.state}


def run(scenario: Any) -> Any:
    return asyncio.run(scenario())


def test_a_fresh_view_is_served_without_asking_the_engine_again() -> None:
    async def scenario() -> None:
        now = [0.0]
        engine = Engine()
        cache = ViewCache(engine.fetch, max_age=1.0, monotonic=lambda: now[0])
        assert (await cache.get())["state"] == "countdown"
        now[0] = 0.9
        await cache.get()
        assert engine.fetches == 1
        now[0] = 1.0  # stale: asked again
        await cache.get()
        assert engine.fetches == 2

    run(scenario)


def test_an_event_makes_the_next_request_ask_the_engine() -> None:
    async def scenario() -> None:
        engine = Engine()
        cache = ViewCache(engine.fetch, max_age=60.0)
        await cache.get()
        engine.state = "active"
        assert (await cache.get())["state"] == "countdown"  # no event yet: cached
        cache.invalidate()
        assert (await cache.get())["state"] == "active"
        assert engine.fetches == 2

    run(scenario)


def test_requests_during_a_fetch_share_it_and_an_event_during_it_is_not_lost() -> None:
    async def scenario() -> None:
        engine = Engine()
        engine.release.clear()
        cache = ViewCache(engine.fetch, max_age=60.0)
        waiting = [asyncio.create_task(cache.get()) for _ in range(50)]
        await asyncio.sleep(0)  # let them all start waiting on the one fetch
        cache.invalidate()  # an event while the engine answers: that answer may be old
        engine.release.set()
        views = await asyncio.gather(*waiting)
        assert engine.fetches == 1 and all(v == {"state": "countdown"} for v in views)
        engine.state = "active"
        assert (await cache.get())["state"] == "active"  # not cached: fetched again
        assert engine.fetches == 2

    run(scenario)


def test_a_failed_fetch_is_not_cached() -> None:
    async def scenario() -> None:
        engine = Engine()
        engine.fail = True
        cache = ViewCache(engine.fetch, max_age=60.0)
        with pytest.raises(TimeoutError):
            await cache.get()
        engine.fail = False
        assert (await cache.get())["state"] == "countdown"

    run(scenario)


def test_the_countdown_is_stamped_with_the_time_of_the_answer() -> None:
    view = {"state": "countdown", "server_time": 1_000, "next_round_at": 61_000, "seconds_remaining": 60.0,
            "next_topic": "Tea \u2615 or \"coffee\"?"}
    body = StampedBody(view, restamp=restamp_countdown)
    assert json.loads(body.body(31_000)) == {**view, "server_time": 31_000, "seconds_remaining": 30.0}
    assert json.loads(body.body(70_000))["seconds_remaining"] == 0.0
    for now_ms in (31_000, 60_999, 1_764_000_000_123):  # the bytes are the wire's view, as of then
        assert json.loads(body.body(now_ms)) == wire.restamp_countdown(view, now_ms / 1000)
    unscheduled = StampedBody({**view, "next_round_at": None}, restamp=restamp_countdown)
    assert json.loads(unscheduled.body(5))["seconds_remaining"] is None


def restamp_countdown(view: Mapping[str, Any], now_ms: int) -> Mapping[str, Any]:
    return wire.restamp_countdown(view, now_ms / 1000)


def test_the_status_is_stamped_and_carries_its_constants() -> None:
    view = {"state": "active", "server_time": 1_000, "providers": {"openai": {"circuit": "closed"}}}
    body = json.loads(StampedBody(view, version="1.2.3").body(2_000))
    assert body == {**view, "server_time": 2_000, "version": "1.2.3"}
    assert json.loads(StampedBody({}).body(7)) == {"server_time": 7}


def test_listings_are_kept_per_query_and_all_dropped_by_an_event() -> None:
    async def scenario() -> None:
        rows = {"count": 0}

        async def fetch() -> Body:
            rows["count"] += 1
            return Body.of({"conversations": rows["count"]})

        listings = Listings(max_age=60.0, limit=2)
        first = await listings.view((20, None), fetch).get()
        assert await listings.view((20, None), fetch).get() is first  # cached
        other = await listings.view((5, None), fetch).get()
        assert other != first and rows["count"] == 2
        listings.invalidate()
        assert json.loads((await listings.view((20, None), fetch).get()).data) == {"conversations": 3}
        await listings.view((1, None), fetch).get()  # a third query: the oldest goes
        await listings.view((5, None), fetch).get()
        assert rows["count"] == 5

    run(scenario)
