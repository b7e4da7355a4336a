"""Edges of the HTTP API: an engine that does not answer in time, ids past the database's
range, and the throttle on wrong /control tokens.

Most run the app in-process (Quart's test client) around a tiny fake system, so a hung
engine and a clock can be injected; the id tests use the real service and its SQLite.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pykka
import pytest
from quart import Quart

from actors.clock import SystemClock
from actors.view import EngineView, ModerationView, StatusView, Today
from settings import Settings
from storage import connect, setup_database
from tests.service import ADMIN_TOKEN, Service
from web.app import create_app

TOKEN = ADMIN_TOKEN
ADDRESS = ("203.0.113.5", 40000)


VIEW = EngineView(now=0.0, state="countdown", next_round_at=1.0, next_topic=None, queued_topics=(),
                  conversation=None, last_conversation=None, messages_per_round=16)


class FakeSystem:
    """The engine's surface the web layer calls; each method runs ``behaviour``."""

    clock = SystemClock()
    db: Any = None  # the audit trail's database, a real SQLite file (``audit_db``)

    def __init__(self, behaviour: Callable[[], Any]) -> None:
        self.behaviour = behaviour
        self.commands: list[str] = []

    def view(self) -> EngineView:
        self.behaviour()
        return VIEW

    def status(self) -> StatusView:
        return StatusView(self.view(), "engine", "test:1", {}, Today(), {}, ModerationView())

    def command(self, action: str) -> dict[str, Any]:
        self.commands.append(action)
        return dict(self.behaviour())


@pytest.fixture(autouse=True)
def audit_db(tmp_path: Path) -> Iterator[None]:
    """Admin routes record every request in the audit trail: give them a real SQLite file."""
    db = connect(f"sqlite:///{tmp_path / 'audit.db'}")
    setup_database(db)
    FakeSystem.db = db
    yield
    FakeSystem.db = None
    db.close()


def answer() -> dict[str, Any]:
    return {"state": "countdown", "server_time": 0, "next_round_at": 1000}


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at the end of a test, so a blocked fake call returns and its thread ends."""
    event = threading.Event()
    yield event
    event.set()


def hung(release: threading.Event) -> Callable[[], Any]:
    def behaviour() -> Any:
        release.wait(10)
        return answer()

    return behaviour


def ask_timeout() -> Any:
    raise pykka.Timeout("the supervisor did not answer")


def make_app(system: Any, **kwargs: Any) -> Quart:
    settings = Settings(providers={}, admin_token=TOKEN)
    return create_app(system, settings, **kwargs)


def request(app: Quart, method: str, path: str, release: threading.Event | None = None, **kwargs: Any) -> Any:
    """One request on a fresh loop; ``release`` is set once it is answered, so a hung
    fake call's thread ends before ``asyncio.run`` waits for its executor."""

    async def go() -> Any:
        try:
            return await app.test_client().open(path, method=method, **kwargs)
        finally:
            if release is not None:
                release.set()

    return asyncio.run(go())


def post_control(
    app: Quart, token: str | None, address: tuple[str, int] = ADDRESS, release: threading.Event | None = None
) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return request(app, "POST", "/control", release, json={"action": "force"}, headers=headers,
                   scope_base={"client": address})


def get(app: Quart, path: str, release: threading.Event | None = None) -> Any:
    return request(app, "GET", path, release)


# -- the engine does not answer in time ---------------------------------------------------


@pytest.mark.parametrize("path", ["/api/status", "/api/countdown"])
@pytest.mark.parametrize("how", ["hangs", "ask times out"])
def test_an_engine_that_does_not_answer_is_503_busy(release: threading.Event, path: str, how: str) -> None:
    behaviour = hung(release) if how == "hangs" else ask_timeout
    app = make_app(FakeSystem(behaviour), engine_timeout=0.05)
    response = get(app, path, release)
    assert response.status_code == 503
    assert asyncio.run(response.get_json()) == {"error": "the engine is busy; try again", "code": "engine_timeout"}


