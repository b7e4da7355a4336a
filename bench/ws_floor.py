"""Fan-out against the floor: one 16-message round to N WebSocket visitors, four servers,
the same client processes, one run.

The servers, one after the other on fresh ports (see bench/_ref_servers.py):

- ``floor``: ``websockets.broadcast()`` on a plain ``websockets`` server (deflate declined);
- ``quart``: a minimal Quart app on Hypercorn, one queue per connection, permessage-deflate
  negotiated as Hypercorn does by default (what a naive user gets); ``quart-nodeflate``: the
  same app with ``web.hypercorn_patches.set_websocket_compression(False)`` (Roundtable's stack
  without Roundtable);
- ``socketio``: a minimal Flask-SocketIO broadcaster (threading mode, simple-websocket);
- ``roundtable``: the real service (tests/service.py ``Service``), a forced round, gaps as
  the reference servers' (``WS_COMPRESSION`` left at its default).

``--clients N`` connections are spread over ``--procs`` client processes (websockets'
asyncio client, permessage-deflate offered as browsers do). Socket.IO clients speak the
minimal Engine.IO/Socket.IO v4 text protocol over the same raw WebSocket. Per server:

- CPU per delivered message: server utime+stime from the round's start until every client
  has its 16th message, divided by 16 x N (raw: Roundtable's includes its engine); and the
  client processes' CPU over the same time (they share the 2 cores with the server: when
  they are busy the whole round, the latencies measure them as much as the server);
- RSS per connection: (RSS with N idle clients - RSS before any) / N, and the same just
  after the round (a deflate socket's zlib buffers are allocated on its first send);
- event-to-last-visitor latency: for each message, the last client's receipt minus the
  event's time (reference servers stamp ``sent`` in the frame; Roundtable's ``revealed_at``),
  p50 / p99 over the 16 messages; plus p50 / p99 over every single delivery;
- whether every client got every message exactly once (seq 1..16, no duplicates);
- Roundtable's reveal lateness during the round: ``revealed_at - planned_at`` of the round's
  messages, read from its SQLite file.

Then a table with ratios against the floor. Everything started is stopped; every phase
has a timeout.

    .venv/bin/python bench/ws_floor.py [--clients 2000] [--procs 4] [--gap auto]
                                       [--servers floor,quart,quart-nodeflate,socketio,roundtable] [--idle 0]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import multiprocessing as mp
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from _common import (
    Service,
    cpu_seconds,
    free_port,
    machine_line,
    percentile,
    progress,
    rss_kib,
    table,
)

MESSAGES = 16
BENCH = Path(__file__).resolve().parent
ALL_SERVERS = ("floor", "quart", "quart-nodeflate", "socketio", "roundtable")


def raise_fd_limit() -> int:
    """Soft RLIMIT_NOFILE to the hard limit (children inherit it); returns it."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return int(hard)


# -- client processes ----------------------------------------------------------------------

@dataclass
class Visitor:
    ws: Any
    kind: str
    seqs: list[int]
    lat: list[tuple[int, float, float]]  # (seq, event time, receipt time)
    conversation: int | None = None


async def open_visitor(url: str, kind: str) -> Visitor:
    from websockets.asyncio.client import connect

    ws = await connect(url, compression="deflate", ping_interval=None, open_timeout=60,
                       close_timeout=2, max_queue=64, max_size=2**20)
    if kind == "socketio":
        opened = await ws.recv()
        assert str(opened).startswith("0{"), opened
        await ws.send("40")
    elif kind == "roundtable":
        hello = json.loads(await ws.recv())
        assert hello["type"] == "hello", hello
    return Visitor(ws, kind, [], [])


def decode(visitor: Visitor, raw: str | bytes) -> dict[str, Any] | None:
    """The message event in ``raw`` (None for any other frame); answers Engine.IO pings."""
    text = raw if isinstance(raw, str) else raw.decode()
    if visitor.kind == "socketio":
        if text == "2":
            asyncio.get_running_loop().create_task(visitor.ws.send("3"))
            return None
        if not text.startswith("42"):
            return None
        name, payload = json.loads(text[2:])
        return dict(payload) if name == "message" else None
    event = json.loads(text)
    if visitor.kind == "roundtable":
        if event.get("type") == "state" and event.get("state") == "complete":
            return {"done": True}
        if event.get("type") != "message":
            return None
        event["sent"] = event["revealed_at"] / 1000
    return dict(event)


async def read_round(visitor: Visitor) -> None:
    with contextlib.suppress(Exception):
        async for raw in visitor.ws:
            received = time.time()
            event = decode(visitor, raw)
            if event is None:
                continue
            if event.get("done"):
                return
            visitor.seqs.append(int(event["seq"]))
            visitor.lat.append((int(event["seq"]), float(event["sent"]), received))
            if visitor.kind != "roundtable" and len(visitor.seqs) >= MESSAGES:
                return


