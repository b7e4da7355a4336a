"""Engine leadership on PostgreSQL: exactly one instance runs the engine.

The leader holds a session-level advisory lock on a dedicated psycopg2 connection,
outside peewee's pool (a pooled connection handed back would keep holding the lock, and a
recycled one would silently drop it). Other instances wait to take over. If the lock's
connection is lost, PostgreSQL has released the lock and another instance may already
have taken it: the holder must stop running its engine at once.
"""

from __future__ import annotations

import logging
import threading
import zlib
from typing import Any, Final
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg2
import psycopg2.errors

from storage.errors import StorageError

__all__ = ["ENGINE_LOCK_KEY", "EngineLock", "libpq_url"]

log = logging.getLogger("roundtable.leader")

ENGINE_LOCK_KEY: Final = zlib.crc32(b"roundtable.engine.leader")
#: Query parameters of a peewee URL that libpq does not know.
PEEWEE_ONLY_PARAMS: Final = frozenset({"max_connections", "stale_timeout", "timeout"})


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
                self._connection = psycopg2.connect(self._url)
                self._connection.autocommit = True
            with self._connection.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_lock(%s)", (self._key,))
                return bool(cursor.fetchone()[0])
        except psycopg2.Error as exc:
            self._close()
            message = " ".join(str(exc).split()) or type(exc).__name__
            raise StorageError(f"cannot take the engine lock on PostgreSQL: {message}") from exc

    def wait(self, stop: threading.Event, poll_seconds: float = 2.0) -> bool:
        """Block until the lock is ours (True) or ``stop`` is set (False); an unreachable
        database is logged (once per distinct error) and tried again."""
        last_error = ""
        while not stop.is_set():
            try:
                if self.try_acquire():
                    return True
            except StorageError as exc:
                if str(exc) != last_error:
                    log.warning("%s; trying again", exc)
                    last_error = str(exc)
            stop.wait(poll_seconds)
        return False

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
        except psycopg2.errors.QueryCanceled:
            # Slower than the statement timeout: the session (and the lock) is alive.
            log.warning("the engine lock check was slow; checking again")
            return True
        except (psycopg2.Error, AttributeError):
            return False

    def release(self) -> None:
        """Give the lock back (closing the connection releases it in any case)."""
        self._close()

    def _close(self) -> None:
        if self._connection is not None and not self._connection.closed:
            self._connection.close()
        self._connection = None


class LeadershipWatch:
    """A daemon thread that checks the lock every ``interval`` and calls ``on_lost`` once."""

    def __init__(self, lock: EngineLock, on_lost: Any, interval: float = 5.0) -> None:
        self._lock = lock
        self._on_lost = on_lost
        self._interval = interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="roundtable-leader", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            if not self._lock.still_held():
                log.error("lost the engine lock (database connection gone); stopping this instance")
                self._on_lost()
                return
