"""Read-only queries: the engine's stored state as typed views, in epoch SECONDS.

Tables hold epoch milliseconds; rows are turned into ``actors.view`` values here (with
``storage.models.to_seconds``), and the web layer turns those into wire shapes with
``actors.wire``. Called by the web layer from worker threads (``asyncio.to_thread``), by a
standby and by the Persistence actor on its own thread; each call binds and, if needed,
opens (then closes) a connection on the calling thread (``storage.db.using``). Failures
raise ``StorageError``, except ``ping`` which answers ``False``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Final

import peewee
from peewee import JOIN, fn

from actors.view import Citation, FailureView, MessageView, RoundView
from storage.db import using
from storage.models import (
    STATUS_ROW_ID,
    ApiCallRecord,
    Conversation,
    ConversationStatus,
    Message,
    SystemStatus,
    TopicDeckRecord,
    to_ms,
    to_seconds,
)

__all__ = [
    "STATUS_DEFAULTS",
    "active_conversation",
    "calls_since",
    "completed_conversations",
    "get_conversation",
    "last_completed_conversation",
    "list_conversations",
    "load_status",
    "load_topic_deck",
    "message_view",
    "ping",
    "recent_failures",
    "spend_since",
]

#: The engine's persisted status when no row exists yet (times in epoch seconds).
STATUS_DEFAULTS: Final[dict[str, Any]] = {
    "next_round_at": None,
    "paused": False,
    "state": "countdown",
    "leader_id": None,
    "heartbeat_at": None,
    "updated_at": None,
}
_STATUS_TIMES: Final = ("next_round_at", "heartbeat_at", "updated_at")



def list_conversations(
    db: peewee.Database, limit: int, before_id: int | None = None
) -> list[RoundView]:
    """Up to ``limit`` conversations (skipped slots included), newest first.

    ``before_id`` pages back: only conversations with a smaller id.
    """
    with using(db, "list_conversations"):
        query = _summaries().order_by(Conversation.id.desc()).limit(max(0, limit))
        if before_id is not None:
            query = query.where(Conversation.id < before_id)
        return [_summary(row) for row in _rows(query)]


def get_conversation(db: peewee.Database, conversation_id: int) -> RoundView | None:
    """The conversation with its messages in ``seq`` order, or ``None`` if there is none."""
    with using(db, "get_conversation"):
        row = _first(_summaries().where(Conversation.id == conversation_id))
        if row is None:
            return None
        messages = Message.select().where(Message.conversation == conversation_id)
        return _summary(row, tuple(message_view(m) for m in messages.order_by(Message.seq)))


def last_completed_conversation(db: peewee.Database) -> RoundView | None:
    """The summary of the newest conversation with status ``complete``, or ``None``."""
    with using(db, "last_completed_conversation"):
        query = _summaries().where(Conversation.status == ConversationStatus.COMPLETE)
        row = _first(query.order_by(Conversation.id.desc()))
        return None if row is None else _summary(row)


def active_conversation(db: peewee.Database) -> RoundView | None:
    """The newest ``active`` conversation with its messages (``get_conversation`` shape)."""
    with using(db, "active_conversation"):
        active = (
            Conversation.select(Conversation.id)
            .where(Conversation.status == ConversationStatus.ACTIVE.value)
            .order_by(Conversation.id.desc())
            .first()
        )
        return None if active is None else get_conversation(db, active.id)


def completed_conversations(
    db: peewee.Database, limit: int, *, with_messages: bool = False
) -> list[RoundView]:
    """Up to ``limit`` conversations with status ``complete``, newest first (summaries,
    or ``get_conversation`` shapes when ``with_messages``): the feed, the sitemap and the
    digest of earlier rounds."""
    with using(db, "completed_conversations"):
        query = _summaries().where(Conversation.status == ConversationStatus.COMPLETE.value)
        rows = _rows(query.order_by(Conversation.id.desc()).limit(max(0, limit)))
        if not with_messages or not rows:
            return [_summary(row) for row in rows]
        messages: dict[int, list[MessageView]] = {row["id"]: [] for row in rows}
        query_messages = Message.select().where(Message.conversation.in_(list(messages)))
        for message in query_messages.order_by(Message.conversation, Message.seq):
            messages[message.__data__["conversation"]].append(message_view(message))
        return [_summary(row, tuple(messages[row["id"]])) for row in rows]


def load_topic_deck(db: peewee.Database) -> dict[str, Any] | None:
    """The saved topic deck (``TopicDeck.state()``), or ``None`` before the first save."""
    with using(db, "load_topic_deck"):
        row = TopicDeckRecord.get_or_none(TopicDeckRecord.id == STATUS_ROW_ID)
        if row is None:
            return None
        try:
            state = json.loads(row.state or "{}")
        except ValueError:
            return None
        return state if isinstance(state, dict) else None


def load_status(db: peewee.Database) -> dict[str, Any]:
    """The engine's persisted status (``system_status``; times in epoch seconds), or
    ``STATUS_DEFAULTS`` when the engine has not written one yet."""
    with using(db, "load_status"):
        row = SystemStatus.get_or_none(SystemStatus.id == STATUS_ROW_ID)
        if row is None:
            return dict(STATUS_DEFAULTS)
        status = {name: getattr(row, name) for name in STATUS_DEFAULTS}
        for name in _STATUS_TIMES:
            status[name] = to_seconds(status[name])
        status["paused"] = bool(status["paused"])
        return status


def spend_since(db: peewee.Database, since: float) -> float:
    """The sum of ``api_calls.cost_usd`` for calls at or after ``since`` (epoch seconds)."""
    with using(db, "spend_since"):
        total = (
            ApiCallRecord.select(fn.SUM(ApiCallRecord.cost_usd))
            .where(ApiCallRecord.at >= to_ms(since))
            .scalar()
        )
        return float(total or 0.0)


def calls_since(db: peewee.Database, since: float) -> dict[str, dict[str, Any]]:
    """Per provider, ``{"calls", "cost_usd", "prompt_tokens", "completion_tokens"}`` for
    calls at or after ``since`` (epoch seconds)."""
    with using(db, "calls_since"):
        query = (
            ApiCallRecord.select(
                ApiCallRecord.provider,
                fn.COUNT(ApiCallRecord.id).alias("calls"),
                fn.SUM(ApiCallRecord.cost_usd).alias("cost_usd"),
                fn.SUM(ApiCallRecord.prompt_tokens).alias("prompt_tokens"),
                fn.SUM(ApiCallRecord.completion_tokens).alias("completion_tokens"),
            )
            .where(ApiCallRecord.at >= to_ms(since))
            .group_by(ApiCallRecord.provider)
        )
        rows: Iterable[dict[str, Any]] = query.dicts()  # type: ignore[assignment]
        return {
            row["provider"]: {
                "calls": int(row["calls"]),
                "cost_usd": float(row["cost_usd"] or 0.0),
                "prompt_tokens": int(row["prompt_tokens"] or 0),
                "completion_tokens": int(row["completion_tokens"] or 0),
            }
            for row in rows
        }


def ping(db: peewee.Database) -> bool:
    """True when the database answers ``SELECT 1`` (for ``/readyz``); never raises."""
    try:
        with using(db, "ping"):
            return db.execute_sql("SELECT 1").fetchone()[0] == 1
    except Exception:  # readiness: any failure only means "not ready"
        return False


def message_view(message: Message) -> MessageView:
    """One stored message, in seconds."""
    revealed_at = to_seconds(message.revealed_at)
    return MessageView(
        conversation_id=message.__data__["conversation"], seq=message.seq, agent=message.agent,
        persona=message.persona, provider=message.provider, model=message.model,
        source=message.source, content=message.content, citations=_citations(message.citations),
        revealed_at=revealed_at if revealed_at is not None else 0.0,
        latency_ms=int(message.latency_ms or 0), prompt_tokens=int(message.prompt_tokens or 0),
        completion_tokens=int(message.completion_tokens or 0),
        cost_usd=float(message.cost_usd or 0.0), fallback_reason=message.fallback_reason,
        cost_estimated=bool(message.cost_estimated),
    )


def _summaries() -> peewee.ModelSelect[Conversation]:
    return (
        Conversation.select(Conversation, fn.COUNT(Message.id).alias("message_count"))
        .join(Message, JOIN.LEFT_OUTER, on=(Message.conversation == Conversation.id))
        .group_by(Conversation.id)
    )


def _summary(row: dict[str, Any], messages: tuple[MessageView, ...] = ()) -> RoundView:
    return RoundView(
        id=row["id"], topic=row["topic"], status=row["status"],
        scheduled_at=to_seconds(row["scheduled_at"]), started_at=to_seconds(row["started_at"]),
        ended_at=to_seconds(row["ended_at"]), forced=bool(row["forced"]),
        skip_reason=row["skip_reason"], message_count=int(row["message_count"]), messages=messages,
    )


def _rows(query: peewee.ModelSelect[Conversation]) -> list[dict[str, Any]]:
    return list(query.dicts())  # type: ignore[arg-type]


def _first(query: peewee.ModelSelect[Conversation]) -> dict[str, Any] | None:
    rows = _rows(query.limit(1))
    return rows[0] if rows else None


def _citations(text: str) -> tuple[Citation, ...]:
    try:
        items = json.loads(text or "[]")
    except ValueError:
        return ()
    return tuple(
        Citation(str(item.get("url", "")), str(item.get("title", "")))
        for item in items
        if isinstance(item, dict)
    )


def recent_failures(db: peewee.Database, limit: int) -> list[FailureView]:
    """The newest ``limit`` failed provider calls, newest first (``wire.failure`` shapes
    them for ``/api/admin/errors``)."""
    with using(db, "recent_failures"):
        query = (
            ApiCallRecord.select()
            .where(ApiCallRecord.ok == False)  # noqa: E712 - peewee builds SQL from ==
            .order_by(ApiCallRecord.at.desc(), ApiCallRecord.id.desc())
            .limit(max(0, limit))
        )
        return [
            FailureView(row.provider, row.model, row.error_class, row.status_code,
                        int(row.latency_ms or 0), to_seconds(row.at))
            for row in query
        ]
