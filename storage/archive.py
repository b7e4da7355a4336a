"""The whole database as JSON Lines: ``run.py export`` and ``run.py import``.

One JSON object per line, each with a ``kind``:

- ``{"kind": "conversation", "id": ..., "topic": ..., ..., "messages": [{...}, ...]}``:
  one conversation (a round or a skipped slot) with its messages in ``seq`` order;
- ``{"kind": "<table>", ...}``: one row of another data table (``api_calls``,
  ``audit_log``, any table added to ``storage.models.MODELS`` later), after all the
  conversations.

Values are the models' Python values (times in epoch ms, booleans as booleans), keyed by
field name; ids are kept. ``system_status`` (the engine's state) and ``schema_version``
are not exported: the target has its own; nor is ``commands`` (relayed admin commands, a
queue answered within seconds; the audit log is their record), whose lines an import
skips in older exports.

Export runs in ONE read transaction (a consistent snapshot, also while the engine
writes) and reads in batches, so memory stays bounded however large the database.
Import is idempotent: a row whose id (or unique key) is present already is left alone,
so importing a file twice adds nothing. On PostgreSQL the id sequences are then moved
past the largest id, so new rounds do not collide with imported ones.
Functions run on the calling thread.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

import peewee

from storage.db import setup_database, using
from storage.models import MODELS, BaseModel, Conversation, Message, RelayedCommand, SystemStatus

__all__ = ["ArchiveError", "ImportReport", "count_rows", "export_lines", "import_lines"]

#: Rows per read, and lines per import transaction: small enough for bounded memory,
#: large enough that round trips do not dominate.
BATCH: Final = 500
CONVERSATION: Final = "conversation"
#: Bound parameters per statement: below SQLite's oldest limit (999).
_MAX_VARIABLES: Final = 900

Progress = Callable[[int], None]


class ArchiveError(Exception):
    """An export file is not what ``import`` expects; ``str()`` names the line."""


@dataclass
class ImportReport:
    """Rows added, and rows skipped because they were present already, per table."""

    added: dict[str, int] = field(default_factory=dict)
    present: dict[str, int] = field(default_factory=dict)

    def count(self, table: str, offered: int, inserted: int) -> None:
        self.added[table] = self.added.get(table, 0) + inserted
        self.present[table] = self.present.get(table, 0) + offered - inserted


#: Tables that are a queue, not a record: relayed admin commands are answered within seconds
#: and aged out (the audit log is their record). Not exported; an import skips their lines
#: in exports written before this, so that none is relayed again on the target.
QUEUES: Final = (RelayedCommand,)


_QUEUE_KINDS: Final = frozenset(m._meta.table_name for m in QUEUES)


def other_models() -> tuple[type[BaseModel], ...]:
    """The data tables exported row by row, in dependency order."""
    return tuple(m for m in MODELS if m not in (Conversation, Message, SystemStatus, *QUEUES))


def count_rows(db: peewee.Database) -> int:
    """How many lines ``export_lines`` will write (for a progress bar)."""
    with using(db, "count rows"):
        models: tuple[type[BaseModel], ...] = (Conversation, *other_models())
        return sum(model.select().count() for model in models)


def export_lines(db: peewee.Database, progress: Progress | None = None) -> Iterator[str]:
    """Every exportable row as JSON lines (no newline), conversations first. ``progress``
    is called with the number of lines written so far, after each batch."""
    written = 0
    with using(db, "export"), _snapshot(db):
        for batch in _batches(Conversation):
            messages = _messages_of([row["id"] for row in batch])
            for row in batch:
                row["messages"] = messages.get(row["id"], [])
                yield _line(CONVERSATION, row)
            written += len(batch)
            if progress:
                progress(written)
        for model in other_models():
            for batch in _batches(model):
                for row in batch:
                    yield _line(model._meta.table_name, row)
                written += len(batch)
                if progress:
                    progress(written)


def import_lines(
    db: peewee.Database, lines: Iterable[str], source: str, progress: Progress | None = None
) -> ImportReport:
    """Insert the rows of an export (``source`` names it in errors) into ``db``, whose
    schema is created or upgraded first; idempotent.

    Commits every ``BATCH`` lines, so a failure part-way keeps what was committed and a
    second run completes it. Raises ``ArchiveError`` for a malformed line, naming it.
    """
    setup_database(db)  # a fresh target gets its tables; an old one is upgraded first
    report = ImportReport()
    parsed: list[tuple[str, dict[str, Any]]] = []
    done = 0
    for number, text in enumerate(lines, start=1):
        row = _parse(text, source, number) if text.strip() else None
        if row is not None:
            parsed.append(row)
        if len(parsed) >= BATCH:
            done += _insert(db, parsed, report)
            parsed = []
            if progress:
                progress(done)
    done += _insert(db, parsed, report)
    if progress:
        progress(done)
    return report


# -- export -----------------------------------------------------------------------------------
@contextmanager
def _snapshot(db: peewee.Database) -> Iterator[None]:
    with db.atomic():
        if isinstance(db, peewee.PostgresqlDatabase):
            db.execute_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield


def _batches(model: type[BaseModel]) -> Iterator[list[dict[str, Any]]]:
    """Keyset pagination on the primary key: each batch is one bounded query."""
    key: Any = model._meta.primary_key
    last: Any = None
    while True:
        query = model.select().order_by(key).limit(BATCH)
        if last is not None:
            query = query.where(key > last)
        batch: list[dict[str, Any]] = list(query.dicts())  # type: ignore[arg-type]
        if not batch:
            return
        last = batch[-1][key.name]
        yield batch


def _messages_of(ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    grouped: dict[int, list[dict[str, Any]]] = {}
    query = Message.select().where(Message.conversation.in_(ids)).order_by(
        Message.conversation, Message.seq
    )
    rows: list[dict[str, Any]] = list(query.dicts())  # type: ignore[arg-type]
    for row in rows:
        grouped.setdefault(row.pop("conversation"), []).append(row)
    return grouped


def _line(kind: str, row: dict[str, Any]) -> str:
    return json.dumps({"kind": kind, **row}, ensure_ascii=False, separators=(",", ":"))


# -- import -----------------------------------------------------------------------------------
@functools.cache
def _models_by_kind() -> dict[str, type[BaseModel]]:
    return {CONVERSATION: Conversation, **{m._meta.table_name: m for m in other_models()}}


def _parse(text: str, source: str, number: int) -> tuple[str, dict[str, Any]] | None:
    """The line's kind and row; None for a row of a queue table (``QUEUES``): skipped."""
    where = f"{source} line {number}"
    try:
        row = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ArchiveError(f"{where}: not JSON ({exc.msg})") from None
    if not isinstance(row, dict):
        raise ArchiveError(f"{where}: not a JSON object")
    kind = row.pop("kind", None)
    if kind in _QUEUE_KINDS:
        return None
    model = _models_by_kind().get(kind) if isinstance(kind, str) else None
    if model is None:
        raise ArchiveError(f"{where}: unknown kind {kind!r}")
    messages = row.pop("messages", []) if model is Conversation else []
    _check_fields(model, row, where)
    if not isinstance(messages, list):
        raise ArchiveError(f"{where}: messages is not a list")
    for message in messages:
        if not isinstance(message, dict):
            raise ArchiveError(f"{where}: a message is not a JSON object")
        message["conversation"] = row["id"]
        _check_fields(Message, message, where)
    row["messages"] = messages
    return str(kind), row


