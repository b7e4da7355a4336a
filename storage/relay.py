"""The ``commands`` table: admin commands relayed from any instance to the engine's.

A standby ``submit``s a request (and, on PostgreSQL, NOTIFYs ``CHANNEL`` with its id), then
reads ``answer_of`` until the engine has answered. The engine's instance takes each
``pending`` request with ``claim`` (one UPDATE that only one claimant can win), runs it and
stores its ``answer``. A standby that gives up first ``withdraw``s its request, which
succeeds only while nobody has claimed it, so a command is either answered or never run.
Every function runs on the calling thread, inside ``storage.db.using``.
"""

from __future__ import annotations

import json
import time
from typing import Any, Final

import peewee

from actors.clock import DAY_SECONDS
from storage.db import retrying
from storage.models import RelayedCommand, to_ms

__all__ = ["CHANNEL", "KEEP_SECONDS", "answer", "answer_of", "claim", "forget_old", "pending", "submit", "withdraw"]

CHANNEL: Final = "roundtable_commands"
#: Rows older than this are deleted by ``forget_old``.
KEEP_SECONDS: Final = DAY_SECONDS


def _now_ms() -> int:
    # The wall clock, not an injected one: these rows are written by one instance and aged
    # by another (a standby submits, the engine claims and forgets), so only a clock every
    # instance shares can compare them; and no ``Clock`` reaches these module functions.
    return to_ms(time.time())


def submit(db: peewee.Database, request: dict[str, Any], origin: str) -> int:
    """Store ``request`` for the engine; its id. NOTIFYs the engine on PostgreSQL."""

    def insert() -> int:
        with db.atomic():
            command_id = int(RelayedCommand.insert(
                request=json.dumps(request), origin=origin, created_at=_now_ms(),
            ).execute())
            if isinstance(db, peewee.PostgresqlDatabase):
                db.execute_sql("SELECT pg_notify(%s, %s)", (CHANNEL, str(command_id)))
        return command_id

    return retrying(db, "submit an admin command", insert)


def answer_of(db: peewee.Database, command_id: int) -> tuple[int, dict[str, Any]] | None:
    """The engine's (status, body), or None while it has not answered."""

    def read() -> tuple[int, dict[str, Any]] | None:
        row = RelayedCommand.get_or_none(RelayedCommand.id == command_id)
        if row is None or row.answered_at is None or row.status is None:
            return None
        return int(row.status), dict(json.loads(row.answer or "{}"))

    return retrying(db, "read an admin command's answer", read)


def withdraw(db: peewee.Database, command_id: int, status: int, body: dict[str, Any]) -> bool:
    """Answer our own request with (status, body) if no engine has claimed it yet; whether
    it was withdrawn (False: an engine has it, and may still run it)."""
    query = RelayedCommand.update(
        claimed_at=_now_ms(), answered_at=_now_ms(), status=status, answer=json.dumps(body),
    ).where((RelayedCommand.id == command_id) & RelayedCommand.claimed_at.is_null())
    return bool(retrying(db, "withdraw an admin command", query.execute))


def pending(db: peewee.Database, max_age_seconds: float) -> list[tuple[int, dict[str, Any]]]:
    """Unclaimed requests younger than ``max_age_seconds``, oldest first."""

    def read() -> list[tuple[int, dict[str, Any]]]:
        since = _now_ms() - to_ms(max_age_seconds)
        rows = (RelayedCommand.select(RelayedCommand.id, RelayedCommand.request)
                .where(RelayedCommand.claimed_at.is_null() & (RelayedCommand.created_at >= since))
                .order_by(RelayedCommand.id))
        return [(int(row.id), dict(json.loads(row.request))) for row in rows]

    return retrying(db, "read pending admin commands", read)


def claim(db: peewee.Database, command_id: int) -> bool:
    """Take ``command_id`` for this engine; False if someone else has (or it was withdrawn)."""
    query = RelayedCommand.update(claimed_at=_now_ms()).where(
        (RelayedCommand.id == command_id) & RelayedCommand.claimed_at.is_null()
    )
    return bool(retrying(db, "claim an admin command", query.execute))


def answer(db: peewee.Database, command_id: int, status: int, body: dict[str, Any]) -> None:
    """Store the engine's answer to ``command_id``."""
    query = RelayedCommand.update(answered_at=_now_ms(), status=status, answer=json.dumps(body)).where(
        RelayedCommand.id == command_id
    )
    retrying(db, "answer an admin command", query.execute)


def forget_old(db: peewee.Database) -> int:
    """Delete requests older than ``KEEP_SECONDS``; how many."""
    cutoff = _now_ms() - to_ms(KEEP_SECONDS)
    query = RelayedCommand.delete().where(RelayedCommand.created_at < cutoff)
    return int(retrying(db, "forget old admin commands", query.execute))
