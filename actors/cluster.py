"""Leadership and takeover: this instance runs the engine while it holds the engine lock,
and serves visitors as a standby otherwise, on either backend.

``Cluster.start()`` takes the lock (``storage.leader.engine_lock``: advisory on PostgreSQL,
a file beside a SQLite database) or becomes a standby, then keeps the role right for the
life of the process, until ``Cluster.stop()``:

- a standby tries the lock every ``TAKEOVER_POLL_SECONDS``; when it gets it, it stops
  following, sends its visitors whatever the database has that they were not sent, and
  starts the engine with the same Hub (visitors stay connected), which resumes an active
  round after its last stored seq;
- the engine checks the lock every ``LOCK_CHECK_SECONDS``; if it is gone (the database
  restarted, the lock's connection was killed) the engine halts at once, since another
  instance may already lead, and this instance becomes a standby that takes the lock back
  when it can. No instance gives up for good on a database hiccup.

The app serves ``Cluster.start()``'s ``Engine`` (an ``actors.engine.Switched``) for the
life of the process; it is switched on every change of role (the standby view first, then
the old engine is stopped), so requests always find a live system. Methods run on the
event loop; blocking work goes to worker threads.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import threading
from collections.abc import Callable
from typing import Final

from actors.broadcaster import Hub
from actors.clock import SystemClock
from actors.collector import QuietCollector
from actors.engine import Engine, Switched
from actors.errors import RoundtableError
from actors.follow import Delivered, Follower
from actors.observe import events
from actors.relay import CommandRelay
from actors.standby import StandbySystem
from actors.system import RoundtableSystem, create_system
from settings import Settings
from storage.db import connect
from storage.errors import StorageError
from storage.leader import Lock, engine_lock, instance_id
from storage.notify import EventListener, EventPublisher

__all__ = ["Cluster", "Role"]

log = logging.getLogger("roundtable.cluster")
#: This process, as alerts and ``system_status.leader_id`` name it.
INSTANCE: Final = instance_id()

#: How often a standby tries to take the engine lock (a dead engine is replaced this fast).
TAKEOVER_POLL_SECONDS: Final = 1.0
#: How often the engine checks that it still holds the lock.
LOCK_CHECK_SECONDS: Final = 2.0


class Role(enum.StrEnum):
    ENGINE = "engine"
    STANDBY = "standby"


class Cluster:
    """This instance's role, and the system (engine or standby view) that serves it."""

    def __init__(
        self, settings: Settings, hub: Hub, *, start_round: bool = False, lock: Lock | None = None,
    ) -> None:
        self.settings = settings
        self.hub = hub
        self.lock = lock or engine_lock(settings.database_url)
        self.delivered = Delivered()
        #: What the web layer serves: this instance's engine or standby view, as it changes.
        self.system = Switched(settings)
        self._start_round = start_round
        self._engine: RoundtableSystem | None = None
        self._standby: StandbySystem | None = None
        self._follower: Follower | None = None
        self._listener: EventListener | None = None
        self._publisher: EventPublisher | None = None
        self._relay: CommandRelay | None = None
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_error = ""
        #: Full garbage collections only at quiet moments (``actors.collector``).
        self._collector = QuietCollector(self.system.view)

    @property
    def role(self) -> Role:
        return Role.ENGINE if self._engine is not None else Role.STANDBY

    # -- lifecycle (on the loop) -------------------------------------------------------
    async def start(self) -> Engine:
        """Take the lock and start the engine, or serve as a standby; the ``Engine`` to
        serve for the life of the process (it follows the role). Raises
        ``StorageError`` when the database cannot be reached at all."""
        if await asyncio.to_thread(self.lock.try_acquire):
            await self._lead()
        else:
            await self._follow(wait=True)
            threading.Thread(target=_warm_up, args=(self.settings,), name="roundtable-warm-up", daemon=True).start()
            log.info("another instance runs the engine on this database (%s); serving visitors "
                     "as a standby, waiting to take over", self.lock.holder())
        self._task = asyncio.create_task(self._keep_role())
        self._collector.start()
        return self.system

    async def _keep_role(self) -> None:
        """Keep the role right until ``stop``: take over as a standby, step down as an
        engine that lost its lock."""
        while not self._stopping.is_set():
            if self._engine is None:
                await self._try_take_over()
                await self._pause(TAKEOVER_POLL_SECONDS)
            else:
                await self._pause(LOCK_CHECK_SECONDS)
                if not self._stopping.is_set() and not await asyncio.to_thread(self.lock.still_held):
                    await self._step_down()

    async def stop(self) -> None:
        """Stop following or the engine, and give the lock back. Idempotent."""
        self._stopping.set()
        await asyncio.to_thread(self._collector.stop)
        if self._task is not None:  # a takeover under way finishes first
            await asyncio.gather(self._task, return_exceptions=True)
        await self._stop_following()
        if self._engine is not None:
            log.info("shutting down")
            await self._stop_engine(self._engine)
            self._engine = None
        await asyncio.to_thread(self.lock.release)

    # -- changes of role -------------------------------------------------------------
    async def _try_take_over(self) -> None:
        try:
            acquired = await asyncio.to_thread(self.lock.try_acquire)
        except StorageError as exc:
            if str(exc) != self._last_error:
                log.warning("%s; trying again", exc)
                self._last_error = str(exc)
            return
        if not acquired or self._stopping.is_set():
            return
        self._last_error = ""
        await self._stop_following(catch_up=True)
        try:
            await self._lead()
        except Exception as exc:
            if isinstance(exc, StorageError):  # the database went away again while starting
                log.error("could not start the engine (%s); serving visitors as a standby", exc)
            else:  # a bug: said with its traceback, and this instance still serves
                log.exception("could not start the engine; serving visitors as a standby")
            await asyncio.to_thread(self.lock.release)
            await self._follow(wait=False)
            return
        log.info("took over the engine; visitors stay connected")
        events.engine_changed(True, INSTANCE, "took over from a standby")

    async def _step_down(self) -> None:
        engine = self._engine
        assert engine is not None
        log.error("lost the engine lock (database connection gone); serving visitors as a standby "
                  "until this instance can take it back")
        events.engine_changed(False, INSTANCE, "lost the engine lock; now a standby")
        await asyncio.to_thread(engine.halt_engine)  # another instance may lead already
        self._engine = None
        await self._follow(wait=False)
        await self._stop_engine(engine)
        await asyncio.to_thread(self.lock.release)

    async def _lead(self) -> None:
        """Start the engine on this instance (the lock is held) and serve it."""
        log.info("this instance holds the engine lock")
        settings = self.settings
        # Every event is noted, and on PostgreSQL reaches the standbys, from the first.
        sinks: list[Callable[[str], None]] = [self.delivered.note]
        publisher = EventPublisher(settings.database_url) if settings.is_postgres else None
        if publisher is not None:
            sinks.append(publisher)
        try:
            engine = await asyncio.to_thread(create_system, settings, hub=self.hub, lock=self.lock, sinks=sinks,
                                         tune_gc=True)
        except BaseException:
            if publisher is not None:
                publisher.close()
            raise
        self._publisher = publisher
        self._engine = engine
        self._serve(engine)
        self._relay = CommandRelay(settings, engine, connect(settings.database_url))
        self._relay.start()
        if self._start_round:
            self._start_round = False
            await asyncio.to_thread(_start_demo_round, engine)

    async def _follow(self, *, wait: bool) -> None:
        """Serve visitors from the database and follow the engine that runs elsewhere."""
        standby, follower, listener = await asyncio.to_thread(self._start_following, wait)
        self._standby, self._follower, self._listener = standby, follower, listener
        self._serve(standby)

    def _start_following(self, wait: bool) -> tuple[StandbySystem, Follower, EventListener | None]:
        """Worker thread: a standby view and its feed (LISTEN on PostgreSQL, polling on
        SQLite). With ``wait``, the first LISTEN is in place before this returns."""
        settings = self.settings
        db = connect(settings.database_url)
        standby = StandbySystem(settings, db, SystemClock(), self.delivered.upcoming)
        follower = Follower(standby, self.delivered, self.hub.deliver_threadsafe)
        listener = None
        if settings.is_postgres:
            listener = EventListener(settings.database_url, follower.on_event, standby.db,
                                     on_listening=follower.catch_up_quietly)
            listener.start()
            if wait:
                listener.wait_listening(5.0)  # a visitor's hello is then followed by every event
        else:
            follower.start_polling()
        return standby, follower, listener

    async def _stop_following(self, *, catch_up: bool = False) -> None:
        """Stop the feed; with ``catch_up``, send what the database has first (the engine
        about to start here resumes after it)."""
        follower, listener, standby = self._follower, self._listener, self._standby
        self._follower = self._listener = self._standby = None
        if listener is not None:
            await asyncio.to_thread(listener.stop)
        if follower is not None:
            await asyncio.to_thread(follower.stop)
            if catch_up:
                await asyncio.to_thread(follower.catch_up_quietly)
        if standby is not None:
            standby.close()

    async def _stop_engine(self, engine: RoundtableSystem) -> None:
        if self._relay is not None:
            await asyncio.to_thread(self._relay.stop)
            self._relay = None
        await asyncio.to_thread(engine.stop)
        if self._publisher is not None:
            self._publisher.close()
            self._publisher = None

    def _serve(self, system: Engine) -> None:
        """Serve ``system`` from now on (typed ``Engine``: mypy proves here that the engine
        and the standby view both implement the protocol)."""
        self.system.switch(system)

    async def _pause(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            pass


def _warm_up(settings: Settings) -> None:
    """A standby's daemon thread: import the provider SDKs now, so that the engine's first
    calls after a takeover find them loaded (the first import takes seconds)."""
    from actors.providers.lazy import load_sdks

    load_sdks(settings)


def _start_demo_round(system: RoundtableSystem) -> None:
    """``--demo``: force a round as soon as the engine runs (a new user sees one at once)."""
    try:
        system.command("force")
        log.info("demo: a round starts now; then one every %g s", system.settings.round_interval_seconds)
    except RoundtableError as exc:  # a round resumed from before, the engine is paused...
        log.info("demo: not starting a round (%s)", exc)
