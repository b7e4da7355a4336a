"""Version 3: ``messages.cost_estimated``, true when the message's cost was priced at its
provider's fallback rate (a model no price source knows), so every surface can say so."""

from __future__ import annotations

import peewee
from playhouse.migrate import SchemaMigrator

from storage.migrations import add_missing_columns
from storage.models import Message


def migrate(db: peewee.Database, migrator: SchemaMigrator) -> None:
    add_missing_columns(migrator, Message, "cost_estimated")
