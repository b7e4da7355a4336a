"""The audit table on a real SQLite file and the real PostgreSQL: record, read, prune."""

from __future__ import annotations

import peewee
import pytest

from actors import wire
from storage import setup_database
from storage.audit import AuditRecord, recent, record
from storage.db import using
from storage.models import ApiCallRecord
from storage.queries import recent_failures
from storage.retention import prune


@pytest.fixture
def ready(db: peewee.Database) -> peewee.Database:
    setup_database(db)
    return db


def entry(at: float, action: str = "pause", **extra: object) -> AuditRecord:
    fields = {"result": "accepted", "status": 200, "client": "127.0.0.1", "token_fingerprint": "0a1b2c3d"}
    return AuditRecord(at=at, action=action, **{**fields, **extra})  # type: ignore[arg-type]


def test_recent_is_newest_first_in_seconds_and_wire_makes_the_ms(ready: peewee.Database) -> None:
    record(ready, entry(1_000.0, "force"))
    record(ready, entry(1_002.5, "skip", result="refused", status=409, detail="paused"))
    record(ready, entry(1_001.0, "pause"))
    rows = recent(ready, 50)
    assert [r.action for r in rows] == ["skip", "pause", "force"]
    assert rows[0].at == 1_002.5 and rows[0].id is not None
    assert wire.audit_entry(rows[0]) == {
        "id": rows[0].id, "at": 1_002_500, "action": "skip", "result": "refused",
        "status": 409, "detail": "paused", "client": "127.0.0.1", "token_fingerprint": "0a1b2c3d",
    }  # fmt: skip
    assert [r.action for r in recent(ready, 2)] == ["skip", "pause"]


def test_long_texts_are_cut(ready: peewee.Database) -> None:
    record(ready, entry(1.0, "a" * 500, detail="d" * 5000, client="c" * 300))
    row = recent(ready, 1)[0]
    assert len(row.action) == 40 and len(row.detail) == 240 and len(row.client) == 64
    assert row.action.endswith("\u2026")


def test_retention_prunes_the_older_entries(ready: peewee.Database) -> None:
    for at in (10.0, 20.0, 30.0):
        record(ready, entry(at))
    assert prune(ready, 20_000)["audit_log"] == 1
    assert [r.at for r in recent(ready)] == [30.0, 20.0]


def test_recent_failures_lists_failed_calls_only(ready: peewee.Database) -> None:
    with using(ready):
        for at, ok in ((1, False), (2, True), (3, False)):
            ApiCallRecord.insert(
                provider="openai", model="m", ok=ok, at=at, latency_ms=5,
                error_class=None if ok else "529 overloaded_error", status_code=None if ok else 529,
            ).execute()  # fmt: skip
    failures = recent_failures(ready, 10)
    assert [f.at for f in failures] == [0.003, 0.001]  # seconds: the table's ms converted
    assert wire.failure(failures[0]) == {
        "provider": "openai", "model": "m", "error_class": "529 overloaded_error",
        "status_code": 529, "latency_ms": 5, "at": 3,
    }  # fmt: skip
