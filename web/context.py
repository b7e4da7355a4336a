"""What every route needs: the running system, the settings, the hub, origin rules."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, ParamSpec, TypeVar
from urllib.parse import urlsplit

import pykka
from quart import current_app

from actors import wire
from actors.broadcaster import Hub
from actors.engine import Engine
from actors.errors import EngineStopped, EngineTimeout
from settings import VERSION, Settings, normalize_origin
from web.snapshot import (
    COUNTDOWN_MAX_AGE,
    STATUS_MAX_AGE,
    FinishedRounds,
    Listings,
    RenderedPages,
    StampedBody,
    ViewCache,
)

__all__ = ["ENGINE_TIMEOUT", "Context", "EngineTimeout"]

T = TypeVar("T")
P = ParamSpec("P")

#: Longest a request waits on the engine before answering 503.
ENGINE_TIMEOUT: Final = 10.0
BUSY: Final = "the engine is busy; try again"
STOPPED: Final = "the engine is stopping or changing instance; try again"


@dataclass
class Context:
    #: This instance's engine (in ``run.py``, ``actors.cluster``'s, which follows the role).
    system: Engine
    settings: Settings
    hub: Hub | None
    asset_version: str
    engine_timeout: float = ENGINE_TIMEOUT
    #: The read endpoints' bodies (``web.snapshot``), dropped after every event this
    #: server delivers and after every command.
    countdown_view: ViewCache[StampedBody] = field(init=False)
    status_view: ViewCache[StampedBody] = field(init=False)
    listings: Listings = field(default_factory=Listings)
    finished_rounds: FinishedRounds = field(default_factory=FinishedRounds)
    pages: RenderedPages = field(default_factory=RenderedPages)

    def __post_init__(self) -> None:
        self.countdown_view = ViewCache(lambda: self.call(_countdown, self.system), COUNTDOWN_MAX_AGE)
        self.status_view = ViewCache(lambda: self.call(_status, self.system), STATUS_MAX_AGE)
        if self.hub is not None:
            self.hub.listeners.append(self._event_delivered)

    def _event_delivered(self, data: str) -> None:
        """On the loop, for every event the Hub fans out: the views are stale."""
        self.views_changed()

    def views_changed(self) -> None:
        """On the loop: what the read endpoints serve may have changed (an event, a
        command); the next request for each fetches afresh."""
        self.countdown_view.invalidate()
        self.status_view.invalidate()
        self.listings.invalidate()

    @staticmethod
    def current() -> Context:
        context: Context = current_app.extensions["roundtable"]
        return context

    async def call(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a blocking call (an actor ask, a database read) off the event loop.

        Raises ``EngineTimeout`` when it takes longer than ``engine_timeout`` or the
        actor's own ask times out (``pykka.Timeout``), and ``EngineStopped`` when the
        actor stopped meanwhile (a lost engine lock: the standby view takes over).
        """
        try:
            return await asyncio.wait_for(asyncio.to_thread(function, *args, **kwargs), self.engine_timeout)
        except (TimeoutError, pykka.Timeout) as exc:  # asyncio.TimeoutError is TimeoutError
            raise EngineTimeout(BUSY) from exc
        except pykka.ActorDeadError as exc:
            raise EngineStopped(STOPPED) from exc

    def embedding_allowed(self, origin: str) -> bool:
        """Whether a page on ``origin`` may use the API and the WebSocket (compared in
        the normalized form: scheme and host in lower case, no default port)."""
        allowed = self.settings.allowed_origins
        return "*" in allowed or normalize_origin(origin) in allowed

    def origin_allowed(self, origin: str | None, host: str) -> bool:
        """Same-origin requests and ALLOWED_ORIGINS pass; clients without Origin do too.

        ``host`` is the site's host as the client asked for it: ``Host``, or a trusted
        proxy's ``X-Forwarded-Host`` (``web.edge`` has put it there).
        """
        if not origin:
            return True  # not a browser: browsers always send Origin on WebSockets
        parts = urlsplit(origin)
        origin_host = _without_default_port(parts.netloc, parts.scheme)
        return origin_host == _without_default_port(host, parts.scheme) or self.embedding_allowed(origin)

    def content_security_policy(self, host: str, scheme: str) -> str:
        """The CSP of a page served to ``scheme://host``: it may connect to itself (the
        WebSocket named explicitly, as some browsers do not count it as 'self') and to
        the allowed origins, nowhere else."""
        websocket = "wss" if scheme in ("https", "wss") else "ws"
        sources = ["'self'", f"{websocket}://{host}" if host else ""]
        sources += [o for o in self.settings.allowed_origins if o != "*"]
        return (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src {' '.join(s for s in sources if s)}; frame-ancestors 'self'; "
            "base-uri 'none'; form-action 'self'"
        )


def _countdown(system: Engine) -> StampedBody:
    """The countdown's body (a worker thread): stamped per answer as ``wire`` would."""
    return StampedBody(wire.countdown(system.view()), restamp=_restamp_countdown)


def _restamp_countdown(view: Mapping[str, Any], now_ms: int) -> Mapping[str, Any]:
    return wire.restamp_countdown(view, wire.seconds(now_ms))


def _status(system: Engine) -> StampedBody:
    return StampedBody(wire.status(system.status()), version=VERSION)


def _without_default_port(netloc: str, scheme: str) -> str:
    """``netloc`` in lower case, without the port that ``scheme`` implies."""
    netloc = netloc.lower()
    default = {"http": ":80", "ws": ":80", "https": ":443", "wss": ":443"}.get(scheme)
    if default and netloc.endswith(default):
        return netloc[: -len(default)]
    return netloc
