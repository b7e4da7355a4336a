"""Admin commands through any instance: a standby relays ``/control`` to the engine's
instance through the database (``storage.relay``, the ``commands`` table).

- ``RemoteEngine`` (a standby): ``ask(request)`` stores the request and waits, up to
  ``RELAY_TIMEOUT``, for the engine's answer, then gives back exactly what the engine
  would have: the view, or the same ``actors.errors`` class a local engine raises, with
  its code and status (``actors.errors.from_answer``). When no engine claimed it in time
  the request is withdrawn (it will never run: ``NoEngine``); a claimed one that is not
  answered in time may still run (``EngineTimeout``).
- ``CommandRelay`` (the engine's instance): a daemon thread that takes each pending
  request, runs it on the local engine and stores the answer. It wakes on the NOTIFY sent
  with each request on PostgreSQL, and polls every ``POLL_SECONDS`` in any case (the
  only way on SQLite, and a safety net for a lost notification).
"""

from __future__ import annotations

import logging
import select
import time
from typing import TYPE_CHECKING, Any, Final

import peewee
import pykka

from actors import wire
from actors.daemon import DaemonLoop
from actors.errors import (
    MAY_STILL_APPLY,
    EngineStopped,
    EngineTimeout,
    NoEngine,
    RoundtableError,
    body_of,
    from_answer,
)
from settings import Settings
from storage import pg, relay
from storage.errors import StorageError
from storage.leader import instance_id, libpq_url

if TYPE_CHECKING:
    from actors.system import RoundtableSystem

__all__ = ["RELAY_TIMEOUT", "CommandRelay", "RemoteEngine", "run_request"]

log = logging.getLogger("roundtable.relay")

#: How long a standby waits for the engine's answer (below the web layer's 10 s).
RELAY_TIMEOUT: Final = 8.0
#: How often a standby reads for the answer, and the engine for requests.
ANSWER_POLL_SECONDS: Final = 0.05
POLL_SECONDS: Final = 0.5
#: How often the engine deletes old requests.
FORGET_EVERY_SECONDS: Final = 3600.0

NO_ENGINE: Final = "no engine answered in time (is one running on this database?); the command was not applied"
STOPPED_ENGINE: Final = "the engine stopped before it answered; check /api/status"
INTERNAL: Final = "internal server error"


def run_request(system: RoundtableSystem, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Run ``request`` on the local engine: (HTTP status, body), as ``/control`` answers.
    Refusals are answers here, never exceptions across the relay; a bug is logged with
    its traceback and answered as a 500 that says nothing of it."""
    action = request.get("action")
    arguments = {name: value for name, value in request.items() if name != "action"}
    try:
        view = system.command(str(action), **arguments)
    except RoundtableError as error:
        return error.status, body_of(error)
    except pykka.Timeout:
        return 503, body_of(EngineTimeout(MAY_STILL_APPLY))
    except pykka.ActorDeadError:
        return 503, body_of(EngineStopped(STOPPED_ENGINE))
    except Exception:
        log.exception("relayed admin command %s failed", str(action)[:40])
        return 500, body_of(RoundtableError(INTERNAL))
    return 200, wire.control_answer(str(action), view)


class RemoteEngine:
    """A standby's way to the engine's instance. ``ask`` blocks the calling thread (the web
    layer's worker thread)."""

    def __init__(self, db: peewee.Database, timeout: float = RELAY_TIMEOUT) -> None:
        self._db = db
        self._timeout = timeout

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        command_id = relay.submit(self._db, request, instance_id())
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            answered = relay.answer_of(self._db, command_id)
            if answered is not None:
                return _view_of(*answered)
            time.sleep(ANSWER_POLL_SECONDS)  # polling the answer row, bounded by the deadline
        if relay.withdraw(self._db, command_id, 503, body_of(NoEngine(NO_ENGINE))):
            raise NoEngine(NO_ENGINE)
        raise EngineTimeout(MAY_STILL_APPLY)


def _view_of(status: int, body: dict[str, Any]) -> dict[str, Any]:
    """The view of a 200 answer; the error it stands for, raised, for any other."""
    if status != 200:
        raise from_answer(status, body)
    return {k: v for k, v in body.items() if k not in ("ok", "action")}


class CommandRelay(DaemonLoop):
    """The engine's side: a daemon thread (``roundtable-relay``) that answers requests."""

    def __init__(self, settings: Settings, system: RoundtableSystem, db: peewee.Database) -> None:
        super().__init__("roundtable-relay")
        self._settings = settings
        self._system = system
        self._db = db
        self._wakeups: Any = None
        self._last_error = ""

    def stop(self) -> None:
        """Stop answering (before the engine stops). Any thread."""
        super().stop()
        self._close_wakeups()
        if not self._db.is_closed():
            self._db.close()

    def _run(self) -> None:
        forgotten_at = 0.0
        while not self._stopped.is_set():
            try:
                if time.monotonic() - forgotten_at >= FORGET_EVERY_SECONDS:
                    relay.forget_old(self._db)
                    forgotten_at = time.monotonic()
                self._answer_pending()
                self._last_error = ""
            except StorageError as exc:
                if str(exc) != self._last_error:
                    log.warning("cannot read relayed admin commands: %s", exc)
                    self._last_error = str(exc)
            self._wait()

    def _answer_pending(self) -> None:
        for command_id, request in relay.pending(self._db, RELAY_TIMEOUT):
            if self._stopped.is_set() or not relay.claim(self._db, command_id):
                continue
            status, body = run_request(self._system, request)
            relay.answer(self._db, command_id, status, body)
            outcome = f"{status} {body['code']}: {body['error']}" if "code" in body else str(status)
            log.info("answered a relayed admin command %s: %s", str(request.get("action"))[:40], outcome)

    def _wait(self) -> None:
        """Until a NOTIFY (PostgreSQL) or ``POLL_SECONDS``, whichever comes first."""
        if not self._settings.is_postgres:
            self._stopped.wait(POLL_SECONDS)
            return
        try:
            if self._wakeups is None or self._wakeups.closed:
                self._wakeups = pg.connect(libpq_url(self._settings.database_url))
                self._wakeups.autocommit = True
                with self._wakeups.cursor() as cursor:
                    cursor.execute(f"LISTEN {relay.CHANNEL}")
            readable, _, _ = select.select([self._wakeups], [], [], POLL_SECONDS)
            if readable:
                self._wakeups.poll()
                self._wakeups.notifies.clear()
        except (pg.Error, OSError):
            self._close_wakeups()
            self._stopped.wait(POLL_SECONDS)

    def _close_wakeups(self) -> None:
        if self._wakeups is not None and not self._wakeups.closed:
            try:
                self._wakeups.close()
            except pg.Error:
                pass
        self._wakeups = None