def _check_fields(model: type[BaseModel], row: dict[str, Any], where: str) -> None:
    fields = model._meta.fields
    unknown = sorted(set(row) - set(fields))
    if unknown:
        raise ArchiveError(f"{where}: unknown field {unknown[0]!r} for {model._meta.table_name}")
    if not isinstance(row.get("id"), int):
        raise ArchiveError(f"{where}: {model._meta.table_name} row without an integer id")
    missing = [
        name for name, f in fields.items()
        if name not in row and not f.null and f.default is None and not f.primary_key
    ]
    if missing:
        raise ArchiveError(f"{where}: {model._meta.table_name} row without {missing[0]!r}")


def _insert(db: peewee.Database, parsed: list[tuple[str, dict[str, Any]]], report: ImportReport) -> int:
    """One transaction: the batch's conversations, then their messages, then other rows
    table by table in dependency order (foreign keys point backwards)."""
    if not parsed:
        return 0
    by_table: dict[type[BaseModel], list[dict[str, Any]]] = {}
    models = _models_by_kind()
    for kind, row in parsed:
        by_table.setdefault(Message, []).extend(row.pop("messages"))
        by_table.setdefault(models[kind], []).append(row)
    with using(db, "import"), db.atomic():
        order: tuple[type[BaseModel], ...] = (Conversation, Message, *other_models())
        for model in order:
            rows = by_table.get(model, [])
            if rows:
                report.count(model._meta.table_name, len(rows), _insert_new(db, model, rows))
        # Every batch, not once at the end: rows committed by an import that then fails
        # on a bad line must not collide with the engine's next ids either.
        _advance_sequences(db)
    return len(parsed)


def _insert_new(db: peewee.Database, model: type[BaseModel], rows: list[dict[str, Any]]) -> int:
    """``INSERT ... ON CONFLICT DO NOTHING`` of ``rows``; how many were new.

    The statement is written here rather than by ``insert_many``: peewee builds its SQL
    value by value, which took three quarters of an import's time (bench/archive.py).
    """
    fields = list(model._meta.sorted_fields)
    columns = ", ".join(f'"{f.column_name}"' for f in fields)
    one_row = "(" + ", ".join([db.param] * len(fields)) + ")"
    inserted = 0
    for chunk in peewee.chunked(rows, max(1, _MAX_VARIABLES // len(fields))):
        sql = (f'INSERT INTO "{model._meta.table_name}" ({columns}) VALUES '
               f'{", ".join([one_row] * len(chunk))} ON CONFLICT DO NOTHING')
        values = [f.db_value(row[f.name] if f.name in row else _default(f)) for row in chunk for f in fields]
        inserted += max(db.execute_sql(sql, values).rowcount, 0)
    return inserted


def _default(field: peewee.Field) -> Any:
    return field.default() if callable(field.default) else field.default


def _advance_sequences(db: peewee.Database) -> None:
    """PostgreSQL: move each id sequence past the largest id (SQLite needs nothing).
    Runs inside ``using(db)``."""
    if not isinstance(db, peewee.PostgresqlDatabase):
        return
    models: tuple[type[BaseModel], ...] = (Conversation, Message, *other_models())
    for model in models:
        if isinstance(model._meta.primary_key, peewee.AutoField):
            table = model._meta.table_name
            db.execute_sql(
                f'SELECT setval(pg_get_serial_sequence(%s, %s), '
                f'COALESCE((SELECT MAX(id) FROM "{table}"), 0) + 1, false)',
                (f'"{table}"', "id"),
            )
