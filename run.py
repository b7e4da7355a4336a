"""Roundtable's entry point: ``python run.py [--demo]``, ``python run.py check-keys``
(``roundtable ...`` once installed: the same commands).

The only module that reads the environment (and an optional ``.env``): it validates the
settings once, starts this instance's part (``actors.cluster``: the engine or a standby),
serves the app with Hypercorn on HOST:PORT, and on SIGINT/SIGTERM stops the server, then
the engine's actors in order, then closes the database.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from settings import VERSION, Settings, SettingsError, demo, env_example
from web.tls import apply_tls, check_tls

if TYPE_CHECKING:
    from storage.errors import StorageError

log = logging.getLogger("roundtable")


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


def configure_logging(settings: Settings) -> None:
    """LOG_LEVEL, LOG_FORMAT (text or json) and the redaction of every secret in settings."""
    from actors.observe import logs

    logs.configure(settings)


async def serve(settings: Settings, *, start_round: bool = False) -> int:
    """Run the web server until SIGINT or SIGTERM; the exit code.

    ``actors.cluster.Cluster`` decides, for the life of the process, whether this instance
    runs the engine (it holds the database's engine lock) or serves visitors as a standby
    and takes over when it can. ``start_round`` forces a round as soon as the engine runs
    (``--demo``: a new user sees one at once).
    """
    from hypercorn.asyncio import serve as hypercorn_serve

    from actors.broadcaster import Hub
    from actors.cluster import Cluster
    from web.app import create_app
    from web.hypercorn_patches import (
        apply_connection_fixes,
        apply_stream_fixes,
        set_websocket_compression,
    )
    from web.serving import fit_to_open_file_limit, hypercorn_config, loop_exception_handler

    loop = asyncio.get_running_loop()
    loop.set_exception_handler(loop_exception_handler)  # type: ignore[arg-type]
    stop = asyncio.Event()
    hub = Hub(loop)

    def request_stop() -> None:  # on the loop, from a signal
        hub.close_all()  # every visitor gets 1001 "server shutting down"
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, request_stop)
    cluster = Cluster(settings, hub, start_round=start_round)
    try:
        system = await cluster.start()  # StorageError when the database is unreachable
        app = create_app(system, fit_to_open_file_limit(settings), hub)
        config = hypercorn_config(settings)
        set_websocket_compression(settings.ws_compression)
        apply_stream_fixes()
        hub.start_keepalive(settings.ws_ping_seconds)  # Hypercorn no longer pings over HTTP/1.1
        apply_connection_fixes()
        scheme = apply_tls(config, settings)
        log.info("Roundtable %s is live at %s://%s:%d (admin page: /control)", VERSION, scheme,
                 settings.host, settings.port)
        await hypercorn_serve(app, config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]
    finally:
        await cluster.stop()
    return 0


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


def serve_with_alerts(settings: Settings, *, start_round: bool) -> int:
    """``serve`` with the alert sender running (ALERT_WEBHOOK_URL) until it returns."""
    from actors.observe import alerts

    alerts.configure(settings.alert_webhook_url)
    try:
        return asyncio.run(serve(settings, start_round=start_round))
    finally:
        alerts.shutdown()


def keep_postgres_driver_out() -> None:
    """Make ``import psycopg2`` fail in this process unless it is loaded already. For the
    service on SQLite, before anything imports peewee: peewee imports the driver whenever
    it is installed, and psycopg2-binary brings its own libpq, libssl, libcrypto and
    Kerberos (about 6 MiB of RSS) to a process that never talks to PostgreSQL. Our own
    PostgreSQL code imports it on first use (``storage.pg``)."""
    sys.modules.setdefault("psycopg2", None)  # type: ignore[arg-type]  # import then raises


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
    configure_logging(settings)
    if args.command == "check-keys":
        from actors.providers.check import check_keys

        return check_keys(settings)
    if args.command == "serve" and not settings.is_postgres:
        keep_postgres_driver_out()
    from storage.errors import StorageError

    try:
        if args.command == "setup-db":
            return setup_db(settings)
        if args.command in ("export", "import", "prune"):
            return data_command(args, settings)
        return serve_with_alerts(settings, start_round=args.demo)
    except StorageError as exc:
        return database_failure(settings, exc)
    except OSError as exc:
        log.error("could not serve on %s:%d: %s", settings.host, settings.port, exc.strerror or exc)
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
