"""Connecting to the database (``DATABASE_URL``), creating the schema, binding the models.

- ``connect(url)`` builds a peewee ``Database`` (no connection is opened yet).
- ``setup_database(db)`` brings the schema to this code's version (creates it, or runs the
  pending ``storage.migrations``); idempotent, and safe when several instances run it at
  once against one database.
- ``describe(url)`` names a database for a message (the SQLite file, or the PostgreSQL
  server and database; never a password).
- ``using(db)`` binds the models to ``db`` on the calling thread for the duration of a
  block, opens a connection if the thread has none (and closes it again afterwards), and
  translates peewee errors into ``StorageError``. Every storage entry point runs inside it.
- ``retrying(db, action, work)`` is ``using`` plus a short retry of transient failures.

peewee gives each thread its own connection. Use a file (never ``:memory:``) for SQLite,
and ``postgresql+pool://`` when many threads (web workers) read PostgreSQL.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

import peewee
from playhouse import db_url

from storage import migrations as migrations_package
from storage.errors import StorageError, translate
from storage.models import database
from storage.schema import Upgrade, upgrade

__all__ = [
    "SCHEMES", "close_database", "connect", "describe", "refresh_statistics", "retrying", "setup_database",
    "sqlite_file", "using", "write_transaction",
]

log = logging.getLogger("roundtable.storage")

SCHEMES: Final = ("sqlite", "postgres", "postgresql", "postgres+pool", "postgresql+pool")
SQLITE_PRAGMAS: Final = {"journal_mode": "wal", "busy_timeout": 5000, "foreign_keys": 1}
#: PostgreSQL pool: enough for the web workers, the actors and the retention job; a
#: connection idle for 5 minutes is closed; a caller waits up to 10 s for a free one.
POOL_DEFAULTS: Final = {"max_connections": 32, "stale_timeout": 300, "timeout": 10}
POSTGRES_CONNECT_TIMEOUT_SECONDS: Final = 5
#: Rows ``ANALYZE`` samples per index (SQLite's ``analysis_limit``).
SQLITE_ANALYSIS_ROWS: Final = 1000
#: The PostgreSQL tables whose statistics the start-up and page queries need.
PG_ANALYZED_TABLES: Final = ("conversations", "messages", "api_calls")
#: Those never analyzed, or grown by more than a fifth (in pages, which reads no counter
#: that lags) since their last ``ANALYZE``: a bulk import, or autovacuum fallen behind.
PG_STALE_SQL: Final = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relname = ANY(%s) AND c.relkind = 'r'
  AND (c.reltuples < 0 OR pg_relation_size(c.oid) / current_setting('block_size')::int > c.relpages * 1.2)
"""
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
        extra: dict[str, Any] = (
            {}
            if "connect_timeout" in options
            else {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_SECONDS}
        )
        # Pooled by default: a new server connection per request costs about 4 ms here
        # against 0.9 ms from the pool (issue 13). The URL's own pool options win.
        for name, value in POOL_DEFAULTS.items():
            if name not in options:
                extra[name] = value
        return db_url.connect(_pooled(database_url), **extra)
    except ValueError as exc:
        raise StorageError(str(exc)) from exc


def sqlite_file(database_url: str) -> str:
    """The file of a ``sqlite://`` URL as peewee reads it (``sqlite:///data/x.db`` is the
    relative ``data/x.db``), its directory created. Raises ``StorageError`` naming it."""
    try:
        path = str(db_url.parse(database_url)["database"])
    except ValueError as exc:
        raise StorageError(str(exc)) from exc
    _make_parent_directory(path)
    return path


def close_database(db: peewee.Database) -> None:
    """Close this thread's connection and, for a pool, every idle one (at shutdown)."""
    if not db.is_closed():
        _close_quietly(db)
    close_all = getattr(db, "close_all", None)
    if callable(close_all):
        close_all()


def _pooled(database_url: str) -> str:
    """``postgresql://...`` as ``postgresql+pool://...`` (already pooled URLs unchanged)."""
    scheme, rest = database_url.split("://", 1)
    return database_url if scheme.endswith("+pool") else f"{scheme}+pool://{rest}"


def describe(database_url: str) -> str:
    """``the SQLite file data/roundtable.db`` or ``the PostgreSQL database rt on
    db.example:5432``: what a failure message names. Never contains a password."""
    parts = urlsplit(database_url)
    if parts.scheme == "sqlite":
        return f"the SQLite file {database_url.split('://', 1)[1].removeprefix('/') or '?'}"
    try:
        where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
    except ValueError:  # a port that is not a number
        where = parts.hostname or "localhost"
    return f"the PostgreSQL database {parts.path.lstrip('/') or '?'} on {where}"


