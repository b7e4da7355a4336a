"""HTTP with wrk: Roundtable's read paths against a minimal Quart app serving the same bytes.

Starts the real service (tiny gaps), plays ``--rounds`` forced rounds so the history has
something in it, fetches each path's body and content type once, and starts a minimal
Quart app on Hypercorn that serves exactly those bytes at the same paths (one dict lookup
per request: the most a Quart app on Hypercorn can do). Then, per path, wrk (64
connections, 2 threads, keep-alive) runs ``--seconds`` against the minimal app, then
against Roundtable, ``--repeat`` times alternating; the medians' ratio is printed with the
issue's target (0.8x for /api/countdown, /api/status and /; 0.5x for the conversation
endpoints), and each server's CPU per request (``/proc``, every thread, over the wrk run:
steadier than requests/s when other work shares the cores). Non-2xx answers and socket
errors are reported. Everything started is stopped.

    .venv/bin/python bench/http_wrk.py [--seconds 4] [--repeat 2] [--connections 64]

Needs ``wrk`` (Debian/Ubuntu: ``apt-get install -y wrk``; macOS: ``brew install wrk``). The
service runs with production's 0.1 s tick (the test suite's 5 ms tick would spend a share
of the GIL on the engine that production never does).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _common import cpu_seconds, free_port, machine_line, progress, running_service, table

TARGETS = {"/api/countdown": 0.8, "/api/status": 0.8, "/": 0.8, "/api/conversations": 0.5,
           "/api/conversations/<id>": 0.5}

MINIMAL_APP = r"""
import asyncio, json, sys
from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart, Response
bodies = json.load(open(sys.argv[2]))
app = Quart("minimal")
cache = {path: (body.encode(), ctype) for path, (body, ctype) in bodies.items()}
async def route(path=""):
    body, ctype = cache["/" + path]
    return Response(body, content_type=ctype)
app.add_url_rule("/", "root", route)
app.add_url_rule("/<path:path>", "any", route)
config = Config()
config.bind = [f"127.0.0.1:{sys.argv[1]}"]
config.accesslog = None
asyncio.run(serve(app, config))
"""


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=4, help="wrk duration per measurement")
    parser.add_argument("--repeat", type=int, default=2, help="alternating measurements per path and server")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3, help="forced rounds played first (history)")
    return parser.parse_args(argv)


def fetch(url: str) -> tuple[str, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode(), response.headers.get("Content-Type", "application/json")


def wrk(url: str, seconds: int, connections: int, pid: int) -> dict[str, Any]:
    """One wrk run against ``url``; requests/s, errors, and the CPU the server ``pid`` used
    per request (steadier than requests/s when other work shares the cores)."""
    cpu = cpu_seconds(pid)
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", url],
                         capture_output=True, text=True, timeout=seconds + 30, check=False).stdout
    cpu = cpu_seconds(pid) - cpu
    count = re.search(r"(\d+) requests in", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    latency = re.search(r"Latency\s+(\S+)", out)
    return {"rps": float(rps.group(1)) if rps else 0.0, "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "cpu_us": cpu / int(count.group(1)) * 1e6 if count and int(count.group(1)) else float("nan"),
            "errors": errors.group(0) if errors else "", "latency": latency.group(1) if latency else "?"}


@contextlib.contextmanager
def minimal_app(bodies: dict[str, tuple[str, str]]) -> Iterator[tuple[str, int]]:
    with tempfile.TemporaryDirectory(prefix="roundtable-wrk-") as tmp:
        bodies_file = Path(tmp) / "bodies.json"
        bodies_file.write_text(json.dumps(bodies))
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-c", MINIMAL_APP, str(port), str(bodies_file)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 20
            while True:
                try:
                    fetch(url + "/api/countdown")
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError("the minimal Quart app did not start") from None
                    time.sleep(0.05)  # polling a starting server, bounded by the deadline
            yield url, proc.pid
        finally:
            proc.terminate()
            proc.wait(10)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian/Ubuntu: apt-get install -y wrk; macOS: brew install wrk); "
                 "bench/http_api.py is the Python fallback")
    with running_service({"TICK_SECONDS": "0.1"}) as service:  # production's tick, not the tests' 5 ms
        for _ in range(args.rounds):
            service.force()
            service.wait_for_state("countdown", 30)
        _, listing = service.get("/api/conversations")
        conversations = listing["conversations"] if isinstance(listing, dict) else listing
        latest = conversations[0]["id"]
        paths = {label: label.replace("<id>", str(latest)) for label in TARGETS}
        bodies = {path: fetch(service.url + path) for path in paths.values()}
        assert service.process is not None
        with minimal_app(bodies) as minimal:
            servers = {"minimal": minimal, "roundtable": (service.url, service.process.pid)}
            rows = [measure(label, path, servers, args) + (f"{len(bodies[path][0])} B",)
                    for label, path in paths.items()]
    version = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    print(f"\nhttp_wrk: wrk -t2 -c{args.connections} -d{args.seconds}s, {args.repeat} alternating runs per "
          f"path, medians; {machine_line()}; {(version.stdout or version.stderr).splitlines()[0]}")
    print(table(("path", "minimal Quart req/s", "Roundtable req/s", "ratio", "target", "met",
                 "server CPU/request minimal / Roundtable", "Roundtable mean latency", "errors", "body"), rows))
    return 0


def measure(label: str, path: str, servers: dict[str, tuple[str, int]], args: argparse.Namespace) -> tuple[str, ...]:
    """``path`` on both servers, ``--repeat`` alternating wrk runs each: one table row."""
    runs: dict[str, list[dict[str, Any]]] = {"minimal": [], "roundtable": []}
    for _ in range(args.repeat):
        for name in ("minimal", "roundtable"):
            url, pid = servers[name]
            runs[name].append(wrk(url + path, args.seconds, args.connections, pid))
    mine, ours = (statistics.median(r["rps"] for r in runs[name]) for name in ("minimal", "roundtable"))
    cpu_mine, cpu_ours = (statistics.median(r["cpu_us"] for r in runs[name]) for name in ("minimal", "roundtable"))
    ratio = ours / mine if mine else float("nan")
    problems = "; ".join(sorted({f"{r['non2xx']} non-2xx" for r in runs["roundtable"] if r["non2xx"]}
                                | {r["errors"] for r in runs["roundtable"] if r["errors"]}))
    progress(f"{label}: minimal {mine:.0f} req/s, roundtable {ours:.0f} req/s")
    return (label, f"{mine:.0f}", f"{ours:.0f}", f"{ratio:.2f}x", f">= {TARGETS[label]}x",
            "yes" if ratio >= TARGETS[label] else "NO", f"{cpu_mine:.0f} / {cpu_ours:.0f} us",
            " / ".join(r["latency"] for r in runs["roundtable"]), problems or "none")


if __name__ == "__main__":
    sys.exit(main())
