"""Roundtable's entry point: ``python run.py [--demo]``, ``python run.py check-keys``
(``roundtable ...`` once installed: the same commands).

The only module that reads the environment (and an optional ``.env``): it validates the
settings once, starts the engine, serves the app with Hypercorn on HOST:PORT, and on
SIGINT/SIGTERM stops the server, then the actors in order, then closes the database.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from settings import VERSION, Settings, SettingsError, demo, env_example
from storage.errors import StorageError
from web.tls import apply_tls, check_tls

log = logging.getLogger("roundtable")

#: Hypercorn limits that its defaults leave loose (see docs/architecture.md).
WEBSOCKET_PING_INTERVAL = 20.0
WEBSOCKET_MAX_MESSAGE_BYTES = 64 * 1024
GRACEFUL_TIMEOUT = 3.0


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=_program(), description="Run the Roundtable service.")
    parser.add_argument("command", nargs="?", default="serve",
                        choices=("serve", "check-keys", "setup-db", "export", "import", "prune",
                                 "env-example"),
                        help="serve (default), check-keys (one tiny request per configured "
                             "provider), setup-db (create or upgrade the schema and exit), "
                             "export --out FILE, import FILE, prune --older-than DURATION, "
                             "env-example (print every setting with its default and meaning)")
    parser.add_argument("--version", action="version", version=f"roundtable {VERSION}")
    add_data_arguments(parser)
    parser.add_argument("--demo", action="store_true",
                        help="fast timings: a round every 2 minutes, gaps of a few seconds")
    parser.add_argument("--env-file", default=".env", help="read settings from this file if it exists")
    return parser.parse_args(argv)


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of the data commands (export, import, prune)."""
    parser.add_argument("file", nargs="?", help="import: the JSON Lines file to read")
    parser.add_argument("--out", help="export: the JSON Lines file to write ('-': stdout)")
    parser.add_argument("--older-than", dest="older_than",
                        help="prune: remove rows older than this (90d, 12h, 30m, 1s)")


