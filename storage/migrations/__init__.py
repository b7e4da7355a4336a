"""Forward schema migrations, and the convention for adding one.

The database keeps its schema version in the ``schema_version`` table (one row per
version applied: ``version``, ``name``, ``applied_at`` in epoch ms; the highest is the
current one). ``storage.schema.upgrade(db)`` (run by ``storage.db.setup_database`` when
the engine starts) brings any database to ``latest_version()``:

- a database with no tables gets the current models (``storage.models.MODELS``) and the
  latest version at once; no migration runs;
- a database made before versions existed (release 49291aa: the four tables, no
  ``schema_version``) is version 1;
- otherwise every migration above the stored version runs, in order, all in one
  transaction (under the setup lock), each recording its version; then any table that
  is still missing is created from its model;
- a database whose version is newer than this code knows is refused with one line.

Adding a column (the usual case)
--------------------------------
1. Add the field to the model in ``storage/models.py`` (fresh databases get it from there).
2. Add ``storage/migrations/NNNN_short_name.py``, NNNN being the next number (4 digits,
   no gaps; two engineers taking the same number is a merge conflict by design: rebase
   and take the next one)::

       from __future__ import annotations

       import peewee
       from playhouse.migrate import SchemaMigrator

       from storage.migrations import add_missing_columns
       from storage.models import Message


       def migrate(db: peewee.Database, migrator: SchemaMigrator) -> None:
           # Messages remember their moderation verdict.
           add_missing_columns(migrator, Message, "flagged")

   ``add_missing_columns`` adds only the columns the table lacks and skips a table that
   does not exist yet (it will be created whole from its model), so a migration is safe
   however the database got to its version. A non-null column needs a ``default``.
3. Test it on the old-release fixture (``tests/storage/test_migrations.py`` shows how).

Other changes (renames, data fixes) use ``playhouse.migrate`` operations directly:
``playhouse.migrate.migrate(migrator.rename_column("messages", "a", "b"))``. Write them
against the schema as it was at that version, not against today's models. A new TABLE
needs no migration (it is created from its model), unless existing rows must fill it.
Never edit or renumber a migration that is on main: installed databases have run it.

Each module is ``NNNN_short_name.py`` with ``def migrate(db, migrator) -> None``; modules
are discovered in order by ``discover()``. ``0001_baseline`` is the 49291aa schema.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import peewee
from playhouse.migrate import SchemaMigrator
from playhouse.migrate import migrate as run_operations

__all__ = ["Migration", "add_missing_columns", "discover", "latest_version"]

_MODULE_NAME: Final = re.compile(r"^(\d{4})_([a-z0-9_]+)$")


@dataclass(frozen=True)
class Migration:
    """One step: running ``apply(db, migrator)`` takes the schema from ``version - 1``."""

    version: int
    name: str
    apply: Callable[[peewee.Database, SchemaMigrator], None]


def discover(package: str = __name__) -> list[Migration]:
    """The migrations of ``package``, in version order. Raises ``ValueError`` when the
    numbers do not run 1, 2, 3, ... without gaps (a merge mistake worth failing on)."""
    found = []
    module_path = importlib.import_module(package).__path__
    for info in pkgutil.iter_modules(module_path):
        match = _MODULE_NAME.match(info.name)
        if match is None:
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        found.append(Migration(int(match.group(1)), info.name, module.migrate))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise ValueError(f"migrations in {package} must be numbered 1..N without gaps: {versions}")
    return found


def latest_version(migrations: Sequence[Migration] | None = None) -> int:
    """The schema version this code writes (the highest migration number)."""
    return (migrations if migrations is not None else discover())[-1].version


def add_missing_columns(migrator: SchemaMigrator, model: type[peewee.Model], *names: str) -> None:
    """Add the model's fields ``names`` to its table where the table lacks them.

    A table that does not exist yet is left alone: it is created whole from its model
    after the migrations. Indexes declared on the field are created with it.
    """
    db = migrator.database
    table = model._meta.table_name
    if not db.table_exists(table):
        return
    present = {column.name for column in db.get_columns(table)}
    fields: dict[str, Any] = model._meta.fields
    operations = [
        migrator.add_column(table, fields[name].column_name, fields[name])
        for name in names
        if fields[name].column_name not in present
    ]
    run_operations(*operations)
