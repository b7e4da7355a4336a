"""A Quart app of your own that runs Roundtable in the same process and event loop.

Run it from a Roundtable checkout (or with Roundtable installed)::

    PORT=8000 python docs/examples/quart_host.py

The host keeps its own routes (here ``/`` and ``/shop``); Roundtable's paths (its
WebSocket, API, static files, round pages and admin page) go to Roundtable's app, so
the live widget can sit in the host's own page. One engine per process, and one
process per database: never run this under several workers (see the README).
"""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart

from actors.broadcaster import Hub
from actors.system import configured_settings, start_system, stop_system
from web.app import create_app

#: Roundtable's pages use absolute paths, so it is mounted on these, not under a prefix.
ROUNDTABLE_PATHS = ("/ws", "/api/", "/static/", "/c/", "/history", "/control", "/metrics",
                    "/healthz", "/readyz")

host = Quart(__name__)
roundtable: dict[str, Any] = {}


@host.route("/")
async def home() -> str:
    return ('<!doctype html><title>My site</title><h1>My site</h1>'
            '<div data-roundtable></div>'
            '<script src="/static/js/realtime_ui_components.js" defer></script>')


@host.route("/shop")
async def shop() -> dict[str, str]:
    return {"page": "the host's own"}


@host.before_serving
async def start_roundtable() -> None:
    settings = configured_settings()  # .env, then the environment, like run.py
    hub = Hub(asyncio.get_running_loop())
    system = await asyncio.to_thread(start_system, settings, hub=hub)  # never block the loop
    app = create_app(system, settings, hub)
    hub.start_keepalive(settings.ws_ping_seconds)  # pings quiet WebSockets, so proxies keep them
    await app.startup()
    roundtable.update(app=app, hub=hub)


@host.after_serving
async def stop_roundtable() -> None:
    roundtable["hub"].close_all()  # visitors' sockets get 1001 "going away"
    await roundtable["app"].shutdown()
    await asyncio.to_thread(stop_system)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The ASGI app to serve: Roundtable's paths to Roundtable, the rest to the host."""
    path = scope.get("path", "")
    if scope["type"] != "lifespan" and "app" in roundtable and path.startswith(ROUNDTABLE_PATHS):
        await roundtable["app"](scope, receive, send)
    else:
        await host(scope, receive, send)


async def main() -> None:
    config = Config()
    config.bind = [f"127.0.0.1:{os.environ.get('PORT', '8000')}"]
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await serve(app, config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]


if __name__ == "__main__":
    asyncio.run(main())