def _program() -> str:
    """``run.py`` or ``roundtable`` (the console script), as the user typed it."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return "roundtable" if name == "roundtable" else "run.py"


def load_settings(args: argparse.Namespace) -> Settings:
    from dotenv import load_dotenv

    if os.path.isfile(args.env_file):
        load_dotenv(args.env_file, override=False)
    settings = Settings.from_env(os.environ)
    check_data_files(settings)
    check_tls(settings)
    return demo(settings) if args.demo else settings


def check_data_files(settings: Settings) -> None:
    """Read TOPICS_FILE and PRICES_FILE once, so a bad one stops start-up with one line."""
    from actors.providers.pricing import PriceFileError, PriceTable
    from actors.topics import load_topics

    if settings.topics_file is not None:
        try:
            load_topics(settings.topics_file)
        except ValueError as exc:
            raise SettingsError("TOPICS_FILE", str(exc)) from None
    if settings.prices_file is not None:
        try:
            PriceTable.load(settings.prices_file)
        except PriceFileError as exc:
            raise SettingsError("PRICES_FILE", str(exc)) from None


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
        stream=sys.stderr,
    )
    for noisy in ("httpx", "httpx2", "httpcore", "openai", "anthropic", "google_genai", "hypercorn.access",
                  "transitions"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _quiet_cancellation(loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
    """Loop exception handler: a connection task cancelled at shutdown is not an error.

    Hypercorn's WebSocket ping loop keeps a closed connection's task asleep until its next
    ping; at shutdown that task is cancelled and asyncio would log the cancellation as an
    unhandled traceback. Everything else goes to the default handler.
    """
    if isinstance(context.get("exception"), asyncio.CancelledError):
        log.debug("connection task cancelled at shutdown")
        return
    loop.default_exception_handler(context)


async def serve(settings: Settings, *, start_round: bool = False) -> int:
    """Run the web server, and the engine when this instance leads, until SIGINT or
    SIGTERM; the exit code.

    On SQLite the engine always runs here. On PostgreSQL the engine runs only while this
    instance holds the engine lock: an instance that finds it taken serves visitors at once
    as a standby (``StandbySystem``, live events by LISTEN) and takes over the engine when
    the lock comes free; one that loses the lock stops (exit 1) so that it can never run a
    second engine. The leader NOTIFYs every event for the standbys. ``start_round`` forces
    a round as soon as the engine runs (``--demo``: a new user sees one at once).
    """
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config

    from actors.broadcaster import Hub
    from actors.system import stop_system
    from storage.leader import EngineLock
    from web.app import create_app
    from web.context import Context
    from web.hypercorn_patches import apply_stream_fixes, set_websocket_compression

    loop = asyncio.get_running_loop()
    loop.set_exception_handler(_quiet_cancellation)  # type: ignore[arg-type]
    stop = asyncio.Event()
    stopping = threading.Event()  # the same request, for threads
    lost = threading.Event()

    hub = Hub(loop)

    def request_stop() -> None:  # on the loop: from a signal, on_lost or a failed takeover
        hub.close_all()  # every visitor gets 1001 "server shutting down"
        stop.set()
        stopping.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, request_stop)
    leader = _Leadership(settings, hub, loop, request_stop, lost, start_round)
    lock: EngineLock | None = None
    standby: Any = None
    listener: Any = None
    takeover: asyncio.Task[None] | None = None
    try:
        if settings.is_postgres:
            lock = EngineLock(settings.database_url)
            if await asyncio.to_thread(lock.try_acquire):  # StorageError when unreachable
                system = await leader.lead(lock)
            else:
                standby, listener = await asyncio.to_thread(_start_standby, settings, hub)
                system = standby
                log.info("another instance runs the engine on this database; serving visitors "
                         "as a standby, waiting to take over")
        else:
            system = await leader.lead(None)
        app = create_app(system, settings, hub)
        context: Context = app.extensions["roundtable"]
        if standby is not None:
            assert lock is not None
            takeover = asyncio.create_task(leader.take_over(lock, stopping, context, standby, listener))
        config = Config()
        config.bind = [f"{settings.host}:{settings.port}"]
        set_websocket_compression(settings.ws_compression)
        apply_stream_fixes()
        config.websocket_ping_interval = WEBSOCKET_PING_INTERVAL
        config.websocket_max_message_size = WEBSOCKET_MAX_MESSAGE_BYTES
        config.graceful_timeout = GRACEFUL_TIMEOUT
        config.accesslog = None
        config.errorlog = logging.getLogger("hypercorn.error")  # our format, printed once
        scheme = apply_tls(config, settings)
        log.info("Roundtable %s is live at %s://%s:%d (admin page: /control)", VERSION, scheme,
                 settings.host, settings.port)
        await hypercorn_serve(app, config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]
    finally:
        stopping.set()
        if takeover is not None:  # it ends within one lock poll once ``stopping`` is set
            await asyncio.gather(takeover, return_exceptions=True)
        if listener is not None:
            await asyncio.to_thread(listener.stop)
        if standby is not None:
            standby.close()
        if leader.system is not None:
            log.info("shutting down")
            await asyncio.to_thread(stop_system)
        leader.close()
        if lock is not None:
            lock.release()
    return 1 if lost.is_set() or leader.failed else 0


def _start_standby(settings: Settings, hub: Any) -> tuple[Any, Any]:
    """A ``StandbySystem`` and a started ``EventListener`` feeding ``hub`` (worker thread)."""
    from actors.clock import SystemClock
    from actors.standby import StandbySystem
    from storage.db import connect
    from storage.notify import EventListener

    standby = StandbySystem(settings, connect(settings.database_url), SystemClock())
    listener = EventListener(settings.database_url, hub.deliver_threadsafe, standby.db)
    listener.start()
    listener.wait_listening(5.0)  # a visitor's hello is then followed by every event
    return standby, listener


class _Leadership:
    """Runs the engine when this instance leads: starts it with an ``EventPublisher`` sink
    on PostgreSQL and a ``LeadershipWatch``. Methods run on the event loop."""

    def __init__(
        self, settings: Settings, hub: Any, loop: asyncio.AbstractEventLoop, request_stop: Any,
        lost: threading.Event, start_round: bool,
    ) -> None:
        self.settings = settings
        self.hub = hub
        self.loop = loop
        self.request_stop = request_stop
        self.lost = lost
        self.start_round = start_round
        self.system: Any = None
        self.publisher: Any = None
        self.watch: Any = None
        self.failed = False

    async def lead(self, lock: Any) -> Any:
        """Start the engine (and, with ``lock``, publishing and the watch); the system."""
        from actors.system import start_system
        from actors.ticker import Ticker
        from storage.leader import LeadershipWatch
        from storage.notify import EventPublisher

        if lock is not None:
            log.info("this instance holds the engine lock")
        system = await asyncio.to_thread(start_system, self.settings, hub=self.hub, start_ticker=False)
        self.system = system
        if lock is not None:
            # Before the first tick, so that standbys see every event of this engine.
            self.publisher = EventPublisher(self.settings.database_url)
            await asyncio.to_thread(system.broadcaster.add_sink(self.publisher).get, timeout=10.0)

            def on_lost() -> None:  # on the watch thread
                self.lost.set()
                system.halt_engine()
                self.loop.call_soon_threadsafe(self.request_stop)

            self.watch = LeadershipWatch(lock, on_lost)
            self.watch.start()
        system.ticker = Ticker(system.supervisor, self.settings.tick_seconds)
        system.ticker.start()
        if self.start_round:
            await asyncio.to_thread(_start_demo_round, system)
        return system

    async def take_over(self, lock: Any, stopping: threading.Event, context: Any, standby: Any,
                        listener: Any) -> None:
        """Wait for the engine lock, then swap the engine in for the standby view."""
        try:
            if not await asyncio.to_thread(lock.wait, stopping):
                return
            await asyncio.to_thread(listener.stop)  # from now on events come from this engine
            context.system = await self.lead(lock)
            log.info("took over the engine; visitors stay connected")
        except Exception:
            log.exception("could not take over the engine; stopping this instance")
            self.failed = True
            self.request_stop()

    def close(self) -> None:
        """After the engine has stopped: the watch and the publisher's connection."""
        if self.watch is not None:
            self.watch.stop()
        if self.publisher is not None:
            self.publisher.close()


