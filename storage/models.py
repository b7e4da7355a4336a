"""The four tables of the contract, the admins' audit trail and the topic deck, as peewee
models (and ``schema_version``).

All times are stored as integer Unix epoch MILLISECONDS, UTC (``BigIntegerField``),
the same unit as on the wire; ``to_ms``/``to_seconds`` convert at the actor boundary,
whose API speaks epoch seconds (floats).

Binding: every model's database is ``database``, a ``ThreadBoundProxy``. Unlike
``Model.bind`` or ``Database.bind_ctx`` (which rebind the classes for the whole
process), the proxy's target is per thread, so two ``Database`` objects can be used at
the same time from different threads (two services side by side in one test process).
Callers never bind by hand: every entry point in ``storage`` and
``actors.persistence`` wraps its work in ``storage.db.using(db)``.
"""

from __future__ import annotations

import enum
import threading
from typing import Any, Final, overload

import peewee
from peewee import (
    AutoField,
    BigIntegerField,
    BooleanField,
    CharField,
    Check,
    DoubleField,
    ForeignKeyField,
    IntegerField,
    TextField,
)

__all__ = [
    "MODELS",
    "STATUS_ROW_ID",
    "ApiCallRecord",
    "AuditEntry",
    "BaseModel",
    "Conversation",
    "ConversationStatus",
    "Message",
    "SchemaVersion",
    "SystemStatus",
    "ThreadBoundProxy",
    "TopicDeckRecord",
    "database",
    "to_ms",
    "to_seconds",
]


class ConversationStatus(enum.StrEnum):
    ACTIVE = "active"
    COMPLETE = "complete"
    SKIPPED = "skipped"
    ABORTED = "aborted"


class ThreadBoundProxy(peewee.DatabaseProxy):
    """A ``DatabaseProxy`` whose target (``obj``) is a per-thread value."""

    __slots__ = ("_local",)

    def __init__(self) -> None:
        object.__setattr__(self, "_local", threading.local())
        super().__init__()

    def __setattr__(self, attr: str, value: Any) -> None:
        # peewee's Proxy refuses attributes outside its own __slots__.
        object.__setattr__(self, attr, value)

    @property  # type: ignore[override]
    def obj(self) -> peewee.Database | None:
        return getattr(self._local, "db", None)

    @obj.setter
    def obj(self, value: peewee.Database | None) -> None:
        self._local.db = value


database: Final = ThreadBoundProxy()

#: The primary key of the one ``system_status`` row.
STATUS_ROW_ID: Final = 1


@overload
def to_ms(seconds: float) -> int: ...
@overload
def to_ms(seconds: None) -> None: ...
def to_ms(seconds: float | None) -> int | None:
    """Epoch seconds (float) -> epoch milliseconds (int) for the tables; ``None`` stays
    ``None``. (The wire has its own, ``actors.wire.ms``.)"""
    return None if seconds is None else round(seconds * 1000)


@overload
def to_seconds(ms: int) -> float: ...
@overload
def to_seconds(ms: None) -> None: ...
def to_seconds(ms: int | None) -> float | None:
    """Epoch milliseconds (int) -> epoch seconds (float); ``None`` stays ``None``. (The
    wire has its own, ``actors.wire.seconds``.)"""
    return None if ms is None else ms / 1000


class BaseModel(peewee.Model):
    class Meta:
        database = database
        legacy_table_names = False


class Conversation(BaseModel):
    """One round, or one skipped slot (status ``skipped``, ``started_at`` NULL)."""

    id = AutoField()
    topic = TextField(default="")
    status = CharField(
        max_length=16,
        index=True,
        constraints=[Check(f"status IN ({', '.join(repr(str(s)) for s in ConversationStatus)})")],
    )
    scheduled_at = BigIntegerField(null=True)  # the grid slot; NULL for a forced round
    started_at = BigIntegerField(null=True, index=True)
    ended_at = BigIntegerField(null=True)
    forced = BooleanField(default=False)
    skip_reason = TextField(null=True)

    class Meta:
        table_name = "conversations"


