"""Schema versions and forward migrations, on a database made by release 49291aa.

The fixtures in ``fixtures/`` were made by that release's own code (see
``fixtures/make_release_49291aa.py``): a SQLite file, and a ``pg_dump`` of the same kind
of database on PostgreSQL. Each test upgrades a copy.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import peewee
import psycopg2
import pytest
from playhouse.migrate import SchemaMigrator

from storage import StorageError, connect, setup_database, using
from storage.migrations import Migration, add_missing_columns, discover, latest_version
from storage.models import MODELS, Conversation, SchemaVersion
from storage.schema import stored_version

FIXTURES = Path(__file__).parent / "fixtures"
MANIFEST = json.loads((FIXTURES / "release-49291aa.json").read_text())
OLD_TABLES = ("conversations", "messages", "system_status", "api_calls")


def load_postgres_dump(url: str) -> None:
    conn = psycopg2.connect(url)
    try:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute((FIXTURES / "release-49291aa.postgres.sql").read_text())
    finally:
        conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def old_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[peewee.Database]:
    """A database exactly as release 49291aa left it (a copy; the fixture stays intact)."""
    if request.param == "sqlite":
        shutil.copy(FIXTURES / "release-49291aa.db", tmp_path / "old.db")
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        url = request.getfixturevalue("scratch_postgres_url")
        load_postgres_dump(url)
    db = connect(url)
    yield db
    db.close()


def all_rows(db: peewee.Database) -> dict[str, list[tuple[Any, ...]]]:
    with using(db):
        return {
            table: list(db.execute_sql(f'SELECT * FROM "{table}" ORDER BY id').fetchall())
            for table in OLD_TABLES
        }


def as_before(rows: dict[str, list[tuple[Any, ...]]], before: dict[str, list[tuple[Any, ...]]]
              ) -> dict[str, list[tuple[Any, ...]]]:
    """``rows`` cut to the columns each table had before (added columns come last)."""
    widths = {table: len(found[0]) if found else 0 for table, found in before.items()}
    return {table: [row[: widths[table]] for row in found] for table, found in rows.items()}


def versions(db: peewee.Database) -> list[tuple[int, str]]:
    with using(db):
        return [(v.version, v.name) for v in SchemaVersion.select().order_by(SchemaVersion.version)]


def test_the_fixture_is_what_the_manifest_says(old_database: peewee.Database) -> None:
    rows = all_rows(old_database)
    assert {table: len(found) for table, found in rows.items()} == MANIFEST["rows"]
    with using(old_database):
        assert stored_version(old_database) == 1  # no schema_version table: release 49291aa
        assert "schema_version" not in old_database.get_tables()


def test_an_old_release_database_upgrades_keeping_every_row(old_database: peewee.Database) -> None:
    before = all_rows(old_database)
    done = setup_database(old_database)
    assert (done.before, done.after) == (1, latest_version())
    assert as_before(all_rows(old_database), before) == before
    assert versions(old_database)[0] == (1, "0001_baseline")
    assert versions(old_database)[-1][0] == latest_version()
    with using(old_database):
        kinds = {c.status for c in Conversation.select()}
        assert kinds == set(MANIFEST["conversations"])


def test_upgrading_twice_changes_nothing(old_database: peewee.Database) -> None:
    setup_database(old_database)
    rows, recorded = all_rows(old_database), versions(old_database)
    again = setup_database(old_database)
    assert not again.changed and again.before == again.after == latest_version()
    assert all_rows(old_database) == rows
    assert versions(old_database) == recorded


def flagged_model() -> type[peewee.Model]:
    """``conversations`` with one more NOT NULL column, as a later release would have it."""

    class Flagged(Conversation):
        reviewed = peewee.BooleanField(default=False)

        class Meta:
            table_name = "conversations"

    return Flagged


def test_a_migration_adds_a_not_null_column_and_keeps_the_rows_that_reference_the_table(
    old_database: peewee.Database,
) -> None:
    # On SQLite, adding NOT NULL rebuilds the parent table; with foreign keys on, its DROP
    # would cascade to every message. The upgrade must keep them all.
    model = flagged_model()
    steps = [*discover(), Migration(latest_version() + 1, "9999_reviewed",
                                    lambda db, m: add_missing_columns(m, model, "reviewed"))]
    before = all_rows(old_database)
    setup_database(old_database, steps)
    after = as_before(all_rows(old_database), before)  # later columns (0003) left out
    assert after["messages"] == before["messages"]
    assert after["api_calls"] == before["api_calls"]
    assert after["conversations"] == before["conversations"]
    assert {row[-1] for row in all_rows(old_database)["conversations"]} in ({0}, {False})
    assert versions(old_database)[-1] == (latest_version() + 1, "9999_reviewed")
    assert setup_database(old_database, steps).changed is False


def test_a_failing_migration_leaves_the_database_as_it_was(old_database: peewee.Database) -> None:
    def broken(db: peewee.Database, migrator: SchemaMigrator) -> None:
        add_missing_columns(migrator, flagged_model(), "reviewed")
        db.execute_sql("SELECT * FROM no_such_table")

    before = all_rows(old_database)
    with pytest.raises(StorageError):
        setup_database(old_database, [*discover(), Migration(latest_version() + 1, "x", broken)])
    assert all_rows(old_database) == before
    with using(old_database):
        assert "reviewed" not in {c.name for c in old_database.get_columns("conversations")}
        assert stored_version(old_database) == 1


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[peewee.Database]:
    """A database with no tables at all."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'new.db'}"
    else:
        url = request.getfixturevalue("scratch_postgres_url")
    db = connect(url)
    yield db
    db.close()


def test_a_fresh_database_gets_the_latest_schema_without_running_migrations(
    empty_database: peewee.Database,
) -> None:
    def must_not_run(db: peewee.Database, migrator: SchemaMigrator) -> None:
        raise AssertionError("a fresh database runs no migration")

    steps = [*discover(), Migration(latest_version() + 1, "0002_later", must_not_run)]
    done = setup_database(empty_database, steps)
    assert (done.before, done.after) == (None, latest_version() + 1)
    assert versions(empty_database) == [(latest_version() + 1, "0002_later")]
    with using(empty_database):
        tables = set(empty_database.get_tables())
    assert tables >= {model._meta.table_name for model in MODELS}


def test_a_database_newer_than_the_code_is_refused_with_one_line(old_database: peewee.Database) -> None:
    setup_database(old_database)
    with using(old_database):
        SchemaVersion.create(version=latest_version() + 1, name="from the future", applied_at=0)
    with pytest.raises(StorageError) as caught:
        setup_database(old_database)
    message = str(caught.value)
    assert "\n" not in message and f"version {latest_version() + 1}" in message


def test_migrations_are_numbered_without_gaps() -> None:
    found = discover()
    assert [m.version for m in found] == list(range(1, len(found) + 1))
    assert found[0].name == "0001_baseline"


@pytest.mark.postgres
def test_costs_become_double_precision_on_an_upgraded_postgres(scratch_postgres_url: str) -> None:
    load_postgres_dump(scratch_postgres_url)
    db = connect(scratch_postgres_url)
    try:
        setup_database(db)
        with using(db):
            types = db.execute_sql(
                "SELECT table_name, data_type FROM information_schema.columns "
                "WHERE column_name = 'cost_usd' ORDER BY table_name"
            ).fetchall()
            costs = {row[0] for row in db.execute_sql("SELECT cost_usd FROM messages").fetchall()}
    finally:
        db.close()
    assert types == [("api_calls", "double precision"), ("messages", "double precision")]
    assert costs == {0.00075}  # through text: not 0.000750000035762787
