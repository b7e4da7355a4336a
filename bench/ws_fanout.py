"""WebSocket fan-out: N live visitors, one forced round, how evenly each message reaches them.

Starts the real service, connects N clients (websockets' asyncio client, one process,
permessage-deflate offered like a browser unless --no-deflate), forces a round and records
when every client receives each of the 16 ``message`` events. Prints:

- delivery spread per message: first client to last client (p50/p95/max over the 16);
- delivery latency: the message's ``revealed_at`` to each client's receipt (same clock);
- whether every client got all 16 messages, in order, once;
- the server's RSS before and after connecting (KiB per connection), after the round,
  and after the clients leave; its CPU seconds during the round, net of idle, per frame.

The clients share the machine's 2 cores with the server, so spreads include the time the
client process itself needs to read N sockets; its CPU is printed too.

    .venv/bin/python bench/ws_fanout.py [--clients 500] [--no-deflate]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from _common import (
    Service,
    cpu_seconds,
    machine_line,
    percentile,
    progress,
    rss_kib,
    running_service,
    table,
)
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

MESSAGES = 16


@dataclass
class Client:
    ws: ClientConnection
    #: (receipt time.time(), event) for every frame after the hello.
    frames: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    closed: str | None = None

    def messages(self) -> list[tuple[float, dict[str, Any]]]:
        return [(t, ev) for t, ev in self.frames if ev.get("type") == "message"]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--no-deflate", action="store_true", help="do not offer permessage-deflate")
    parser.add_argument("--gap", type=float, default=0.25,
                        help="seconds between messages (0.8x-1.2x); real rounds use 60-120")
    parser.add_argument("--tick", type=float, default=0.1, help="TICK_SECONDS (the default is 0.1)")
    parser.add_argument("--batch", type=int, default=50, help="clients connecting at once")
    parser.add_argument("--timeout", type=float, default=60.0, help="give up on the round after this")
    return parser.parse_args(argv)


def raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        if target < needed:
            sys.exit(f"need {needed} file descriptors, the hard limit is {hard}")


async def open_client(url: str, deflate: bool) -> Client:
    ws = await connect(url, compression="deflate" if deflate else None, ping_interval=None,
                       open_timeout=30, close_timeout=2, max_queue=64)
    hello = json.loads(await ws.recv())
    assert hello["type"] == "hello", hello
    return Client(ws)


async def connect_all(url: str, count: int, batch: int, deflate: bool) -> list[Client]:
    clients: list[Client] = []
    while len(clients) < count:
        size = min(batch, count - len(clients))
        clients += await asyncio.gather(*(open_client(url, deflate) for _ in range(size)))
        if len(clients) % (batch * 4) == 0 or len(clients) == count:
            progress(f"{len(clients)}/{count} clients connected")
    return clients


async def read_round(client: Client) -> None:
    """Record frames until the round's ``complete`` state (or the socket closes)."""
    try:
        async for raw in client.ws:
            received = time.time()
            event = json.loads(raw)
            client.frames.append((received, event))
            if event.get("type") == "state" and event.get("state") == "complete":
                return
    except ConnectionClosed as exc:
        client.closed = f"{exc.rcvd.code if exc.rcvd else 'no close frame'}"
        return
    client.closed = "closed by server"


def in_order(client: Client, conversation_id: int) -> bool:
    seqs = [ev["seq"] for _, ev in client.messages() if ev.get("conversation_id") == conversation_id]
    return seqs == list(range(1, MESSAGES + 1)) and len(client.messages()) == MESSAGES


def open_connections(service: Service) -> str:
    """The server's own count of open WebSockets, from /metrics."""
    _, text = service.get("/metrics")
    match = re.search(r"^roundtable_websocket_connections (\S+)$", str(text), re.MULTILINE)
    return str(int(float(match.group(1)))) if match else "?"


async def idle_cpu_rate(pid: int, seconds: float = 2.0) -> float:
    """The server's CPU use while nothing happens, in cores."""
    before = cpu_seconds(pid)
    await asyncio.sleep(seconds)
    return (cpu_seconds(pid) - before) / seconds


