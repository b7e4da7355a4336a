"""Connecting to the database (``DATABASE_URL``), creating the schema, binding the models.

- ``connect(url)`` builds a peewee ``Database`` (no connection is opened yet).
- ``setup_database(db)`` creates the tables and indexes; idempotent, and safe when several
  instances run it at once against one PostgreSQL database.
- ``using(db)`` binds the models to ``db`` on the calling thread for the duration of a
  block, opens a connection if the thread has none (and closes it again afterwards), and
  translates peewee errors into ``StorageError``. Every storage entry point runs inside it.
- ``retrying(db, action, work)`` is ``using`` plus a short retry of transient failures.

peewee gives each thread its own connection. Use a file (never ``:memory:``) for SQLite,
and ``postgresql+pool://`` when many threads (web workers) read PostgreSQL.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final, TypeVar

import peewee
from playhouse import db_url

from storage.errors import StorageError, translate
from storage.models import MODELS, database

__all__ = ["SCHEMES", "connect", "retrying", "setup_database", "using"]

SCHEMES: Final = ("sqlite", "postgres", "postgresql", "postgres+pool", "postgresql+pool")
SQLITE_PRAGMAS: Final = {"journal_mode": "wal", "busy_timeout": 5000, "foreign_keys": 1}
POSTGRES_CONNECT_TIMEOUT_SECONDS: Final = 5
#: The advisory lock that serializes ``setup_database`` across instances. Derived from a
#: name so it cannot collide with the engine's leader lock (a different key).
SETUP_LOCK_KEY: Final = zlib.crc32(b"roundtable.storage.setup_database")

T = TypeVar("T")


def connect(database_url: str) -> peewee.Database:
    """Build the ``Database`` for ``database_url`` without connecting.

    SQLite gets WAL, a 5 s busy timeout and foreign keys, and its parent directory is
    created (``data/`` by default). PostgreSQL gets a connect timeout unless the URL sets
    one (``?connect_timeout=``). Raises ``StorageError`` for an unusable URL.
    """
    scheme = database_url.split("://", 1)[0] if "://" in database_url else ""
    if scheme not in SCHEMES:
        raise StorageError(f"unsupported database URL scheme {scheme!r}; use one of {SCHEMES}")
    try:
        options = db_url.parse(database_url)
        if scheme == "sqlite":
            _make_parent_directory(options["database"])
            return db_url.connect(database_url, pragmas=SQLITE_PRAGMAS)
        extra = (
            {}
            if "connect_timeout" in options
            else {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_SECONDS}
        )
        return db_url.connect(database_url, **extra)
    except (ValueError, OSError) as exc:
        raise StorageError(f"cannot use DATABASE_URL: {exc}") from exc


def setup_database(db: peewee.Database) -> None:
    """Create every table and index if missing. Idempotent; runs on the calling thread.

    On PostgreSQL the DDL runs in one transaction under ``pg_advisory_xact_lock``, so
    instances starting together do not race on the catalog (concurrent ``CREATE TABLE IF
    NOT EXISTS`` can otherwise fail with a duplicate-key error on ``pg_type``).
    """

    def create() -> None:
        with _ddl_transaction(db):
            if isinstance(db, peewee.PostgresqlDatabase):
                db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (SETUP_LOCK_KEY,))
            db.create_tables(list(MODELS), safe=True)

    retrying(db, "setup_database", create)


@contextmanager
def using(
    db: peewee.Database, action: str = "database access", *, keep_open: bool = False
) -> Iterator[peewee.Database]:
    """Bind the models to ``db`` on this thread; open (then close) a connection if needed.

    Nesting is fine; a connection that was already open stays open, and so does one opened
    here when ``keep_open`` (a long-lived thread such as an actor's). Peewee errors leave as
    ``StorageError`` (``action`` names what failed); a lost connection is closed so the
    next use reconnects.
    """
    previous = database.obj
    database.initialize(db)
    opened_here = db.is_closed() and not keep_open
    try:
        if db.is_closed():
            db.connect()
        yield db
    except peewee.PeeweeException as exc:
        error = translate(exc, action)
        if error.connection_lost:
            _close_quietly(db)
        raise error from exc
    finally:
        if opened_here and not db.is_closed() and not db.in_transaction():
            _close_quietly(db)
        database.initialize(previous)


def retrying(
    db: peewee.Database,
    action: str,
    work: Callable[[], T],
    *,
    attempts: int = 4,
    delay: float = 0.05,
    keep_open: bool = False,
) -> T:
    """``work()`` inside ``using(db)``; transient failures are retried (0.05, 0.1, 0.2 s).

    Runs on the calling thread. Raises ``StorageError`` when the attempts are spent or
    the failure is not transient.
    """
    attempt = 1
    while True:
        try:
            with using(db, action, keep_open=keep_open):
                return work()
        except StorageError as exc:
            if not exc.transient or attempt >= attempts:
                raise
        time.sleep(delay * 2 ** (attempt - 1))
        attempt += 1


def _ddl_transaction(db: peewee.Database) -> peewee._atomic:
    # IMMEDIATE takes SQLite's write lock up front, so two setups wait on busy_timeout
    # instead of failing on a lock upgrade.
    if isinstance(db, peewee.SqliteDatabase):
        return db.atomic("IMMEDIATE")
    return db.atomic()


def _make_parent_directory(path: str) -> None:
    if path and path != ":memory:" and not path.startswith("file:"):
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _close_quietly(db: peewee.Database) -> None:
    try:
        db.close()
    except peewee.PeeweeException:
        pass  # already broken; the next connect() starts afresh
