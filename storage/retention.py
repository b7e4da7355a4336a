"""Removing old rows: ``run.py prune --older-than 90d`` and ``RETENTION_DAYS``.

``prune(db, cutoff_ms)`` deletes every row strictly older than the cut-off, in one
transaction: finished conversations (a round or a skipped slot, dated by when it ended,
else started, else its slot) with their messages, and the rows of every table in
``TIMESTAMPED`` by its time column. The round in progress is never removed.

A new table with a time column joins retention by adding ``(Model, Model.time_field)`` to
``TIMESTAMPED``; a table that references ``conversations`` should do so with
``on_delete="CASCADE"`` so its rows go with their conversation.
"""

from __future__ import annotations

import re
from typing import Any, Final

import peewee

from storage.db import refresh_statistics, retrying
from storage.models import ApiCallRecord, AuditEntry, Conversation, ConversationStatus, Message

__all__ = ["TIMESTAMPED", "parse_duration", "prune"]

#: Tables pruned by a time column (epoch ms), besides conversations and messages.
TIMESTAMPED: Final[tuple[tuple[type[peewee.Model], Any], ...]] = (
    (ApiCallRecord, ApiCallRecord.at),
    (AuditEntry, AuditEntry.at),
)
_UNITS: Final = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
_DURATION: Final = re.compile(r"^\s*(\d+)\s*([dhms])\s*$")


def parse_duration(text: str) -> int:
    """``90d``, ``12h``, ``30m``, ``1s`` -> seconds (> 0); ``ValueError`` saying the form."""
    match = _DURATION.match(text.lower())
    if match is None or int(match.group(1)) == 0:
        raise ValueError(f"{text!r} is not a duration like 90d, 12h, 30m or 1s")
    return int(match.group(1)) * _UNITS[match.group(2)]


def prune(db: peewee.Database, cutoff_ms: int, *, keep_open: bool = False) -> dict[str, int]:
    """Delete the rows older than ``cutoff_ms`` (exclusive), then refresh the planner's
    statistics (the tables just changed); the count removed per table. Runs on the
    calling thread (``keep_open`` as in ``storage.db.using``); raises ``StorageError``."""

    def work() -> dict[str, int]:
        with db.atomic():
            removed = _prune_conversations(cutoff_ms)
            for model, column in TIMESTAMPED:
                removed[model._meta.table_name] = model.delete().where(column < cutoff_ms).execute()
            return removed

    removed = retrying(db, "prune", work, keep_open=keep_open)
    refresh_statistics(db, keep_open=keep_open)
    return removed


def _prune_conversations(cutoff_ms: int) -> dict[str, int]:
    when = peewee.fn.COALESCE(Conversation.ended_at, Conversation.started_at, Conversation.scheduled_at)
    old = Conversation.select(Conversation.id).where(
        (Conversation.status != ConversationStatus.ACTIVE.value) & (when < cutoff_ms)
    )
    # Messages explicitly (not only by ON DELETE CASCADE), so the count can be reported.
    messages = Message.delete().where(Message.conversation.in_(old)).execute()
    conversations = Conversation.delete().where(Conversation.id.in_(old)).execute()
    return {"conversations": conversations, "messages": messages}