async def client_main(conn: Connection) -> None:
    loop = asyncio.get_running_loop()
    visitors: list[Visitor] = []
    readers: list[asyncio.Task[None]] = []
    while True:
        command, *args = await loop.run_in_executor(None, conn.recv)
        if command == "connect":
            url, kind, count, batch = args
            visitors, errors = [], 0
            while len(visitors) + errors < count:
                size = min(batch, count - len(visitors) - errors)
                results = await asyncio.gather(*(open_visitor(url, kind) for _ in range(size)),
                                               return_exceptions=True)
                visitors += [r for r in results if isinstance(r, Visitor)]
                errors += sum(1 for r in results if not isinstance(r, Visitor))
            extensions = {str(getattr(v.ws.protocol, "extensions", [])) for v in visitors[:5]}
            conn.send(("connected", len(visitors), errors, sorted(extensions)))
        elif command == "read":
            readers = [asyncio.create_task(read_round(v)) for v in visitors]
            conn.send(("reading",))
            timeout = args[0]
            _, pending = await asyncio.wait(readers, timeout=timeout) if readers else (set(), set())
            exact = sum(1 for v in visitors if sorted(v.seqs) == list(range(1, MESSAGES + 1))
                        and len(v.seqs) == MESSAGES)
            lat = [item for v in visitors for item in v.lat]
            conn.send(("done", exact, len(pending), lat))
        elif command == "close":
            for task in readers:
                task.cancel()
            await asyncio.gather(*(v.ws.close() for v in visitors), return_exceptions=True)
            visitors, readers = [], []
            conn.send(("closed",))
        elif command == "quit":
            return


def client_process(conn: Connection) -> None:
    raise_fd_limit()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us with "quit" or terminate()
    asyncio.run(client_main(conn))


class Clients:
    """The client processes, each holding its share of the N connections."""

    def __init__(self, procs: int) -> None:
        ctx = mp.get_context("spawn")
        self.pipes: list[Connection] = []
        self.procs: list[Any] = []
        for _ in range(procs):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=client_process, args=(child,), daemon=True)
            proc.start()
            self.pipes.append(parent)
            self.procs.append(proc)

    def ask(self, messages: list[tuple[Any, ...]], timeout: float) -> list[tuple[Any, ...]]:
        for pipe, message in zip(self.pipes, messages, strict=True):
            pipe.send(message)
        answers = []
        deadline = time.monotonic() + timeout
        for pipe in self.pipes:
            if not pipe.poll(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"client process did not answer {messages[0][0]!r} in {timeout:.0f} s")
            answers.append(pipe.recv())
        return answers

    def all(self, message: tuple[Any, ...], timeout: float) -> list[tuple[Any, ...]]:
        return self.ask([message] * len(self.pipes), timeout)

    def cpu(self) -> float:
        """CPU seconds the client processes have used so far."""
        return sum(cpu_seconds(proc.pid) for proc in self.procs)

    def stop(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.send(("quit",))
        for proc in self.procs:
            proc.join(5)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)


# -- servers -------------------------------------------------------------------------------

@dataclass
class Running:
    pid: int
    url: str
    trigger: Any  # () -> None: starts the round
    lateness: Any = None  # () -> [ms]: Roundtable's reveal lateness in the last round


@contextlib.contextmanager
def reference_server(kind: str, gap: float) -> Iterator[Running]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(BENCH / "_ref_servers.py"), kind, str(port), str(gap),
                             str(MESSAGES)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"{kind} server did not start (exit {proc.poll()})")
        wait_port(port)
        path = "/socket.io/?EIO=4&transport=websocket" if kind == "socketio" else "/ws"
        yield Running(proc.pid, f"ws://127.0.0.1:{port}{path}", lambda: os.kill(proc.pid, signal.SIGUSR1))
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_port(port: int, timeout: float = 20.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)  # polling a listening port, bounded by the timeout
    raise TimeoutError(f"nothing listens on {port}")


@contextlib.contextmanager
def roundtable_server(gap: float) -> Iterator[Running]:
    env = {"MESSAGE_GAP_MIN_SECONDS": str(gap * 0.9), "MESSAGE_GAP_MAX_SECONDS": str(gap * 1.1),
           "TYPING_LEAD_SECONDS": str(gap / 4), "TICK_SECONDS": "0.02"}
    with tempfile.TemporaryDirectory(prefix="roundtable-floor-") as tmp:
        service = Service(Path(tmp), env)
        service.start(60)
        assert service.process is not None
        try:
            yield Running(service.process.pid, service.ws_url, service.force,
                          lambda: reveal_lateness(service.database))
        finally:
            service.stop()


