"""Database fixtures shared by the storage and actor tests: a real SQLite file and a real
PostgreSQL database.

Use it from a directory's ``conftest.py`` (pytest forbids ``pytest_plugins`` outside the
root conftest, so import the fixtures by name)::

    from tests.db_fixtures import database_url, db, postgres_server_url  # noqa: F401

Then a test taking ``database_url`` (or ``db``, a ``storage.connect``-ed Database that is
closed afterwards) runs twice: ``[sqlite]`` on a fresh file under ``tmp_path``, and
``[postgres]`` on a database created for this test session
(``roundtable_test_<pid>_<random>``) and dropped at its end; the postgres tables are
truncated before each test. Without a server on 127.0.0.1:5432 the postgres cases are
skipped, unless ``CI=true``, where that is a failure. ``-m "not postgres"`` deselects them.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import peewee
import psycopg2
import pytest
from psycopg2 import sql

from storage import connect

__all__ = [
    "database_url",
    "db",
    "postgres_server_url",
    "scratch_postgres_url",
    "truncate_all",
]

PG_HOST = "127.0.0.1"
PG_PORT = int(os.environ.get("ROUNDTABLE_TEST_PG_PORT", "5432"))  # to try the skip path
PG_USER = "postgres"


class _SessionDatabase:
    """One PostgreSQL database per test process, shared by every conftest that imports
    these fixtures (each import is a separate fixture, so a reference count decides when
    the last user is done and the database can be dropped)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self.name = f"roundtable_test_{os.getpid()}_{secrets.token_hex(4)}"
        self.url = f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{self.name}"

    def acquire(self) -> str:
        with self._lock:
            if self._users == 0:
                _admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))
            self._users += 1
        return self.url

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0:
                drop = "DROP DATABASE IF EXISTS {} WITH (FORCE)"
                _admin(sql.SQL(drop).format(sql.Identifier(self.name)))


_SESSION_DATABASE = _SessionDatabase()


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """The URL of this session's PostgreSQL test database (skips when no server)."""
    try:
        url = _SESSION_DATABASE.acquire()
    except psycopg2.OperationalError as exc:
        reason = (
            f"no PostgreSQL server answers on {PG_HOST}:{PG_PORT} ({' '.join(str(exc).split())})"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)
    yield url
    _SESSION_DATABASE.release()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL for an empty database: a SQLite file, or the session's PostgreSQL
    database with every table truncated."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'roundtable.db'}"
    url: str = request.getfixturevalue("postgres_server_url")
    truncate_all(url)
    return url


@pytest.fixture
def db(database_url: str) -> Iterator[peewee.Database]:
    """``storage.connect(database_url)``; this thread's connection is closed afterwards."""
    database = connect(database_url)
    yield database
    database.close()


@pytest.fixture
def scratch_postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A URL of a brand-new, empty PostgreSQL database of its own, dropped afterwards (for
    a test that must start from no tables at all, e.g. loading an old release's dump)."""
    name = f"roundtable_scratch_{os.getpid()}_{secrets.token_hex(4)}"
    _admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _admin(statement: sql.Composable) -> None:
    conn = psycopg2.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", connect_timeout=3
    )
    try:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(statement)
    finally:
        conn.close()


def truncate_all(url: str) -> None:
    conn = psycopg2.connect(url)
    try:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute("SET lock_timeout = '10s'")
            # schema_version stays: it describes the tables, which stay too (only emptied).
            cursor.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'schema_version'"
            )
            tables = [sql.Identifier(name) for (name,) in cursor.fetchall()]
            if tables:
                truncate = "TRUNCATE {} RESTART IDENTITY CASCADE"
                cursor.execute(sql.SQL(truncate).format(sql.SQL(", ").join(tables)))
    finally:
        conn.close()
