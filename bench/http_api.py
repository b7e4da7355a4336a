"""HTTP throughput: requests per second and latency for the page and the JSON API.

Starts the real service (one Hypercorn worker, engine in countdown) and, for each path in
turn, runs C concurrent keep-alive HTTP/1.1 clients for D seconds: plain asyncio streams
in one process, one request in flight per connection, a response read in full (by
Content-Length, or chunked) before the next request. Prints requests/s, p50/p95/max
latency, the server's CPU per request, and every error: a non-2xx status, a broken or
closed connection, a response slower than the timeout.

``/healthz`` (no engine call) is measured too, as this app's floor. With --plain, the same
load also runs against a minimal Quart app under Hypercorn (one JSON and one HTML route,
no engine, no middleware), to calibrate this machine against the figures in the field notes.
The client shares the machine's 2 cores with the server; its own CPU is printed too.

    .venv/bin/python bench/http_api.py [--concurrency 16] [--seconds 5] [--plain]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

from _common import (
    ROOT,
    cpu_seconds,
    free_port,
    machine_line,
    percentile,
    progress,
    running_service,
    table,
)

PATHS = ("/api/countdown", "/api/status", "/", "/healthz")
#: A minimal Quart app served by Hypercorn on the port in argv[1]: the calibration point.
PLAIN_APP = """
import asyncio, sys
from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart, jsonify
app = Quart("plain")
@app.get("/json")
async def json_route():
    return jsonify({"state": "countdown", "server_time": 0, "next_round_at": 0, "seconds_remaining": 0})
@app.get("/html")
async def html_route():
    return "<!doctype html><title>plain</title>" + "<p>a line of text</p>" * 70
config = Config()
config.bind = [f"127.0.0.1:{sys.argv[1]}"]
config.accesslog = None
asyncio.run(serve(app, config))
"""
#: A response slower than this counts as an error (and the connection is reopened).
REQUEST_TIMEOUT = 10.0


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    body_bytes: int = 0
    connections: int = 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", "-c", type=int, default=16)
    parser.add_argument("--seconds", "-d", type=float, default=5.0, help="measured seconds per path")
    parser.add_argument("--warmup", type=float, default=0.5, help="unmeasured seconds per path first")
    parser.add_argument("--paths", nargs="+", default=list(PATHS))
    parser.add_argument("--plain", action="store_true", help="also measure a minimal Quart app")
    return parser.parse_args(argv)


async def read_response(reader: asyncio.StreamReader) -> tuple[int, int, bool]:
    """(status, body bytes, server wants to close) for one HTTP/1.1 response."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
    if headers.get("transfer-encoding", "").lower() == "chunked":
        size = 0
        while True:
            chunk = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(chunk + 2)
            size += chunk
            if chunk == 0:
                break
    else:
        size = int(headers.get("content-length", "0"))
        await reader.readexactly(size)
    return status, size, headers.get("connection", "").lower() == "close"


async def client(port: int, path: str, deadline: float, stats: Stats | None) -> None:
    """Send requests back to back on one keep-alive connection until ``deadline``."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: */*\r\n\r\n".encode()
    stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    while time.perf_counter() < deadline:
        try:
            if stream is None:
                stream = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), REQUEST_TIMEOUT)
                if stats:
                    stats.connections += 1
            reader, writer = stream
            started = time.perf_counter()
            writer.write(request)
            status, size, close = await asyncio.wait_for(read_response(reader), REQUEST_TIMEOUT)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError) as exc:
            if stats:
                stats.errors[type(exc).__name__] += 1
            close = True
        else:
            if stats:
                stats.latencies.append(time.perf_counter() - started)
                stats.statuses[status] += 1
                stats.body_bytes += size
        if close and stream is not None:
            stream[1].close()
            stream = None
    if stream is not None:
        stream[1].close()


async def load(port: int, path: str, concurrency: int, seconds: float, stats: Stats | None) -> None:
    deadline = time.perf_counter() + seconds
    await asyncio.gather(*(client(port, path, deadline, stats) for _ in range(concurrency)))


async def measure(pid: int, port: int, paths: list[str], args: argparse.Namespace,
                  label: str = "") -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for path in paths:
        await load(port, path, args.concurrency, args.warmup, None)
        stats = Stats()
        own0 = resource.getrusage(resource.RUSAGE_SELF)
        cpu0, wall0 = cpu_seconds(pid), time.perf_counter()
        await load(port, path, args.concurrency, args.seconds, stats)
        wall, cpu = time.perf_counter() - wall0, cpu_seconds(pid) - cpu0
        own1 = resource.getrusage(resource.RUSAGE_SELF)
        own = (own1.ru_utime + own1.ru_stime) - (own0.ru_utime + own0.ru_stime)
        ok = sum(n for status, n in stats.statuses.items() if 200 <= status < 300)
        bad = {f"HTTP {s}": n for s, n in stats.statuses.items() if not 200 <= s < 300}
        errors = {**bad, **stats.errors}
        lat = stats.latencies
        done = max(len(lat), 1)
        progress(f"{label}{path}: {ok / wall:.0f} req/s, {sum(errors.values())} errors")
        rows.append((
            label + path, f"{ok / wall:.0f}", f"{percentile(lat, 50) * 1e3:.1f}", f"{percentile(lat, 95) * 1e3:.1f}",
            f"{max(lat, default=float('nan')) * 1e3:.1f}", f"{stats.body_bytes / done:.0f}",
            f"{cpu / done * 1e6:.0f} ({cpu / wall * 100:.0f}%)", f"{own / done * 1e6:.0f}",
            ", ".join(f"{k}: {v}" for k, v in errors.items()) or "0",
        ))
    return rows


def measure_plain(args: argparse.Namespace) -> list[tuple[object, ...]]:
    """Serve PLAIN_APP in a subprocess, load it like the service, stop it."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", PLAIN_APP, str(port)], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"plain Quart app did not start: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            time.sleep(0.05)  # polling a port until it listens, bounded by the deadline
        progress(f"plain Quart app pid {process.pid} on port {port}")
        return asyncio.run(measure(process.pid, port, ["/json", "/html"], args, "plain Quart "))
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    with running_service({"TICK_SECONDS": "0.1"}) as service:
        assert service.process is not None
        rows = asyncio.run(measure(service.process.pid, service.port, args.paths, args))
    if args.plain:
        rows += measure_plain(args)
    if rows:
        print(f"\nhttp_api: {args.concurrency} keep-alive clients, {args.seconds:g} s per path; {machine_line()}")
        print(table(("path", "req/s", "p50 ms", "p95 ms", "max ms", "body B", "server CPU us/req (of a core)",
                     "client CPU us/req", "errors"), rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