async def play_round(service: Service, clients: list[Client], timeout: float) -> dict[str, Any]:
    """Force a round while ``clients`` read it; the server's CPU and wall time for it."""
    assert service.process is not None
    pid = service.process.pid
    readers = [asyncio.create_task(read_round(c)) for c in clients]
    own0, cpu0, wall0 = resource.getrusage(resource.RUSAGE_SELF), cpu_seconds(pid), time.perf_counter()
    forced = await asyncio.to_thread(service.force)
    _, pending = await asyncio.wait(readers, timeout=timeout)
    wall, cpu = time.perf_counter() - wall0, cpu_seconds(pid) - cpu0
    own1 = resource.getrusage(resource.RUSAGE_SELF)
    for task in pending:
        task.cancel()
    conversation = forced.get("conversation")
    return {
        "wall": wall, "cpu": cpu, "pending": len(pending),
        "conversation_id": conversation.get("id") if isinstance(conversation, dict) else None,
        "client_cpu": (own1.ru_utime + own1.ru_stime) - (own0.ru_utime + own0.ru_stime),
        "frames": sum(len(c.frames) for c in clients),
    }


async def measure(service: Service, args: argparse.Namespace) -> None:
    assert service.process is not None
    pid = service.process.pid
    deflate = not args.no_deflate

    # A baseline round with one client: warms every code path, and its CPU is the
    # engine's own cost, so the N-client round's extra CPU is the fan-out's.
    probe = await open_client(service.ws_url, deflate)
    idle_one = await idle_cpu_rate(pid)
    baseline = await play_round(service, [probe], args.timeout)
    await probe.ws.close()
    await asyncio.to_thread(service.wait_for_state, "countdown")
    progress(f"baseline round with 1 client: {baseline['cpu']:.2f} s CPU in {baseline['wall']:.2f} s")
    await asyncio.sleep(1.0)
    rss_empty = rss_kib(pid)

    started = time.perf_counter()
    clients = await connect_all(service.ws_url, args.clients, args.batch, deflate)
    connect_seconds = time.perf_counter() - started
    await asyncio.sleep(1.5)
    rss_connected = rss_kib(pid)
    progress(f"server RSS {rss_empty} KiB empty, {rss_connected} KiB with {args.clients} clients")
    idle_many = await idle_cpu_rate(pid)
    progress(f"idle server CPU with clients connected: {idle_many * 100:.1f}% of a core; forcing a round")

    measured = await play_round(service, clients, args.timeout)
    progress(f"round over in {measured['wall']:.2f} s ({measured['pending']} clients still waiting)")
    await asyncio.sleep(1.0)
    rss_after_round = rss_kib(pid)
    await asyncio.gather(*(c.ws.close() for c in clients), return_exceptions=True)
    await asyncio.sleep(1.5)
    rss_after_leave = rss_kib(pid)
    still_open = await asyncio.to_thread(open_connections, service)
    # A second connect-and-leave cycle: retained memory that grows again is a leak; memory
    # that stays flat is the allocator keeping its arenas.
    again = await connect_all(service.ws_url, args.clients, args.batch, deflate)
    await asyncio.gather(*(c.ws.close() for c in again), return_exceptions=True)
    await asyncio.sleep(1.5)
    rss_after_cycle = rss_kib(pid)

    net = measured["cpu"] - idle_many * measured["wall"]
    net_baseline = baseline["cpu"] - idle_one * baseline["wall"]
    report(args, clients, measured["conversation_id"], {
        **measured, "connect_seconds": connect_seconds, "idle_rate": idle_many,
        "rss": (rss_empty, rss_connected, rss_after_round, rss_after_leave, rss_after_cycle),
        "still_open": still_open,
        "baseline_cpu": net_baseline, "fanout_cpu": net - net_baseline,
        "fanout_frames": measured["frames"] - baseline["frames"],
    })