@pytest.mark.parametrize("how", ["hangs", "ask times out"])
def test_control_says_a_command_that_timed_out_may_still_apply(release: threading.Event, how: str) -> None:
    system = FakeSystem(hung(release) if how == "hangs" else ask_timeout)
    app = make_app(system, engine_timeout=0.05)
    response = post_control(app, TOKEN, release=release)
    assert response.status_code == 503
    assert asyncio.run(response.get_json()) == {
        "error": "the engine did not answer in time; the command may still be applied — check /api/status",
            "code": "engine_timeout",
    }
    assert system.commands == ["force"]


def test_an_engine_that_answers_in_time_is_200() -> None:
    app = make_app(FakeSystem(answer), engine_timeout=5)
    assert get(app, "/api/countdown").status_code == 200
    assert post_control(app, TOKEN).status_code == 200


# -- ids past the database's range ---------------------------------------------------------


def test_ids_past_the_database_range_are_404_in_paths_and_400_in_queries(service: Service) -> None:
    for path in (
        "/api/conversations/99999999999999999999999",
        "/api/conversations/9223372036854775808",
        "/api/conversations/9223372036854775808/export?format=md",
    ):
        status, body = service.get(path)
        assert status == 404 and "not found" in body["error"], (path, status, body)
    status, body = service.get("/api/conversations/9223372036854775807")
    assert status == 404 and "not found" in body["error"]
    for query in ("before=99999999999999999999999", "before=9223372036854775808", "limit=99999999999999999999999"):
        status, body = service.get(f"/api/conversations?{query}")
        assert status == 400 and query.split("=")[0] in body["error"], (query, status, body)
    assert service.get("/api/conversations?before=9223372036854775807")[0] == 200


# -- the throttle on wrong admin tokens ------------------------------------------------------


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_five_refusals_throttle_that_address_before_any_comparison(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeMonotonic()
    system = FakeSystem(answer)
    app = make_app(system, monotonic=clock)
    caplog.set_level(logging.WARNING, "roundtable.control")
    for attempt in range(5):
        status = post_control(app, "guess" if attempt % 2 else None).status_code
        assert status == (403 if attempt % 2 else 401)
        clock.now += 1.0
    # The throttle comes before the comparison: a dictionary that reaches the right
    # word late still gets 429, so guessing runs at five words a minute.
    throttled = post_control(app, TOKEN)
    assert throttled.status_code == 429
    assert asyncio.run(throttled.get_json()) == {"error": "too many failed admin attempts; wait a minute", "code": "too_many_attempts"}
    assert throttled.headers["Retry-After"] == "55"  # the first refusal ages out 60 s after it
    assert system.commands == []
    # Only the guessing address waits: an admin elsewhere is not locked out.
    assert post_control(app, TOKEN, ("198.51.100.7", 1)).status_code == 200
    assert post_control(app, "guess", ("198.51.100.7", 1)).status_code == 403
    # An IPv6 client owns its /64: another address in it is the same guesser.
    for _ in range(5):
        assert post_control(app, "guess", ("2001:db8:1:2::1", 1)).status_code == 403
    assert post_control(app, TOKEN, ("2001:db8:1:2::ffff", 1)).status_code == 429
    assert post_control(app, TOKEN, ("2001:db8:1:3::1", 1)).status_code == 200

    clock.now += 55.0  # the first refusal is now a minute old: one more try is allowed
    assert post_control(app, TOKEN).status_code == 200
    assert post_control(app, "guess").status_code == 403
    assert post_control(app, TOKEN).status_code == 429
    assert system.commands == ["force", "force", "force"]

    lines = [r.getMessage() for r in caplog.records if r.name == "roundtable.control"]
    assert lines == [  # coalesced: at most one line per 10 s per address
        "refused 1 /control attempts from 203.0.113.5",
        "refused 1 /control attempts from 198.51.100.7",
        "refused 1 /control attempts from 2001:db8:1:2::/64",
        "refused 5 /control attempts from 203.0.113.5",
    ]


def test_without_admin_token_refusals_are_not_throttled() -> None:
    app = create_app(FakeSystem(answer), Settings(providers={}), monotonic=FakeMonotonic())
    for _ in range(12):
        response = post_control(app, "anything")
        assert response.status_code == 403
    assert "set ADMIN_TOKEN" in asyncio.run(response.get_json())["error"]