def setup_database(db: peewee.Database, migrations: Sequence[migrations_package.Migration] | None = None) -> Upgrade:
    """Bring the schema to the latest version (``storage.migrations``); idempotent; runs on
    the calling thread. ``migrations`` replaces the discovered ones (tests).

    Everything happens in one transaction: an upgrade either completes or leaves the
    database as it was. On PostgreSQL it runs under ``pg_advisory_xact_lock``, so instances
    starting together do not race (concurrent ``CREATE TABLE IF NOT EXISTS`` can otherwise
    fail on ``pg_type``); on SQLite under the write lock (``BEGIN IMMEDIATE``), with foreign
    keys off so that a migration that rebuilds a table cannot cascade-delete rows.
    Raises ``StorageError`` (one line), also for a database newer than this code.
    """
    steps = list(migrations) if migrations is not None else migrations_package.discover()

    def run() -> Upgrade:
        with _foreign_keys_off(db), write_transaction(db):
            if isinstance(db, peewee.PostgresqlDatabase):
                db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (SETUP_LOCK_KEY,))
            done = upgrade(db, steps)
            if done.changed:  # a whole-database scan (225 ms at 100,000 rounds): only after a change
                _check_foreign_keys(db)
            return done

    done = retrying(db, "setup_database", run)
    refresh_statistics(db)
    if done.changed:
        start = "a new database" if done.before is None else f"version {done.before}"
        log.info("database schema: %s -> version %d", start, done.after)
    return done


def refresh_statistics(db: peewee.Database, *, keep_open: bool = False) -> None:
    """Refresh the planner's statistics (``ANALYZE``) at a cost that does not grow with
    history: at start-up, after a prune, and daily (``actors.retention.StatisticsJob``).
    Runs on the calling thread (``keep_open`` as in ``using``); raises ``StorageError``."""
    retrying(db, "refresh the query planner's statistics", lambda: _analyze(db), keep_open=keep_open)


def _analyze(db: peewee.Database) -> None:
    """The bounded ``ANALYZE`` of each backend.

    Without statistics SQLite picked a full scan for today's ``api_calls`` (65 ms at 1.6
    million rows, 0.05 ms after ``ANALYZE``), and PostgreSQL took 200-300 ms for today's
    calls and spend at 100,000 rounds until autovacuum got round to them (bench/history.py).
    ``analysis_limit`` makes SQLite sample a fixed number of rows per index (1-20 ms at
    100,000 rounds). PostgreSQL's ``ANALYZE`` samples 30,000 rows per table, 2-3 s at
    100,000 rounds: it runs only on the tables that outgrew their statistics
    (``PG_STALE_SQL``), so a restart with current statistics costs one catalog query.
    """
    if isinstance(db, peewee.SqliteDatabase):
        db.execute_sql(f"PRAGMA analysis_limit={SQLITE_ANALYSIS_ROWS}")
        db.execute_sql("ANALYZE")
        return
    stale = [row[0] for row in db.execute_sql(PG_STALE_SQL, (list(PG_ANALYZED_TABLES),)).fetchall()]
    if stale:
        db.execute_sql(f"ANALYZE {', '.join(stale)}")


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
    # SQLite keeps each thread's connection (opening one re-reads the schema, 0.4 ms);
    # PostgreSQL's close returns the connection to the pool.
    opened_here = db.is_closed() and not keep_open and not isinstance(db, peewee.SqliteDatabase)
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


def write_transaction(db: peewee.Database) -> peewee._atomic:
    """A transaction that holds the write lock from its start: on SQLite ``BEGIN
    IMMEDIATE``, so two writers wait on busy_timeout instead of failing on a lock upgrade,
    and what runs inside runs once the lock is had (another process's long write is over)."""
    if isinstance(db, peewee.SqliteDatabase):
        return db.atomic("IMMEDIATE")
    return db.atomic()


@contextmanager
def _foreign_keys_off(db: peewee.Database) -> Iterator[None]:
    # SQLite only honours this pragma outside a transaction; a table rebuild (how SQLite
    # alters a column) would otherwise cascade its DROP to the rows that reference it.
    if not isinstance(db, peewee.SqliteDatabase):
        yield
        return
    db.pragma("foreign_keys", 0)
    try:
        yield
    finally:
        db.pragma("foreign_keys", 1)


def _check_foreign_keys(db: peewee.Database) -> None:
    if isinstance(db, peewee.SqliteDatabase) and db.execute_sql("PRAGMA foreign_key_check").fetchone():
        raise StorageError("a migration left rows that reference missing rows; nothing was changed")


def _make_parent_directory(path: str) -> None:
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    parent = Path(path).parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:  # a regular file stands where a directory should be
        raise StorageError(f"cannot create the directory {parent}: a file is in the way") from exc
    except OSError as exc:
        raise StorageError(f"cannot create the directory {parent}: {exc.strerror or exc}") from exc


def _close_quietly(db: peewee.Database) -> None:
    try:
        db.close()
    except peewee.PeeweeException:
        pass  # already broken; the next connect() starts afresh
