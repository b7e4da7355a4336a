"""The Persistence actor: the only writer of the database.

Other actors call it through its proxy: ``ask`` (``.get(timeout=...)``) when they need
the result, ``tell``-style (ignore the future) otherwise. Every method runs on the
actor's own thread, one message at a time, so writes never interleave. The API speaks
epoch SECONDS (floats); rows store epoch milliseconds (see ``storage.models``).

Reads retry briefly on a transient error (SQLite busy, PostgreSQL serialization failure
or deadlock, a lost connection). WRITES retry a transient error until they are stored,
with a backoff up to ``WRITE_RETRY_MAX_SECONDS``: another process holding SQLite's lock
for 25 s, or a PostgreSQL restart, delays them but loses none, and since the actor takes
one message at a time they are stored in the order they were sent. Only ``abandon``
(set when the engine halts) ends the wait. Any other failure raises ``StorageError``
with the original chained, which goes back to the caller of an ``ask``.

Wiring::

    db = storage.connect(settings.database_url)
    persistence = Persistence.start(db, clock=SystemClock()).proxy()
    conversation_id = persistence.create_conversation(topic, now, slot, False).get(timeout=5)
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar

import peewee
import pykka

from actors.clock import Clock, SystemClock, utc_day_start
from actors.observe import events
from actors.providers.base import ApiCall, Outcome
from actors.view import MessageView, RoundView
from storage import queries, retention
from storage.db import refresh_statistics, retrying, write_transaction
from storage.errors import StorageError
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
from storage.queries import STATUS_DEFAULTS

__all__ = ["CALL_FAILED", "STATUS_DEFAULTS", "Persistence", "await_write"]

T = TypeVar("T")

log = logging.getLogger("roundtable.persistence")

#: Backoff between rounds of write attempts while the database is locked or away.
WRITE_RETRY_FIRST_SECONDS: Final = 0.1
WRITE_RETRY_MAX_SECONDS: Final = 1.0

#: How a call to Persistence fails when the database does (or Persistence itself, while
#: the engine halts): an expected path, said in one log line. Anything else is a bug.
CALL_FAILED: Final = (StorageError, pykka.Timeout, pykka.ActorDeadError)

_STATUS_TIMES = ("next_round_at", "heartbeat_at")
_STATUS_FIELDS = ("next_round_at", "paused", "state", "leader_id", "heartbeat_at")


class Persistence(pykka.ThreadingActor):
    """Owns all writes. ``db`` comes from ``storage.connect``, its schema already set up
    (``storage.db.setup_database``: ``create_system`` does it once, before any actor
    starts); the caller owns its pool."""

    #: A daemon thread: an embedding host that returns (or asks to stop) must exit even
    #: if it never called ``stop_system`` (which also runs at interpreter exit).
    use_daemon_thread = True

    def __init__(
        self, db: peewee.Database, abandon: threading.Event | None = None, *, clock: Clock | None = None,
    ) -> None:
        """``clock`` (the engine's) stamps ``updated_at`` and says when today began."""
        super().__init__()
        self._db = db
        self._clock: Clock = clock or SystemClock()
        self._abandon = abandon or threading.Event()
        self._failing = False  # the last database call failed: the next success recovers

    def on_stop(self) -> None:
        """Actor thread: close this thread's connection (returned to the pool if pooled)."""
        if not self._db.is_closed():
            self._db.close()

    def create_conversation(
        self, topic: str, started_at: float, scheduled_at: float | None, forced: bool
    ) -> int:
        """Insert an ``active`` conversation; return its id."""
        row = {
            "topic": topic,
            "status": ConversationStatus.ACTIVE.value,
            "started_at": to_ms(started_at),
            "scheduled_at": to_ms(scheduled_at),
            "forced": forced,
        }
        return self._write("create_conversation", lambda: Conversation.insert(**row).execute())

    def record_skipped_slot(self, scheduled_at: float, reason: str, topic: str = "") -> int:
        """Insert a ``skipped`` conversation for a slot that never ran; return its id.

        ``started_at`` stays NULL; ``ended_at`` is the slot time.
        """
        row = {
            "topic": topic,
            "status": ConversationStatus.SKIPPED.value,
            "scheduled_at": to_ms(scheduled_at),
            "ended_at": to_ms(scheduled_at),
            "skip_reason": reason,
        }
        return self._write("record_skipped_slot", lambda: Conversation.insert(**row).execute())

    def skipped_slots_from(self, since: float) -> list[float]:
        """Scheduled times (epoch seconds) of slots at or after ``since`` already recorded
        as skipped: an admin's skips of future slots, to be honoured after a restart."""

        def load() -> list[float]:
            query = Conversation.select(Conversation.scheduled_at).where(
                (Conversation.status == ConversationStatus.SKIPPED.value)
                & (Conversation.scheduled_at >= to_ms(since))
            )
            return sorted(t for t in (to_seconds(row.scheduled_at) for row in query) if t is not None)

        return self._run("skipped_slots_from", load)

    def save_message(
        self,
        conversation_id: int,
        seq: int,
        agent: str,
        persona: str,
        outcome: Outcome,
        planned_at: float,
        revealed_at: float,
    ) -> MessageView:
        """Store one revealed message; return it as stored.

        Idempotent on ``(conversation_id, seq)``: saving a seq again stores nothing and
        returns the row already there. Its ``revealed_at`` is the moment it is stored
        when that is later (visitors see it once stored: a write that waited for another
        process's lock, or for the database to come back, is late and says so).
        """
        def save() -> MessageView:
            with write_transaction(self._db):  # the write lock first, then the clock
                row = _message_row(conversation_id, seq, agent, persona, outcome, planned_at,
                                   max(revealed_at, self._clock.now()))
                Message.insert(**row).on_conflict_ignore().execute()
                stored = Message.get(
                    (Message.conversation == conversation_id) & (Message.seq == seq)
                )
            return queries.message_view(stored)

        return self._write("save_message", save)

    def store_message(
        self, reply_to: Any, token: tuple[int, int], conversation_id: int, seq: int, agent: str,
        persona: str, outcome: Outcome, planned_at: float, revealed_at: float,
    ) -> None:
        """``save_message``, then tell ``reply_to.message_saved(token, message)``; the
        message is None when it could not be stored (a permanent error, or abandoned)."""
        message: MessageView | None = None
        try:
            message = self.save_message(conversation_id, seq, agent, persona, outcome, planned_at, revealed_at)
        except StorageError as exc:
            log.error("could not store message %d of round %d: %s", seq, conversation_id, exc)
        reply_to.message_saved(token, message)

    def record_api_calls(self, calls: Sequence[ApiCall]) -> None:
        """Append one ``api_calls`` row per call (in one transaction)."""
        rows = [_api_call_row(call) for call in calls]
        if not rows:
            return

        def insert() -> None:
            with self._db.atomic():
                ApiCallRecord.insert_many(rows).execute()

        self._write("record_api_calls", insert)

    def end_conversation(
        self, conversation_id: int, status: str, ended_at: float, skip_reason: str | None = None
    ) -> None:
        """Set the final ``status`` (complete or skipped), ``ended_at`` and reason."""
        final = ConversationStatus(status)
        if final is ConversationStatus.ACTIVE:
            raise ValueError("end_conversation needs a final status, not 'active'")
        query = Conversation.update(
            status=final.value, ended_at=to_ms(ended_at), skip_reason=skip_reason
        ).where(Conversation.id == conversation_id)
        self._write("end_conversation", query.execute)

    def save_status(self, **fields: Any) -> None:
        """Upsert the ``system_status`` row; only the given fields change.

        Fields: ``next_round_at`` and ``heartbeat_at`` (epoch seconds or None), ``paused``
        (bool), ``state`` (str), ``leader_id`` (str or None). ``updated_at`` is set to now
        (the injected clock's).
        """
        unknown = set(fields) - set(_STATUS_FIELDS)
        if unknown:
            raise TypeError(
                f"save_status got unknown fields {sorted(unknown)}; expected {_STATUS_FIELDS}"
            )
        values = {k: to_ms(v) if k in _STATUS_TIMES else v for k, v in fields.items()}
        values["updated_at"] = to_ms(self._clock.now())
        query = SystemStatus.insert(id=STATUS_ROW_ID, **values).on_conflict(
            conflict_target=[SystemStatus.id],
            update={getattr(SystemStatus, k): v for k, v in values.items()},
        )
        self._write("save_status", query.execute)

    def save_topic_deck(self, state: dict[str, Any]) -> None:
        """Upsert the ``topic_deck`` row with ``state`` (``TopicDeck.state()``)."""
        values = {"state": json.dumps(state, ensure_ascii=False), "updated_at": to_ms(self._clock.now())}
        query = TopicDeckRecord.insert(id=STATUS_ROW_ID, **values).on_conflict(
            conflict_target=[TopicDeckRecord.id],
            update={getattr(TopicDeckRecord, k): v for k, v in values.items()},
        )
        self._write("save_topic_deck", query.execute)

    def load_topic_deck(self) -> dict[str, Any] | None:
        """The saved topic deck state, or ``None`` before the first save."""
        return self._run("load_topic_deck", lambda: queries.load_topic_deck(self._db))

    def recent_rounds(self, limit: int) -> list[RoundView]:
        """The ``limit`` newest complete rounds with their messages, newest first."""
        return self._run(
            "recent_rounds", lambda: queries.completed_conversations(self._db, limit, with_messages=True)
        )

    def load_status(self) -> dict[str, Any]:
        """The persisted status (times in epoch seconds); ``STATUS_DEFAULTS`` when no row."""
        return self._run("load_status", lambda: queries.load_status(self._db))

    def load_active_conversation(self) -> RoundView | None:
        """The newest ``active`` conversation with its messages."""
        return self._run("load_active_conversation", lambda: queries.active_conversation(self._db))

    def spend_today(self) -> float:
        """Total ``cost_usd`` of API calls since UTC midnight (by the injected clock)."""
        since = utc_day_start(self._clock.now())
        return self._run("spend_today", lambda: queries.spend_since(self._db, since))

    def calls_today(self) -> dict[str, dict[str, Any]]:
        """Per provider, ``{"calls", "cost_usd", ...}`` of API calls since UTC midnight
        (by the injected clock)."""
        since = utc_day_start(self._clock.now())
        return self._run("calls_today", lambda: queries.calls_since(self._db, since))

    def prune(self, cutoff: float) -> dict[str, int]:
        """Delete the rows older than ``cutoff`` (epoch seconds, exclusive): finished
        conversations with their messages, and time-stamped rows (``storage.retention``);
        the count removed per table."""
        return retention.prune(self._db, to_ms(cutoff), keep_open=True)

    def refresh_statistics(self) -> None:
        """Refresh the planner's statistics (bounded ``ANALYZE``): the daily job's."""
        refresh_statistics(self._db, keep_open=True)

    def _run(self, action: str, work: Callable[[], T]) -> T:
        # The actor thread keeps its connection between messages (reopened after a loss).
        try:
            result = retrying(self._db, action, work, keep_open=True)
        except StorageError as exc:
            if not self._failing:  # alert on the change, not on every failed write
                self._failing = True
                events.database_changed(False, f"{action}: {exc}")
            raise
        if self._failing:
            self._failing = False
            log.info("the database answers again (%s)", action)
            events.database_changed(True, action)
        return result

    def _write(self, action: str, work: Callable[[], T]) -> T:
        """``_run`` until stored: a transient failure is tried again (logged once) until
        the database answers or ``abandon`` is set."""
        delay = WRITE_RETRY_FIRST_SECONDS
        waiting_since: float | None = None
        while True:
            try:
                result = self._run(action, work)
            except StorageError as exc:
                if not exc.transient or self._abandon.is_set():
                    raise
                if waiting_since is None:
                    waiting_since = time.monotonic()
                    log.warning("%s is waiting for the database (%s); retrying until it answers", action, exc)
                if self._abandon.wait(delay):
                    raise StorageError(f"{action} abandoned: the engine is stopping") from exc
                delay = min(delay * 2, WRITE_RETRY_MAX_SECONDS)
                continue
            if waiting_since is not None:
                log.info("%s stored after waiting %.1f s for the database", action, time.monotonic() - waiting_since)
            return result


def _message_row(
    conversation_id: int,
    seq: int,
    agent: str,
    persona: str,
    outcome: Outcome,
    planned_at: float,
    revealed_at: float,
) -> dict[str, Any]:
    return {
        "conversation": conversation_id,
        "seq": seq,
        "agent": agent,
        "persona": persona,
        "provider": outcome.provider,
        "model": outcome.model,
        "source": str(outcome.source),
        "content": outcome.content,
        "citations": json.dumps([{"url": c.url, "title": c.title} for c in outcome.citations]),
        "planned_at": to_ms(planned_at),
        "revealed_at": to_ms(revealed_at),
        "latency_ms": outcome.latency_ms,
        "prompt_tokens": outcome.prompt_tokens,
        "completion_tokens": outcome.completion_tokens,
        "cost_usd": outcome.cost_usd,
        "fallback_reason": outcome.fallback_reason,
        "cost_estimated": outcome.cost_estimated,
    }


def _api_call_row(call: ApiCall) -> dict[str, Any]:
    return {
        "provider": call.provider,
        "model": call.model,
        "ok": call.ok,
        "error_class": call.error_class,
        "status_code": call.status_code,
        "latency_ms": call.latency_ms,
        "prompt_tokens": call.prompt_tokens,
        "completion_tokens": call.completion_tokens,
        "cost_usd": call.cost_usd,
        "at": to_ms(call.at),
    }


def await_write(what: str, future: Any, timeout: float, logger: logging.Logger) -> None:
    """Wait (on the caller's thread) for a write asked of Persistence, so that what is read
    next includes it; a failure is logged on ``logger`` and the caller goes on."""
    try:
        future.get(timeout=timeout)
    except pykka.Timeout:
        logger.warning("still waiting to %s in the database; it is stored when the database answers", what)
    except CALL_FAILED as exc:
        logger.error("could not %s in the database: %s", what, exc)
    except Exception:  # a bug: said with its traceback; the caller goes on
        logger.exception("could not %s in the database", what)
