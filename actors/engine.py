"""The ``Engine`` protocol: what the web layer (and ``run.py``, through ``actors.cluster``)
may ask of this instance's system, whichever role it has.

Two classes implement it: ``actors.system.RoundtableSystem`` (the engine runs here: it
asks the actors) and ``actors.standby.StandbySystem`` (another instance runs it: it reads
the database and relays commands). mypy checks both against it where
``actors.cluster.Cluster`` serves either one as an ``Engine``. Every method
blocks the calling thread (an actor ask, a database read, a relayed command): the web
layer calls them on worker threads (``web.context.Context.call``), never on the loop.
"""

from __future__ import annotations

from typing import Any, Protocol

import peewee

from actors.clock import Clock
from actors.view import EngineView, StatusView
from settings import Settings

__all__ = ["Engine", "Switched"]


class Engine(Protocol):
    """This instance's view of the engine; any thread."""

    @property
    def settings(self) -> Settings: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def db(self) -> peewee.Database:
        """The database the web layer reads past rounds, the audit trail and errors from."""
        ...

    def view(self) -> EngineView:
        """State, next round, the current round and its messages, in seconds: ``hello``,
        ``/api/countdown`` and the ``state`` event are built from it (``actors.wire``)."""
        ...

    def status(self) -> StatusView:
        """The view, this instance's role and id, provider health and today's spend (for
        ``/api/status``, through ``actors.wire.status``); never a key."""
        ...

    def command(self, action: str, **arguments: object) -> dict[str, Any]:
        """Carry out an admin command (``actors.machine.Command``): the ``/control``
        answer (``actors.wire.snapshot``, a wire shape: a standby relays the engine's). Raises
        its refusal as an ``actors.errors.RoundtableError`` (on the calling thread)."""
        ...

    def providers_ready(self) -> bool:
        """Whether the configured providers' SDKs are loaded (``/readyz``); they load in
        the background after an engine starts. A standby has none to load."""
        ...


class Switched:
    """An ``Engine`` that forwards to whichever system serves this instance now.

    ``actors.cluster.Cluster`` switches it on every change of role (the standby view
    first, then the old engine is stopped), so the web layer holds one ``Engine`` for the
    life of the process and every request finds a live system. Switched on the loop;
    read from any thread (one attribute read: atomic).
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._current: Engine | None = None

    def switch(self, system: Engine) -> None:
        self._current = system

    @property
    def current(self) -> Engine:
        assert self._current is not None, "no system serves yet: Cluster.start() first"
        return self._current

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def clock(self) -> Clock:
        return self.current.clock

    @property
    def db(self) -> peewee.Database:
        return self.current.db

    def view(self) -> EngineView:
        return self.current.view()

    def status(self) -> StatusView:
        return self.current.status()

    def command(self, action: str, **arguments: object) -> dict[str, Any]:
        return self.current.command(action, **arguments)

    def providers_ready(self) -> bool:
        return self.current.providers_ready()