def _start_demo_round(system: Any) -> None:
    from actors.machine import CommandRejected

    try:
        system.command("force")
        log.info("demo: a round starts now; then one every %g s", system.settings.round_interval_seconds)
    except CommandRejected as exc:  # a round resumed from before, or the engine is paused
        log.info("demo: not starting a round (%s)", exc)


def setup_db(settings: Settings) -> int:
    """``run.py setup-db``: create or upgrade the schema, say which version it is at."""
    from actors.system import setup_database

    done = setup_database(settings.database_url)
    print(f"database ready (schema version {done.after})")
    return 0


def data_command(args: argparse.Namespace, settings: Settings) -> int:
    """``export``, ``import`` or ``prune``; a bad argument or file is one line (exit 2/1)."""
    from storage.archive import ArchiveError
    from storage.commands import CommandError, export_command, import_command, prune_command

    needed = {"export": ("--out FILE", args.out), "import": ("FILE", args.file),
              "prune": ("--older-than DURATION", args.older_than)}[args.command]
    if not needed[1]:
        print(f"roundtable: {args.command} needs {needed[0]}", file=sys.stderr)
        return 2
    if args.command == "prune":
        from storage.retention import parse_duration

        try:
            older_than = parse_duration(args.older_than)
        except ValueError as exc:
            print(f"roundtable: --older-than: {exc}", file=sys.stderr)
            return 2
    try:
        if args.command == "export":
            return export_command(settings.database_url, args.out)
        if args.command == "import":
            return import_command(settings.database_url, args.file)
        return prune_command(settings.database_url, older_than)
    except (ArchiveError, CommandError) as exc:
        print(f"roundtable: {exc}", file=sys.stderr)
        return 1


def database_failure(settings: Settings, exc: StorageError) -> int:
    """One line naming the setting, the database (file or server) and the cause; exit 1."""
    from storage.db import describe

    print(f"roundtable: cannot use DATABASE_URL ({describe(settings.database_url)}): {exc}",
          file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "env-example":  # needs no valid settings: it documents them
        sys.stdout.write(env_example())
        return 0
    try:
        settings = load_settings(args)
    except SettingsError as exc:
        print(f"roundtable: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    if args.command == "check-keys":
        from actors.providers.check import check_keys

        return check_keys(settings)
    try:
        if args.command == "setup-db":
            return setup_db(settings)
        if args.command in ("export", "import", "prune"):
            return data_command(args, settings)
        return asyncio.run(serve(settings, start_round=args.demo))
    except StorageError as exc:
        return database_failure(settings, exc)
    except OSError as exc:
        log.error("could not serve on %s:%d: %s", settings.host, settings.port, exc.strerror or exc)
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