def reveal_lateness(database: Path) -> list[float]:
    """revealed_at - planned_at (ms) of the newest round's messages, read from the service's
    SQLite file (read-only: the engine keeps writing)."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        rows = db.execute("SELECT revealed_at - planned_at FROM messages WHERE conversation_id = "
                          "(SELECT MAX(conversation_id) FROM messages)").fetchall()
    return [float(r[0]) for r in rows]


# -- one measurement -------------------------------------------------------------------------

def measure(kind: str, clients: Clients, args: argparse.Namespace) -> dict[str, Any]:
    shares = [args.clients // args.procs + (1 if i < args.clients % args.procs else 0) for i in range(args.procs)]
    server = roundtable_server(args.gap) if kind == "roundtable" else reference_server(kind, args.gap)
    with server as running:
        time.sleep(1.0)
        rss_empty = rss_kib(running.pid)
        started = time.perf_counter()
        answers = clients.ask([("connect", running.url, kind, n, args.batch) for n in shares], args.timeout)
        connect_s = time.perf_counter() - started
        connected = sum(a[1] for a in answers)
        errors = sum(a[2] for a in answers)
        extensions = sorted({e for a in answers for e in a[3]})
        progress(f"{kind}: {connected}/{args.clients} connected in {connect_s:.1f} s ({errors} failed), "
                 f"extensions {extensions}")
        time.sleep(2.0)
        rss_idle = rss_kib(running.pid)
        idle_cpu_pct = None
        if args.idle:  # the visitors sit there, as between rounds: what keeping them costs
            idle0 = cpu_seconds(running.pid)
            time.sleep(args.idle)
            idle_cpu_pct = (cpu_seconds(running.pid) - idle0) / args.idle * 100
        clients.all(("read", args.gap * MESSAGES + args.timeout), 30)
        cpu0, wall0 = cpu_seconds(running.pid), time.perf_counter()
        clients_cpu0 = clients.cpu()
        running.trigger()
        done = []
        deadline = time.monotonic() + args.gap * MESSAGES * 1.5 + args.timeout + 10
        for pipe in clients.pipes:
            if not pipe.poll(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"{kind}: the round did not end in time")
            done.append(pipe.recv())
        cpu, wall = cpu_seconds(running.pid) - cpu0, time.perf_counter() - wall0
        clients_cpu = clients.cpu() - clients_cpu0
        rss_round = rss_kib(running.pid)
        lateness = running.lateness() if running.lateness else []  # zlib's buffers are touched on a deflate socket's first send
        clients.all(("close",), 60)
    lat = [item for d in done for item in d[3]]
    last: dict[int, float] = {}
    for seq, sent, received in lat:
        last[seq] = max(last.get(seq, 0.0), received - sent)
    deliveries = [received - sent for _, sent, received in lat]
    return {
        "connected": connected, "errors": errors, "connect_s": connect_s, "extensions": extensions,
        "exact": sum(d[1] for d in done), "unfinished": sum(d[2] for d in done),
        "cpu": cpu, "wall": wall, "delivered": len(lat), "clients_cpu": clients_cpu,
        "cpu_per_msg_us": cpu / max(1, MESSAGES * connected) * 1e6,
        "lateness": lateness, "idle_cpu_pct": idle_cpu_pct,
        "rss_empty": rss_empty, "rss_idle": rss_idle, "rss_round": rss_round,
        "rss_round_per_conn_kib": (rss_round - rss_empty) / max(1, connected),
        "rss_per_conn_kib": (rss_idle - rss_empty) / max(1, connected),
        "last_by_seq_ms": {seq: round(last[seq] * 1000) for seq in sorted(last)},
        "last_p50_ms": percentile(list(last.values()), 50) * 1000,
        "last_p99_ms": percentile(list(last.values()), 99) * 1000,
        "del_p50_ms": percentile(deliveries, 50) * 1000, "del_p99_ms": percentile(deliveries, 99) * 1000,
    }


def versions() -> str:
    names = ("websockets", "hypercorn", "quart", "wsproto", "flask-socketio", "python-socketio",
             "python-engineio", "simple-websocket", "werkzeug")
    out = []
    for name in names:
        try:
            out.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            out.append(f"{name} missing")
    return ", ".join(out)


def report(args: argparse.Namespace, results: dict[str, dict[str, Any]]) -> None:
    floor = results.get("floor")
    print(f"\nws_floor: {args.clients} visitors over {args.procs} client processes, 16 messages "
          f"~400 B, gap {args.gap:.2f} s, clients offer permessage-deflate; {machine_line()}")
    print(versions())
    rows = []
    for kind, r in results.items():
        if "error" in r:
            rows.append((kind, r["error"][:60], "", "", "", "", "", "", ""))
            continue

        def ratio(key: str, r: dict[str, Any] = r) -> str:
            return f"{r[key] / floor[key]:.1f}x" if floor and "error" not in floor and floor[key] else "-"

        rows.append((
            kind, "deflate" if any("Deflate" in e for e in r["extensions"]) else "none",
            f"{r['exact']}/{args.clients}",
            f"{r['cpu_per_msg_us']:.1f} us", ratio("cpu_per_msg_us"),
            f"{r['rss_per_conn_kib']:.1f} KiB", ratio("rss_per_conn_kib"),
            f"{r['last_p50_ms']:.0f} / {r['last_p99_ms']:.0f} ms", ratio("last_p99_ms"),
        ))
    print(table(("server", "compression", "got 16 exactly once", "CPU/delivered msg", "vs floor",
                 "RSS/conn", "vs floor", "event->last visitor p50/p99", "p99 vs floor"), rows))
    detail = []
    for kind, r in results.items():
        if "error" in r:
            continue
        detail.append((kind, f"{r['connected']} ({r['errors']} failed) in {r['connect_s']:.1f} s",
                       f"{r['cpu']:.2f} s / {r['wall']:.1f} s", f"{r['clients_cpu']:.1f} s",
                       f"{r['rss_empty'] / 1024:.0f} -> {r['rss_idle'] / 1024:.0f} MiB",
                       f"{r['rss_round_per_conn_kib']:.1f} KiB",
                       f"{r['del_p50_ms']:.0f} / {r['del_p99_ms']:.0f} ms", str(r["unfinished"])))
    for kind, r in results.items():
        if r.get("lateness"):
            print(f"{kind} reveal lateness (revealed_at - planned_at, its database, {len(r['lateness'])} messages): "
                  f"p50 {percentile(r['lateness'], 50):.0f} ms, p99 {percentile(r['lateness'], 99):.0f} ms "
                  f"(target: p99 under 50 ms)")
    print(table(("server", "connected", "round CPU / wall", "clients' CPU", "RSS empty -> N idle",
                 "RSS/conn after the round", "every delivery p50/p99",
                 "clients unfinished"), detail))
    for kind, r in results.items():
        if r.get("idle_cpu_pct") is not None:
            print(f"{kind}: {r['idle_cpu_pct']:.1f}% of a core while the {r['connected']} visitors sat idle "
                  f"for {args.idle:g} s before the round")
    for kind, r in results.items():
        if "last_by_seq_ms" in r:  # the p99 of 16 is their worst: which message it was
            print(f"{kind} event->last visitor by seq (ms): "
                  + " ".join(str(ms) for ms in r["last_by_seq_ms"].values()))


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--procs", type=int, default=4, help="client processes")
    parser.add_argument("--gap", type=float, default=0.0,
                        help="seconds between messages (default: 0.3 s, or 0.2 ms a visitor if more)")
    parser.add_argument("--batch", type=int, default=50, help="connections each client process opens at once")
    parser.add_argument("--timeout", type=float, default=120.0, help="bound on connecting and on the round")
    parser.add_argument("--servers", default=",".join(ALL_SERVERS), help=f"any of {','.join(ALL_SERVERS)}")
    parser.add_argument("--idle", type=float, default=0.0,
                        help="seconds to measure the server's CPU with every visitor connected and idle "
                             "(Roundtable pings each every 20 s; the references ping nobody)")
    args = parser.parse_args(argv)
    args.gap = args.gap or max(0.3, args.clients * 0.0002)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    hard = raise_fd_limit()
    if hard < args.clients + 512:
        sys.exit(f"--clients {args.clients} needs {args.clients + 512} file descriptors; the hard limit is {hard}")
    clients = Clients(args.procs)
    results: dict[str, dict[str, Any]] = {}
    try:
        for kind in args.servers.split(","):
            if kind == "socketio" and importlib.util.find_spec("flask_socketio") is None:
                results[kind] = {"error": "skipped: flask-socketio not installed (pip install -e '.[bench]')"}
                continue
            progress(f"measuring {kind}")
            try:
                results[kind] = measure(kind, clients, args)
            except (TimeoutError, RuntimeError, AssertionError) as exc:
                results[kind] = {"error": f"{type(exc).__name__}: {exc}"}
                progress(f"{kind} failed: {exc}")
                clients.stop()  # a stuck client process: start afresh for the next server
                clients = Clients(args.procs)
    finally:
        clients.stop()
    report(args, results)
    return 0 if all(r.get("error", "skipped").startswith("skipped") for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
