"""web/fastpath.py: answers from memory are the answers the app would have given.

In process, with the real engine on a temp SQLite file and the app's own ASGI stack
(``web.edge`` -> ``web.fastpath`` -> Quart) driven through Quart's test client. A hook
added to the app counts the requests that reach Quart, so each test knows which way an
answer took.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from quart import Quart

from actors.broadcaster import Hub
from actors.system import create_system
from settings import Settings
from tests.service import FAST_ENV
from web.app import create_app
from web.context import Context

PARTNER = "https://partner.example"
CLOCK_FIELDS = ("server_time", "seconds_remaining")


class Served:
    """The app under test, its context, and how many requests reached Quart."""

    def __init__(self, app: Quart) -> None:
        self.app = app
        self.context: Context = app.extensions["roundtable"]
        self.by_quart = 0
        app.before_request(self._count)

    async def _count(self) -> None:
        self.by_quart += 1

    async def get(self, path: str, address: str = "192.0.2.1", **headers: str) -> Any:
        return await self.app.test_client().get(path, headers=headers, scope_base={"client": (address, 5000)})


def settings_for(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({**FAST_ENV, "DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}",
                              "ALLOWED_ORIGINS": PARTNER, **env})


async def played_round(tmp_path: Path, **env: str) -> AsyncIterator[tuple[Served, int]]:
    """The app of a real engine that has played one round to the end; its id."""
    settings = settings_for(tmp_path, **env)
    hub = Hub(asyncio.get_running_loop())
    ended = asyncio.Event()
    hub.listeners.append(lambda data: ended.set() if '"complete"' in data else None)
    system = create_system(settings, hub=hub)
    try:
        served = Served(create_app(system, settings, hub))
        conversation_id = (await asyncio.to_thread(system.command, "force"))["conversation"]["id"]
        await asyncio.wait_for(ended.wait(), 30)
        yield served, conversation_id
    finally:
        await asyncio.to_thread(system.stop)


async def raw(app: Quart, scope: dict[str, Any]) -> list[dict[str, Any]]:
    """What the app sends for ``scope`` (a GET without a body), as a server would see it."""
    sent: list[dict[str, Any]] = []
    answered = asyncio.Event()
    requests = iter([{"type": "http.request", "body": b"", "more_body": False}])

    async def receive() -> dict[str, Any]:
        request = next(requests, None)
        if request is None:  # the client goes once it has its answer
            await answered.wait()
            return {"type": "http.disconnect"}
        return request

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body":
            answered.set()

    await app(scope, receive, send)  # type: ignore[arg-type]
    return sent


def without_clock(body: bytes) -> dict[str, Any]:
    return {k: v for k, v in json.loads(body).items() if k not in CLOCK_FIELDS}


def comparable(response: Any, stamped: bool) -> tuple[int, list[tuple[str, str]]]:
    """Status and headers; a body stamped with the clock may change length."""
    moving = ("content-length",) if stamped else ()
    return response.status_code, sorted((k.lower(), v) for k, v in response.headers.items() if k.lower() not in moving)


@pytest.mark.parametrize("path", ["/api/countdown", "/api/status", "/", "/api/conversations", "/api/conversations/{id}"])
def test_the_second_answer_comes_from_memory_and_matches_the_first(tmp_path: Path, path: str) -> None:
    async def scenario() -> None:
        async for served, conversation_id in played_round(tmp_path):
            served.context.views_changed()
            url = path.format(id=conversation_id)
            first = await served.get(url, Origin=PARTNER)
            assert served.by_quart == 1
            second = await served.get(url, Origin=PARTNER)
            assert served.by_quart == 1, "the second answer should not have reached Quart"
            stamped = path in ("/api/countdown", "/api/status")
            assert comparable(second, stamped) == comparable(first, stamped) and first.status_code == 200
            assert first.headers["Access-Control-Allow-Origin"] == PARTNER
            one, two = await first.get_data(), await second.get_data()
            if stamped:
                assert without_clock(two) == without_clock(one)
                assert json.loads(two)["server_time"] >= json.loads(one)["server_time"]
            else:
                assert two == one

    asyncio.run(scenario())


def test_an_event_sends_the_next_request_to_the_app(tmp_path: Path) -> None:
    async def scenario() -> None:
        async for served, _ in played_round(tmp_path):
            for path in ("/api/countdown", "/api/status", "/api/conversations"):
                await served.get(path)
            before = served.by_quart
            served.context.hub.deliver('{"type":"state"}')  # type: ignore[union-attr]
            for path in ("/api/countdown", "/api/status", "/api/conversations"):
                await served.get(path)
            assert served.by_quart == before + 3

    asyncio.run(scenario())


def test_the_rate_limit_holds_for_answers_from_memory(tmp_path: Path) -> None:
    async def scenario() -> None:
        async for served, _ in played_round(tmp_path, API_REQUESTS_PER_IP_PER_SECOND="3"):
            await served.get("/api/countdown", address="198.51.100.7")  # fills the snapshot
            statuses = [(await served.get("/api/countdown")).status_code for _ in range(4)]
            assert statuses[:3] == [200, 200, 200] and statuses[3] == 429
            refused = await served.get("/api/countdown")
            assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"

    asyncio.run(scenario())


def test_conditional_and_head_requests_are_the_apps(tmp_path: Path) -> None:
    async def scenario() -> None:
        async for served, conversation_id in played_round(tmp_path):
            path = f"/api/conversations/{conversation_id}"
            etag = (await served.get(path)).headers["ETag"]
            before = served.by_quart
            assert (await served.get(path, **{"If-None-Match": etag})).status_code == 304
            head = await served.app.test_client().head(path)
            assert head.status_code == 200  # Hypercorn leaves out the body on the wire
            assert served.by_quart == before + 2

    asyncio.run(scenario())


def test_ids_of_any_length_are_the_apps_404(tmp_path: Path) -> None:
    async def scenario() -> None:
        async for served, conversation_id in played_round(tmp_path):
            await served.get(f"/api/conversations/{conversation_id}")
            for digits in (f"{conversation_id:030d}", "9" * 20, "9" * 5000):
                answer = await served.get(f"/api/conversations/{digits}")
                assert answer.status_code in (200, 404), digits[:40]
                assert answer.status_code == 404 or digits.lstrip("0") == str(conversation_id)

    asyncio.run(scenario())


def test_a_request_without_host_is_the_apps(tmp_path: Path) -> None:
    """HTTP/1.0 may omit Host; Quart then answers for its own default host, not for the
    page kept for the server's address."""

    async def scenario() -> None:
        async for served, _ in played_round(tmp_path):
            await served.get("/", Host="127.0.0.1:8000")  # keeps the page for that host
            before = served.by_quart
            scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.0", "method": "GET",
                     "scheme": "http", "path": "/", "raw_path": b"/", "query_string": b"", "root_path": "",
                     "headers": [], "client": ("192.0.2.1", 5000), "server": ("127.0.0.1", 8000)}
            sent = await raw(served.app, scope)
            assert sent[0]["status"] == 200 and served.by_quart == before + 1

    asyncio.run(scenario())
