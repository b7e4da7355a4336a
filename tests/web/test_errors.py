"""The error tree and its one mapping to answers (``actors.errors``, ``web.errors``).

Each class of the tree, raised in a route of the real app factory, answers its status,
``{"error", "code"}`` and headers; it crosses instances (the relay's (status, body)) as
the same class; and a bug is a 500 that says nothing of itself, logged with its
traceback, unlike a refusal (one line, no traceback).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pykka
import pytest
from quart import Quart
from werkzeug.datastructures import Headers

from actors.broadcaster import Hub
from actors.clock import SystemClock
from actors.errors import (
    BadPayload,
    CommandRefused,
    EngineStopped,
    EngineTimeout,
    MissingToken,
    NoEngine,
    RoundtableError,
    TooManyAttempts,
    body_of,
    error_classes,
    from_answer,
)
from actors.relay import run_request
from settings import Settings
from storage import connect, setup_database
from storage.errors import StorageError
from storage.leader import EngineLockHeld
from tests.web.test_ws_edges import _websocket_scope
from web.app import create_app

SECRET = "psycopg2 said: connection to 10.9.8.7 failed for user roundtable"

#: The documented table (docs/architecture.md, "Errors"): status and code of every class.
TABLE = {
    "RoundtableError": (500, "internal_error"),
    "BadRequest": (400, "bad_request"),
    "BadPayload": (400, "bad_payload"),
    "UnknownAction": (400, "unknown_action"),
    "InvalidTopic": (400, "invalid_topic"),
    "InvalidHost": (400, "invalid_host"),
    "HeadersTooLarge": (431, "headers_too_large"),
    "MissingToken": (401, "missing_token"),
    "Forbidden": (403, "forbidden"),
    "AdminDisabled": (403, "admin_disabled"),
    "WrongToken": (403, "wrong_token"),
    "CommandRefused": (409, "command_refused"),
    "TooManyRequests": (429, "too_many_requests"),
    "TooManyAttempts": (429, "too_many_attempts"),
    "RateLimited": (429, "rate_limited"),
    "Unavailable": (503, "unavailable"),
    "EngineTimeout": (503, "engine_timeout"),
    "EngineStopped": (503, "engine_stopped"),
    "NoEngine": (503, "no_engine"),
    "StorageError": (503, "storage_unavailable"),
    "EngineLockHeld": (503, "engine_lock_held"),
}


class FakeSystem:
    """An ``Engine`` whose every view raises ``error`` (the engine's or standby's surface)."""

    clock = SystemClock()
    db: Any = None

    def __init__(self, error: Exception) -> None:
        self.error = error

    def view(self) -> Any:
        raise self.error

    def status(self) -> Any:
        raise self.error

    def command(self, action: str, **arguments: object) -> dict[str, Any]:
        raise self.error


@pytest.fixture(autouse=True)
def audit_db(tmp_path: Path) -> Iterator[None]:
    """/control records every answer in the audit trail: a real SQLite file."""
    db = connect(f"sqlite:///{tmp_path / 'audit.db'}")
    setup_database(db)
    FakeSystem.db = db
    yield
    FakeSystem.db = None
    db.close()


def app_raising(error: Exception) -> Quart:
    return create_app(FakeSystem(error), Settings(providers={}, admin_token="t" * 32))


def get_status(app: Quart) -> tuple[int, Any, Headers]:
    async def go() -> Any:
        return await app.test_client().get("/api/status")

    response = asyncio.run(go())
    return response.status_code, asyncio.run(response.get_json()), response.headers


def test_every_class_has_the_documented_status_and_a_unique_snake_case_code() -> None:
    assert issubclass(EngineLockHeld, StorageError)  # loaded: the tree is complete
    classes = {cls.__name__: (cls.status, cls.code) for cls in error_classes()}
    assert classes == TABLE
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", code) for _, code in TABLE.values())
    assert len({code for _, code in TABLE.values()}) == len(TABLE)


@pytest.mark.parametrize("cls", error_classes(), ids=lambda cls: cls.__name__)
def test_each_class_is_answered_with_its_status_code_and_message(cls: type[RoundtableError]) -> None:
    error = cls("what the client is told")
    status, body, headers = get_status(app_raising(error))
    assert status == cls.status
    assert body == {"error": error.message, "code": cls.code}
    assert headers["Content-Type"] == "application/json"


def test_headers_retry_after_and_www_authenticate() -> None:
    _, body, headers = get_status(app_raising(StorageError(SECRET, transient=True)))
    assert headers["Retry-After"] == "5"
    assert body == {"error": "the database is unavailable; try again shortly", "code": "storage_unavailable"}
    _, _, headers = get_status(app_raising(TooManyAttempts("wait", retry_after=42)))
    assert headers["Retry-After"] == "42"
    _, _, headers = get_status(app_raising(MissingToken("send a token")))
    assert headers["WWW-Authenticate"] == 'Bearer realm="roundtable-control"'
    assert "Retry-After" not in headers
    _, _, headers = get_status(app_raising(CommandRefused("cannot force while active")))
    assert "Retry-After" not in headers and "WWW-Authenticate" not in headers


@pytest.mark.parametrize("cls", error_classes(), ids=lambda cls: cls.__name__)
def test_an_answer_from_another_instance_is_rebuilt_as_the_same_class(cls: type[RoundtableError]) -> None:
    error = cls("cannot pause while paused: already paused")
    again = from_answer(cls.status, body_of(error))
    assert type(again) is cls and body_of(again) == body_of(error)


def test_an_unknown_code_from_a_newer_instance_keeps_its_status() -> None:
    again = from_answer(409, {"error": "cannot dance while paused", "code": "dance_refused"})
    assert type(again) is CommandRefused and str(again) == "cannot dance while paused"
    assert type(from_answer(418, {"error": "teapot"})) is RoundtableError


def test_a_refusal_is_one_line_without_a_traceback(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    status, _, _ = get_status(app_raising(NoEngine("no engine answered in time")))
    assert status == 503
    lines = [r for r in caplog.records if r.name == "roundtable.web"]
    assert len(lines) == 1 and lines[0].exc_info is None
    assert lines[0].getMessage() == "503 no_engine on GET /api/status: no engine answered in time"


def test_a_bug_in_the_engine_is_a_500_that_says_nothing_and_is_logged_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    status, body, _ = get_status(app_raising(RuntimeError(SECRET)))
    assert status == 500  # not the 503 of a refusal or an outage: a bug is not expected
    assert body == {"error": "internal server error", "code": "internal_error"}
    (record,) = [r for r in caplog.records if r.name == "roundtable.web"]
    assert record.levelno == logging.ERROR and record.exc_info is not None
    assert record.getMessage() == "unexpected error on GET /api/status"
    assert SECRET in caplog.text  # the operator sees what happened; the client does not


def test_a_bug_behind_control_is_a_500_and_a_standby_refusal_a_503() -> None:
    token = "t" * 32

    def post(error: Exception) -> tuple[int, Any]:
        app = create_app(FakeSystem(error), Settings(providers={}, admin_token=token))

        async def go() -> Any:
            return await app.test_client().post(
                "/control", json={"action": "force"}, headers={"Authorization": f"Bearer {token}"}
            )

        response = asyncio.run(go())
        return response.status_code, asyncio.run(response.get_json())

    assert post(RuntimeError(SECRET)) == (500, {"error": "internal server error", "code": "internal_error"})
    assert post(NoEngine("not applied")) == (503, {"error": "not applied", "code": "no_engine"})
    assert post(EngineTimeout("busy"))[1]["code"] == "engine_timeout"


def test_a_bad_payload_is_a_value_error_no_more() -> None:
    """Nothing catches refusals as ``ValueError``/``RuntimeError`` any longer: a bug of
    those types can no longer pass for a refusal."""
    assert not issubclass(BadPayload, ValueError)
    assert not any(issubclass(cls, (ValueError, RuntimeError)) for cls in error_classes())


@pytest.mark.parametrize(
    "error",
    [StorageError(SECRET, transient=True), EngineStopped("stopping"), EngineTimeout("busy")],
    ids=lambda error: type(error).__name__,
)
def test_a_visitor_whose_hello_is_unavailable_is_told_to_try_again(
    error: RoundtableError, caplog: pytest.LogCaptureFixture,
) -> None:
    """Any 503 while reading the hello (a standby's database out, an engine stepping
    down) closes with 1013, so the widget reconnects: one log line, no traceback."""

    async def scenario() -> list[dict[str, Any]]:
        hub = Hub(asyncio.get_running_loop())
        app = create_app(FakeSystem(error), Settings(providers={}), hub)
        to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        to_app.put_nowait({"type": "websocket.connect"})
        task = asyncio.ensure_future(app(_websocket_scope("/ws"), to_app.get, from_app.put))  # type: ignore[arg-type]
        sent = [await asyncio.wait_for(from_app.get(), 5) for _ in range(2)]
        to_app.put_nowait({"type": "websocket.disconnect", "code": 1013})
        await asyncio.wait_for(task, 5)
        return sent

    accepted, closed = asyncio.run(scenario())
    assert accepted["type"] == "websocket.accept"
    assert closed["type"] == "websocket.close" and closed["code"] == 1013
    lines = [r for r in caplog.records if r.name.startswith("roundtable")]
    assert len(lines) == 1 and lines[0].exc_info is None and SECRET not in closed.get("reason", "")


@pytest.mark.parametrize(
    ("raised", "status", "code"),
    [(CommandRefused("cannot pause while paused: already paused"), 409, "command_refused"),
     (StorageError(SECRET), 503, "storage_unavailable"),
     (pykka.Timeout("the supervisor did not answer"), 503, "engine_timeout"),
     (pykka.ActorDeadError("stopped"), 503, "engine_stopped"),
     (RuntimeError(SECRET), 500, "internal_error")],
    ids=["refused", "database", "ask timeout", "actor stopped", "bug"],
)
def test_the_engine_answers_a_relayed_command_as_its_own_control_would(
    raised: Exception, status: int, code: str, caplog: pytest.LogCaptureFixture,
) -> None:
    """``run_request`` (the engine's side of the relay) turns every outcome into (status,
    body); the standby rebuilds the same class from it. Only a bug logs a traceback."""
    answered = run_request(FakeSystem(raised), {"action": "pause"})  # type: ignore[arg-type]
    assert answered[0] == status and answered[1]["code"] == code and SECRET not in answered[1]["error"]
    again = from_answer(*answered)
    assert (again.status, again.code) == (status, code)
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == (1 if status == 500 else 0)


def test_commands_while_admin_is_disabled_are_refused_and_logged_once_a_while(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Anyone can send them at request speed, before any token: a line per 10 s."""
    app = create_app(FakeSystem(RuntimeError("never asked")), Settings(providers={}))

    async def go() -> list[tuple[int, Any]]:
        client = app.test_client()
        responses = [await client.post("/control", json={"action": "force"}) for _ in range(3)]
        return [(r.status_code, await r.get_json()) for r in responses]

    caplog.set_level(logging.INFO)
    answers = asyncio.run(go())
    assert {(status, body["code"]) for status, body in answers} == {(403, "admin_disabled")}
    (line,) = [r for r in caplog.records if r.name == "roundtable.web"]
    assert line.getMessage().startswith("403 admin_disabled on POST /control: admin actions are disabled")
