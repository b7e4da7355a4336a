"""Bringing a database's schema to this code's version (see ``storage.migrations``).

``upgrade(db, migrations)`` runs on the calling thread inside a transaction that the
caller holds (``storage.db.setup_database`` takes it, with the setup lock), with the
models bound to ``db``. It never changes a database that is newer than the code.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import peewee
from playhouse.migrate import SchemaMigrator

from storage.errors import StorageError
from storage.migrations import Migration
from storage.models import MODELS, Conversation, SchemaVersion, to_ms

__all__ = ["Upgrade", "stored_version", "upgrade"]

#: A database with this table and no ``schema_version`` was made by release 49291aa.
_PRE_VERSIONING_TABLE = Conversation._meta.table_name


@dataclass(frozen=True)
class Upgrade:
    """What ``upgrade`` did: ``before`` is ``None`` for a database created just now."""

    before: int | None
    after: int

    @property
    def changed(self) -> bool:
        return self.before != self.after


def stored_version(db: peewee.Database) -> int | None:
    """The schema version of ``db``: ``None`` when it has no tables of ours yet, 1 when
    it predates versioning (the 49291aa schema)."""
    tables = set(db.get_tables())
    if SchemaVersion._meta.table_name in tables:
        version = SchemaVersion.select(peewee.fn.MAX(SchemaVersion.version)).scalar()
        if version is not None:
            return int(version)
    return 1 if _PRE_VERSIONING_TABLE in tables else None


def upgrade(db: peewee.Database, migrations: Sequence[Migration]) -> Upgrade:
    """Create a fresh schema at the latest version, or run the pending migrations in
    order; raise ``StorageError`` (one line) for a database newer than ``migrations``."""
    latest = migrations[-1]
    current = stored_version(db)
    if current is None:
        db.create_tables([*MODELS, SchemaVersion], safe=True)
        _record(latest)
        return Upgrade(None, latest.version)
    if current > latest.version:
        raise StorageError(
            f"the database schema is version {current} but this release knows versions up to "
            f"{latest.version}; run the newer Roundtable release that made it"
        )
    db.create_tables([SchemaVersion], safe=True)
    if current == 1 and SchemaVersion.select().count() == 0:
        _record(migrations[0])  # a 49291aa database: recognised, nothing to run
    migrator = SchemaMigrator.from_database(db)
    for migration in migrations[current:]:  # versions current+1 .. latest
        migration.apply(db, migrator)
        _record(migration)
    db.create_tables(list(MODELS), safe=True)  # tables added since, without a migration
    return Upgrade(current, latest.version)


def _record(migration: Migration) -> None:
    # The wall clock: a migration runs before any engine (and its injected clock) exists.
    SchemaVersion.insert(
        version=migration.version, name=migration.name, applied_at=to_ms(time.time())
    ).on_conflict_ignore().execute()
