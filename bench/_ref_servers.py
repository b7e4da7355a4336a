"""The reference broadcasters ws_floor.py measures Roundtable against, one per process.

    python bench/_ref_servers.py {floor|quart|quart-nodeflate|quart-sdks|socketio} PORT GAP MESSAGES

Each serves WebSockets on 127.0.0.1:PORT, holds every connection, and on SIGUSR1 plays one
"round": MESSAGES frames of about 400 bytes, GAP seconds apart, each serialized once and
stamped with its send time (``sent``, time.time()) so the clients can measure event to
receipt. The frame is ``{"type": "message", "seq": i, "sent": t, "text": ...}``.

- ``floor``: a plain ``websockets`` server, ``websockets.broadcast()``, compression off
  (the fastest fan-out Python offers; permessage-deflate declined).
- ``quart``: a minimal Quart app on Hypercorn with one asyncio.Queue per connection, as the
  Quart docs show it; Hypercorn negotiates permessage-deflate when the client offers it
  (what a naive user gets). ``quart-nodeflate``: the same with
  ``web.hypercorn_patches.set_websocket_compression(False)`` (what Roundtable does).
  ``quart-sdks``: ``quart-nodeflate`` that has also imported the three provider SDKs
  (openai, anthropic, google-genai) and httpx2 first: the memory floor of any service on
  this stack that calls the four providers (bench/memory.py).
- ``socketio``: a minimal Flask-SocketIO app (threading mode: Werkzeug, simple-websocket,
  one thread per connection), ``socketio.emit("message", ...)`` to everyone.

A server stops on SIGTERM/SIGINT. Nothing is logged per connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEXT = ("The round table keeps talking while the page is open; " * 8)[:400]


def raise_fd_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def frame(seq: int) -> dict[str, object]:
    return {"type": "message", "seq": seq, "sent": time.time(), "text": TEXT}


async def play(send_all: Callable[[str], None], gap: float, messages: int) -> None:
    """One round: serialize each message once, hand it to ``send_all``, wait ``gap``."""
    for seq in range(1, messages + 1):
        send_all(json.dumps(frame(seq)))
        await asyncio.sleep(gap)


def run_floor(port: int, gap: float, messages: int) -> None:
    from websockets.asyncio.server import ServerConnection, broadcast, serve

    connections: set[ServerConnection] = set()

    async def handler(ws: ServerConnection) -> None:
        connections.add(ws)
        try:
            await ws.wait_closed()
        finally:
            connections.discard(ws)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = loop.create_future()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set_result, None)
        loop.add_signal_handler(signal.SIGUSR1, lambda: loop.create_task(
            play(lambda data: broadcast(connections, data), gap, messages)))
        async with serve(handler, "127.0.0.1", port, compression=None, ping_interval=None,
                         max_queue=16, backlog=4096):
            print("ready", flush=True)
            await stop

    asyncio.run(main())


def run_quart(port: int, gap: float, messages: int, deflate: bool) -> None:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config
    from quart import Quart, websocket

    if not deflate:
        sys.path.insert(0, str(ROOT))
        from web.hypercorn_patches import set_websocket_compression

        set_websocket_compression(False)
    app = Quart(__name__)
    queues: set[asyncio.Queue[str]] = set()

    def send_all(data: str) -> None:
        for queue in queues:
            queue.put_nowait(data)

    @app.before_serving
    async def install() -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGUSR1, lambda: loop.create_task(play(send_all, gap, messages)))
        print("ready", flush=True)

    @app.websocket("/ws")
    async def ws() -> None:
        queue: asyncio.Queue[str] = asyncio.Queue()
        await websocket.accept()  # Quart completes the handshake on the first send otherwise
        queues.add(queue)
        try:
            while True:
                await websocket.send(await queue.get())
        finally:
            queues.discard(queue)

    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.backlog = 4096
    config.accesslog = None
    config.errorlog = None
    asyncio.run(serve(app, config))  # type: ignore[arg-type]


def run_socketio(port: int, gap: float, messages: int) -> None:
    from flask import Flask
    from flask_socketio import SocketIO

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app = Flask(__name__)
    socketio = SocketIO(app, async_mode="threading", logger=False, engineio_logger=False)

    def play_round() -> None:
        for seq in range(1, messages + 1):
            socketio.emit("message", frame(seq))
            time.sleep(gap)

    signal.signal(signal.SIGUSR1, lambda *_: threading.Thread(target=play_round, daemon=True).start())
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("ready", flush=True)
    socketio.run(app, host="127.0.0.1", port=port, log_output=False, allow_unsafe_werkzeug=True)


def main() -> None:
    kind, port, gap, messages = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    raise_fd_limit()
    if kind == "floor":
        run_floor(port, gap, messages)
    elif kind in ("quart", "quart-nodeflate"):
        run_quart(port, gap, messages, deflate=kind == "quart")
    elif kind == "quart-sdks":
        import anthropic  # noqa: F401  - imported for their memory: the floor with the SDKs
        import google.genai  # noqa: F401
        import httpx2  # noqa: F401
        import openai  # noqa: F401

        run_quart(port, gap, messages, deflate=False)
    elif kind == "socketio":
        run_socketio(port, gap, messages)
    else:
        sys.exit(f"unknown server kind {kind!r}")


if __name__ == "__main__":
    main()
