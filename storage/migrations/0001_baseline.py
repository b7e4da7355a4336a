"""Version 1: the schema of release 49291aa, the last one without schema versions.

Its four tables (``conversations``, ``messages``, ``system_status``, ``api_calls``) are
what ``create_tables`` made then; a database that has them and no ``schema_version``
table is recorded as version 1 without running anything.
"""

from __future__ import annotations

import peewee
from playhouse.migrate import SchemaMigrator


def migrate(db: peewee.Database, migrator: SchemaMigrator) -> None:
    """Nothing to do: version 1 is where versioning starts."""
