"""The engine's and a standby's ``hello``, ``/api/status`` and ``/api/countdown`` have the
same shape (every key, recursively), before a round, during it and after it ends: both
build one ``actors.view.EngineView`` and ``actors.wire`` turns it into every shape.

Two real instances (``python run.py`` under Hypercorn) on a fresh PostgreSQL database.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.db_fixtures import postgres_server_url, scratch_postgres_url  # noqa: F401
from tests.service import Service, engine_and_standby
from tests.web.conftest import Client, is_state

pytestmark = pytest.mark.postgres

#: Slow enough that "during the round" is a few seconds long.
STEADY = {"MESSAGE_GAP_MIN_SECONDS": "0.3", "MESSAGE_GAP_MAX_SECONDS": "0.35"}


def shape(value: Any, path: str = "$") -> set[str]:
    """Every key path in ``value``; a list contributes the shapes of its elements."""
    if isinstance(value, dict):
        return {path}.union(*(shape(v, f"{path}.{k}") for k, v in value.items()))
    if isinstance(value, list):
        return {f"{path}[]"}.union(*(shape(item, f"{path}[]") for item in value))
    return {path}


def test_shape_reads_keys_recursively_and_lists_by_their_elements() -> None:
    assert shape({"a": {"b": 1}, "c": [{"d": None}, {"e": 2}], "f": None}) == {
        "$", "$.a", "$.a.b", "$.c[]", "$.c[].d", "$.c[].e", "$.f",
    }  # fmt: skip
    assert shape({"next": None}) != shape({"next": {"seq": 1}})


@pytest.fixture
def pair(tmp_path: Path, scratch_postgres_url: str) -> Iterator[tuple[Service, Service]]:  # noqa: F811
    """The first instance runs the engine; the second is a standby on the same database."""
    env = {"DATABASE_URL": scratch_postgres_url, **STEADY}
    for name in ("engine", "standby"):
        (tmp_path / name).mkdir()
    with engine_and_standby(tmp_path / "engine", tmp_path / "standby", env) as both:
        yield both


def views(service: Service) -> dict[str, Any]:
    client = Client(service.ws_url)
    try:
        hello = client.next()
    finally:
        client.close()
    return {"hello": hello, "status": service.get("/api/status")[1], "countdown": service.get("/api/countdown")[1]}


def assert_same_shapes(engine: Service, standby: Service, when: str) -> tuple[dict[str, Any], dict[str, Any]]:
    ours, theirs = views(engine), views(standby)
    for name in ("hello", "status", "countdown"):
        a, b = shape(ours[name]), shape(theirs[name])
        assert a == b, f"{when}: {name} differs: engine only {sorted(a - b)}, standby only {sorted(b - a)}"
    assert (ours["status"]["role"], theirs["status"]["role"]) == ("engine", "standby")
    assert ours["status"]["instance"] != theirs["status"]["instance"]
    return ours, theirs


def test_engine_and_standby_speak_the_same_shapes(pair: tuple[Service, Service]) -> None:
    engine, standby = pair
    ours, theirs = assert_same_shapes(engine, standby, "before a round")
    # The checks in effect are the engine's gate's to know; both know the settings.
    assert ours["status"]["moderation"] == {"mode": "auto", "checks": "wordlist", "fails": "closed", "detail": None}
    assert theirs["status"]["moderation"] == {"mode": "auto", "checks": None, "fails": "closed", "detail": None}

    watcher = Client(standby.ws_url)  # a standby's visitor: the standby learns the plan too
    watcher.next()
    conversation_id = engine.force()["conversation"]["id"]
    watcher.until(lambda e: e["type"] == "message" and e["seq"] == 3)
    ours, theirs = assert_same_shapes(engine, standby, "during the round")
    for views_ in (ours, theirs):
        assert views_["hello"]["conversation"]["id"] == conversation_id
        assert views_["hello"]["messages"] and views_["hello"]["next"] is not None

    watcher.until(is_state("complete"), timeout=30)
    watcher.until(is_state("countdown"), timeout=10)
    watcher.close()
    ours, theirs = assert_same_shapes(engine, standby, "after the round")
    assert ours["hello"]["last_conversation"] == theirs["hello"]["last_conversation"]
    assert ours["status"]["last_conversation"]["id"] == conversation_id
