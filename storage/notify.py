"""Events across instances on PostgreSQL: the leader NOTIFYs, every standby LISTENs.

``EventPublisher`` is a Broadcaster sink: the engine's instance sends every encoded event
on the ``roundtable_events`` channel. ``EventListener`` is a daemon thread on each standby
that hands every payload to its Hub. Both use a dedicated autocommit psycopg2 connection
outside peewee's pool (peewee has no LISTEN/NOTIFY). A NOTIFY payload is limited to 8000
bytes: a larger message event travels as a ``message_ref`` that the listener resolves by
reading the stored message. Notifications sent while a listener is disconnected are lost
(PostgreSQL does not queue them); ``actors.follow.Follower`` catches up from the database
each time the listener connects again.
"""

from __future__ import annotations

import json
import logging
import select
import threading
from collections.abc import Callable
from typing import Any, Final

import peewee

from actors import wire
from storage import pg, queries
from storage.leader import libpq_url

__all__ = ["CHANNEL", "MAX_PAYLOAD_BYTES", "EventListener", "EventPublisher"]

log = logging.getLogger("roundtable.notify")

CHANNEL: Final = "roundtable_events"
#: Largest payload sent as is (PostgreSQL refuses more than 8000 bytes).
MAX_PAYLOAD_BYTES: Final = 7900
#: How long the listener waits for a notification before checking whether to stop.
POLL_SECONDS: Final = 1.0
#: Reconnection waits of the listener: doubling from the first to the last.
BACKOFF_FIRST_SECONDS: Final = 0.5
BACKOFF_MAX_SECONDS: Final = 10.0


def _connect(url: str) -> Any:
    connection = pg.connect(url)
    connection.autocommit = True
    return connection


def _close(connection: Any) -> None:
    if connection is not None and not connection.closed:
        try:
            connection.close()
        except pg.Error:
            pass


def payload_for(data: str) -> str | None:
    """What to NOTIFY for the encoded event ``data``: itself when small enough, a
    ``message_ref`` for a large message event, ``None`` for any other large event."""
    if len(data.encode("utf-8")) <= MAX_PAYLOAD_BYTES:
        return data
    event = json.loads(data)
    if event.get("type") == "message":
        ref = {"type": "message_ref", "conversation_id": event["conversation_id"], "seq": event["seq"]}
        return json.dumps(ref, separators=(",", ":"))
    return None


class EventPublisher:
    """A Broadcaster sink, called on the Broadcaster's thread: NOTIFYs each event.

    Errors are logged, never raised into the Broadcaster; a lost connection is opened
    again once for the same event, then the event is given up.
    """

    def __init__(self, database_url: str) -> None:
        self._url = libpq_url(database_url)
        self._connection: Any = None

    def __call__(self, data: str) -> None:
        try:
            payload = payload_for(data)
        except (ValueError, KeyError) as exc:
            log.error("not publishing an event too large to NOTIFY: %s", exc)
            return
        if payload is None:
            log.error("not publishing a %d-byte event: too large to NOTIFY", len(data))
            return
        for attempt in (1, 2):
            try:
                if self._connection is None or self._connection.closed:
                    self._connection = _connect(self._url)
                with self._connection.cursor() as cursor:
                    cursor.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
                return
            except (pg.OperationalError, pg.InterfaceError) as exc:
                _close(self._connection)
                self._connection = None
                if attempt == 2:
                    log.error("could not publish an event to other instances: %s", " ".join(str(exc).split()))
            except pg.Error as exc:
                log.error("could not publish an event to other instances: %s", " ".join(str(exc).split()))
                return

    def close(self) -> None:
        """Close the connection (after the Broadcaster has stopped). Any thread."""
        _close(self._connection)
        self._connection = None


class EventListener:
    """A daemon thread (``roundtable-listen``): LISTENs and hands each event to ``deliver``.

    ``deliver`` is called on the listener's thread (``Hub.deliver_threadsafe`` fits). A
    ``message_ref`` is resolved by reading the message from ``db`` first. A dropped
    connection is opened again with a backoff; ``on_listening`` (if given) runs on the
    listener's thread after every LISTEN, before any notification is handled, so that
    what was sent while the listener was away can be caught up from the database.
    """

    def __init__(
        self, database_url: str, deliver: Callable[[str], None], db: peewee.Database,
        on_listening: Callable[[], None] | None = None,
    ) -> None:
        self._url = libpq_url(database_url)
        self._deliver = deliver
        self._db = db
        self._on_listening = on_listening
        self._stopped = threading.Event()
        self._listening = threading.Event()
        self._thread = threading.Thread(target=self._run, name="roundtable-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wait_listening(self, timeout: float) -> bool:
        """Whether the first LISTEN has run within ``timeout`` seconds. Any thread."""
        return self._listening.wait(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening and wait (up to ``timeout``) for the thread to end. Any thread."""
        self._stopped.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        backoff = BACKOFF_FIRST_SECONDS
        while not self._stopped.is_set():
            connection = None
            try:
                connection = _connect(self._url)
                with connection.cursor() as cursor:
                    cursor.execute(f"LISTEN {CHANNEL}")
                if backoff > BACKOFF_FIRST_SECONDS:
                    log.info("listening to the engine's events again")
                backoff = BACKOFF_FIRST_SECONDS
                if self._on_listening is not None:
                    self._on_listening()
                self._listening.set()
                self._listen(connection)
            except (pg.Error, OSError) as exc:
                log.warning(
                    "lost the engine's events (%s); reconnecting in %g s",
                    " ".join(str(exc).split()) or type(exc).__name__, backoff,
                )
                self._stopped.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_SECONDS)
            finally:
                _close(connection)

    def _listen(self, connection: Any) -> None:
        while not self._stopped.is_set():
            readable, _, _ = select.select([connection], [], [], POLL_SECONDS)
            if not readable:
                continue
            connection.poll()
            while connection.notifies:
                notify = connection.notifies.pop(0)
                self._handle(notify.payload)

    def _handle(self, payload: str) -> None:
        try:
            data = self._resolve(payload)
        except Exception:  # a bad payload or an unreadable message must not end the thread
            log.exception("could not resolve an event from the engine")
            return
        if data is not None:
            self._deliver(data)

    def _resolve(self, payload: str) -> str | None:
        if not payload.startswith('{"type":"message_ref"'):
            return payload
        ref = json.loads(payload)
        conversation = queries.get_conversation(self._db, int(ref["conversation_id"]))
        for message in conversation.messages if conversation is not None else ():
            if message.seq == ref["seq"]:
                event = wire.message_event(message, None)
                return json.dumps(event, separators=(",", ":"), ensure_ascii=False)
        log.error("message %s of round %s is not in the database", ref["seq"], ref["conversation_id"])
        return None