class Message(BaseModel):
    """One revealed message; ``(conversation, seq)`` is unique, ``seq`` starts at 1."""

    id = AutoField()
    conversation = ForeignKeyField(
        Conversation, column_name="conversation_id", on_delete="CASCADE", index=False
    )
    seq = IntegerField()
    agent = TextField()
    persona = TextField()
    provider = TextField()
    model = TextField()
    source = CharField(max_length=16)  # actors.providers.base.Source
    content = TextField()
    citations = TextField(default="[]")  # JSON list of {"url", "title"}
    planned_at = BigIntegerField()
    revealed_at = BigIntegerField()
    latency_ms = IntegerField(default=0)
    prompt_tokens = IntegerField(default=0)
    completion_tokens = IntegerField(default=0)
    cost_usd = DoubleField(default=0.0)  # DOUBLE PRECISION on PostgreSQL (see 0002)
    fallback_reason = TextField(null=True)
    cost_estimated = BooleanField(default=False)  # priced at a fallback rate (see 0003)

    class Meta:
        table_name = "messages"
        indexes = ((("conversation", "seq"), True),)


class SystemStatus(BaseModel):
    """The engine's persisted state: a single row whose id is always 1."""

    id = IntegerField(primary_key=True, constraints=[Check("id = 1")])
    next_round_at = BigIntegerField(null=True)
    paused = BooleanField(default=False)
    state = TextField(default="countdown")
    leader_id = TextField(null=True)
    heartbeat_at = BigIntegerField(null=True)
    updated_at = BigIntegerField(null=True)

    class Meta:
        table_name = "system_status"


class ApiCallRecord(BaseModel):
    """One provider call (``actors.providers.base.ApiCall``)."""

    id = AutoField()
    provider = TextField()
    model = TextField()
    ok = BooleanField()
    error_class = TextField(null=True)
    status_code = IntegerField(null=True)
    latency_ms = IntegerField(default=0)
    prompt_tokens = IntegerField(default=0)
    completion_tokens = IntegerField(default=0)
    cost_usd = DoubleField(default=0.0)  # DOUBLE PRECISION on PostgreSQL (see 0002)
    at = BigIntegerField(index=True)

    class Meta:
        table_name = "api_calls"
        indexes = ((("provider", "at"), False),)


class AuditEntry(BaseModel):
    """One admin request, accepted or refused (``storage.audit``). Never holds a token:
    ``token_fingerprint`` is the first 8 hex digits of the SHA-256 of the token sent."""

    id = AutoField()
    at = BigIntegerField(index=True)
    action = TextField()
    result = CharField(max_length=16)  # accepted | refused
    status = IntegerField()  # the HTTP status answered
    detail = TextField(default="")
    client = TextField(default="")
    token_fingerprint = CharField(max_length=16, null=True)

    class Meta:
        table_name = "audit_log"


class RelayedCommand(BaseModel):
    """An admin command sent to the engine's instance through the database
    (``storage.relay``): a standby inserts it, the engine claims, runs and answers it."""

    id = AutoField()
    request = TextField()  # JSON: {"action": ..., "topic"?: ...}
    origin = TextField(default="")  # the instance that received it (host:pid)
    created_at = BigIntegerField(index=True)
    claimed_at = BigIntegerField(null=True)
    answered_at = BigIntegerField(null=True)
    status = IntegerField(null=True)  # the HTTP status the engine answered
    answer = TextField(null=True)  # JSON: the body the engine answered

    class Meta:
        table_name = "commands"


class SchemaVersion(BaseModel):
    """One row per schema version applied (``storage.migrations``); the highest is current.

    Not in ``MODELS``: it describes the schema rather than the service's data, so export,
    import and prune leave it alone.
    """

    version = IntegerField(primary_key=True)
    name = TextField()
    applied_at = BigIntegerField()

    class Meta:
        table_name = "schema_version"


class TopicDeckRecord(BaseModel):
    """The topic deck (``actors.topics.TopicDeck.state()`` as JSON): one row, id 1.

    A table of its own rather than columns of ``system_status``: the deck is written
    once a round and when an admin queues a topic, by the engine only.
    """

    id = IntegerField(primary_key=True, constraints=[Check("id = 1")])
    state = TextField(default="{}")
    updated_at = BigIntegerField(null=True)

    class Meta:
        table_name = "topic_deck"


#: In dependency order (a referenced table before the one that references it).
MODELS: Final[tuple[type[BaseModel], ...]] = (
    Conversation, Message, SystemStatus, ApiCallRecord, AuditEntry, TopicDeckRecord, RelayedCommand,
)
