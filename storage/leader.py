"""The engine lock: exactly one engine per database, on both backends.

- PostgreSQL (``EngineLock``): a session-level advisory lock on a dedicated psycopg2
  connection, outside peewee's pool (a pooled connection handed back would keep holding
  the lock, and a recycled one would silently drop it). If the lock's connection is lost,
  PostgreSQL has released the lock and another instance may already have taken it: the
  holder must stop running its engine at once.
- SQLite (``FileLock``): an exclusive ``flock`` on a file beside the database
  (``roundtable.db.lock``), held for the process's life and released by the OS when the
  process dies; the file names the holder (pid, host, since).

``engine_lock(database_url)`` builds the right one. ``actors.cluster`` decides what an
instance does with it; ``actors.system.create_system`` takes one itself when not given.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import logging
import os
import socket
import zlib
from pathlib import Path
from typing import Any, ClassVar, Final, Protocol
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from storage import pg
from storage.errors import StorageError

__all__ = [
    "ENGINE_LOCK_KEY", "EngineLock", "EngineLockHeld", "FileLock", "Lock", "engine_lock", "instance_id",
    "libpq_url", "take_engine_lock",
]

log = logging.getLogger("roundtable.leader")

ENGINE_LOCK_KEY: Final = zlib.crc32(b"roundtable.engine.leader")
#: Query parameters of a peewee URL that libpq does not know.
PEEWEE_ONLY_PARAMS: Final = frozenset({"max_connections", "stale_timeout", "timeout"})


def instance_id() -> str:
    """This process's name among instances: ``host:pid`` (also ``system_status.leader_id``)."""
    return f"{socket.gethostname()}:{os.getpid()}"


class EngineLockHeld(StorageError):
    """Another process runs the engine on this database (the message names the holder;
    clients are told less). ``create_system`` raises it to an embedder."""

    code = "engine_lock_held"
    public_message: ClassVar[str | None] = "another process runs the engine on this database"
    retry_after = None


class Lock(Protocol):
    """What ``actors.cluster`` needs of an engine lock. Methods run on the calling thread."""

    def try_acquire(self) -> bool: ...

    def still_held(self) -> bool: ...

    def holder(self) -> str: ...

    def release(self) -> None: ...


def engine_lock(database_url: str) -> Lock:
    """The engine lock for ``database_url``: advisory on PostgreSQL, a file on SQLite."""
    if database_url.startswith("sqlite"):
        # As peewee reads the URL (sqlite:///data/x.db is relative), directory created:
        # the lock is taken before the database is first opened.
        from storage.db import sqlite_file

        # The real path: two spellings of one file (relative, via a symlink) share one lock.
        return FileLock(Path(os.path.realpath(sqlite_file(database_url)) + ".lock"))
    return EngineLock(database_url)


def take_engine_lock(database_url: str) -> Lock:
    """The engine lock for ``database_url``, taken now; ``EngineLockHeld`` naming the
    holder when another process has it."""
    lock = engine_lock(database_url)
    if not lock.try_acquire():
        raise EngineLockHeld(f"another process runs the engine on this database: {lock.holder()}")
    return lock


def libpq_url(database_url: str) -> str:
    """The libpq form of a peewee PostgreSQL URL (no ``+pool``, no pool parameters)."""
    parts = urlsplit(database_url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in PEEWEE_ONLY_PARAMS]
    defaults = {
        "connect_timeout": "5",
        # A network split must be noticed on both ends within ~25 s: by this client (so
        # the watch stops the engine) and by the server (which then drops the session,
        # and with it the lock, so a standby can take over; its own default is ~2 h).
        "keepalives": "1",
        "keepalives_idle": "10",
        "keepalives_interval": "5",
        "keepalives_count": "3",
        "options": (
            "-c statement_timeout=5000 -c tcp_keepalives_idle=10 "
            "-c tcp_keepalives_interval=5 -c tcp_keepalives_count=3"
        ),
    }
    given = {k for k, _ in query}
    query += [(k, v) for k, v in defaults.items() if k not in given]
    # %20, not "+", for spaces: libpq does not decode "+" in a URI.
    return urlunsplit(("postgresql", parts.netloc, parts.path, urlencode(query, quote_via=quote), ""))


class EngineLock:
    """The engine's advisory lock. Methods run on the calling thread; not shared."""

    def __init__(self, database_url: str, key: int = ENGINE_LOCK_KEY) -> None:
        self._url = libpq_url(database_url)
        self._key = key
        self._connection: Any = None

    def try_acquire(self) -> bool:
        """Take the lock if it is free (True) or say another session holds it (False);
        never blocks on it. Raises ``StorageError`` when PostgreSQL cannot be reached."""
        try:
            if self._connection is None or self._connection.closed:
                self._connection = pg.connect(self._url)
                self._connection.autocommit = True
            with self._connection.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_lock(%s)", (self._key,))
                return bool(cursor.fetchone()[0])
        except pg.Error as exc:
            self._close()
            message = " ".join(str(exc).split()) or type(exc).__name__
            raise StorageError(f"cannot take the engine lock on PostgreSQL: {message}") from exc

    def still_held(self) -> bool:
        """Whether this session still holds the lock (a dead connection does not)."""
        try:
            with self._connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                    "AND objid = %s AND pid = pg_backend_pid() AND granted",
                    (self._key,),
                )
                return bool(cursor.fetchone()[0])
        except pg.errors.QueryCanceled:
            # Slower than the statement timeout: the session (and the lock) is alive.
            log.warning("the engine lock check was slow; checking again")
            return True
        except (pg.Error, AttributeError):
            return False

    def holder(self) -> str:
        """Who holds the lock, as far as PostgreSQL tells (``system_status`` has more)."""
        return f"the advisory lock {self._key} on the PostgreSQL database"

    def release(self) -> None:
        """Give the lock back at once (closing the connection releases it too, but the
        server ends the session a moment later: a successor could find it still held)."""
        if self._connection is not None and not self._connection.closed:
            try:
                with self._connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", (self._key,))
            except pg.Error:
                pass  # the session is gone, and the lock with it
        self._close()

    def _close(self) -> None:
        if self._connection is not None and not self._connection.closed:
            self._connection.close()
        self._connection = None


class FileLock:
    """An exclusive ``flock`` on ``path``, naming its holder inside. Not shared by threads.

    ``flock`` locks belong to an open file description, so a second ``FileLock`` on the same
    path fails even in the same process, and the OS drops the lock when the process dies.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        """Take the lock if it is free (True); False while another holds it. Raises
        ``StorageError`` when the file cannot be opened."""
        if self._fd is not None:
            return True
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StorageError(f"cannot open the engine lock {self.path}: {exc.strerror or exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        since = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        host, _, pid = instance_id().rpartition(":")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid={pid} host={host} since={since}\n".encode(), 0)
        self._fd = fd
        return True

    def still_held(self) -> bool:
        """Whether this process holds the lock (the OS keeps it while the file is open)."""
        return self._fd is not None

    def holder(self) -> str:
        """``path (pid=.. host=.. since=..)`` as the holder wrote it."""
        try:
            text = self.path.read_text(errors="replace").strip()
        except OSError:
            text = ""
        return f"{self.path} ({text or 'holder unknown'})"

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None