def report(args: argparse.Namespace, clients: list[Client], conversation_id: int | None, m: dict[str, Any]) -> None:
    n = len(clients)
    by_seq: dict[int, list[float]] = {}
    latencies: list[float] = []
    per_client_worst: list[float] = []
    for client in clients:
        worst = 0.0
        for received, ev in client.messages():
            by_seq.setdefault(ev["seq"], []).append(received)
            latency = received - ev["revealed_at"] / 1000
            latencies.append(latency)
            worst = max(worst, latency)
        per_client_worst.append(worst)
    spreads = [max(times) - min(times) for _, times in sorted(by_seq.items())]
    complete = sum(in_order(c, conversation_id) for c in clients) if conversation_id is not None else 0
    closed = [c.closed for c in clients if c.closed]
    frames = m["frames"]
    empty, connected, after_round, after_leave, after_cycle = m["rss"]
    ms = 1000.0
    m["connect_seconds"] = max(m["connect_seconds"], 1e-9)

    print(f"\nws_fanout: {n} clients, permessage-deflate {'off' if args.no_deflate else 'offered'}, "
          f"gap ~{args.gap} s, tick {args.tick} s; {machine_line()}")
    rows = [
        ("clients connected", f"{n} in {m['connect_seconds']:.2f} s ({n / m['connect_seconds']:.0f}/s)"),
        ("got all 16 messages in order", f"{complete}/{n}" + (f" ({len(closed)} closed: {sorted(set(closed))})" if closed else "")),
        ("delivery spread first->last, p50 / p95 / max", f"{percentile(spreads, 50) * ms:.1f} / {percentile(spreads, 95) * ms:.1f} / {max(spreads, default=float('nan')) * ms:.1f} ms"),
        ("revealed_at->client latency, p50 / p95 / max", f"{percentile(latencies, 50) * ms:.1f} / {percentile(latencies, 95) * ms:.1f} / {max(latencies, default=float('nan')) * ms:.1f} ms"),
        ("worst client's worst latency", f"{max(per_client_worst, default=float('nan')) * ms:.1f} ms"),
        ("server RSS empty -> connected", f"{empty / 1024:.1f} -> {connected / 1024:.1f} MiB"),
        ("server RSS per connection", f"{(connected - empty) / n:.1f} KiB"),
        ("server RSS after round / clients left / 2nd cycle", f"{after_round / 1024:.1f} / {after_leave / 1024:.1f} / {after_cycle / 1024:.1f} MiB"),
        ("connections the server still counts after all left", f"{m['still_open']} (roundtable_websocket_connections)"),
        ("round wall time (force -> complete)", f"{m['wall']:.2f} s"),
        ("server CPU in round (idle use)", f"{m['cpu']:.2f} s ({m['idle_rate'] * 100:.1f}% of a core when idle)"),
        ("engine CPU for a 1-client round, net of idle", f"{m['baseline_cpu']:.2f} s"),
        ("frames delivered in round", f"{frames} ({frames / max(n, 1):.0f} per client)"),
        ("fan-out CPU per delivered frame", f"{m['fanout_cpu'] / max(m['fanout_frames'], 1) * 1e6:.0f} us (round minus idle minus 1-client round)"),
        ("client process CPU in round", f"{m['client_cpu']:.2f} s ({m['client_cpu'] / max(frames, 1) * 1e6:.0f} us per frame)"),
    ]
    print(table(("measure", "value"), rows))
    print("spread per message (ms): " + " ".join(f"{s * ms:.0f}" for s in spreads))
    if m["pending"]:
        print(f"WARNING: {m['pending']} clients did not see the round complete within {args.timeout} s")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    raise_fd_limit(2 * args.clients + 512)  # the server (a child) inherits the limit too
    env = {
        "MESSAGE_GAP_MIN_SECONDS": str(args.gap * 0.8),
        "MESSAGE_GAP_MAX_SECONDS": str(args.gap * 1.2),
        "TYPING_LEAD_SECONDS": str(args.gap / 4),
        "TICK_SECONDS": str(args.tick),
    }
    with running_service(env) as service:
        asyncio.run(measure(service, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
