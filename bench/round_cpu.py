"""Engine cost of a round: CPU seconds, wall time and database rows for forced rounds.

Starts the real service with no API keys (every agent answers from templates), tiny gaps
and the production tick (0.1 s), one WebSocket listener, and forces R rounds one after the
other. For each round: wall time from the force to the ``complete`` state, the server's
CPU seconds (all threads, /proc/<pid>/stat) raw and net of its idle use, and the rows
added to each table (counted with sqlite3 from outside; the status row is upserted, so
its updates do not show as new rows).

With templates the CPU is the engine's own work (actors, state machine, database writes,
events); real providers add their SDKs' request and parsing costs on top, and their
latency is hidden in the gaps. Wall time here is set by the gaps and the tick, not by work.

    .venv/bin/python bench/round_cpu.py [--rounds 5] [--tick 0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import time
from pathlib import Path

from _common import Service, cpu_seconds, machine_line, progress, running_service, table
from websockets.asyncio.client import ClientConnection, connect

TABLES = ("conversations", "messages", "api_calls", "system_status")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tick", type=float, default=0.1, help="TICK_SECONDS (the default is 0.1)")
    parser.add_argument("--idle", type=float, default=3.0, help="seconds to measure idle CPU first")
    parser.add_argument("--timeout", type=float, default=30.0, help="give up on a round after this")
    return parser.parse_args(argv)


def row_counts(database: Path) -> dict[str, int]:
    with sqlite3.connect(database, timeout=5) as db:
        return {name: db.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for name in TABLES}


def database_bytes(database: Path) -> int:
    files = (database, database.with_name(database.name + "-wal"))
    return sum(f.stat().st_size for f in files if f.exists())


async def wait_for_state(ws: ClientConnection, state: str, timeout: float) -> int:
    """Read events until a ``state`` event for ``state``; returns the messages seen."""
    messages = 0
    async with asyncio.timeout(timeout):
        async for raw in ws:
            event = json.loads(raw)
            messages += event.get("type") == "message"
            if event.get("type") == "state" and event.get("state") == state:
                return messages
    raise ConnectionError("the WebSocket closed before the round ended")


async def measure(service: Service, args: argparse.Namespace) -> None:
    assert service.process is not None
    pid = service.process.pid
    async with connect(service.ws_url, compression=None, ping_interval=None) as ws:
        await ws.recv()  # hello
        cpu0 = cpu_seconds(pid)
        await asyncio.sleep(args.idle)
        idle_rate = (cpu_seconds(pid) - cpu0) / args.idle
        progress(f"idle server CPU: {idle_rate * 100:.2f}% of a core at tick {args.tick} s")
        rows: list[tuple[object, ...]] = []
        totals = {"wall": 0.0, "cpu": 0.0, "net": 0.0}
        bytes0 = database_bytes(service.database)
        for number in range(1, args.rounds + 1):
            before = await asyncio.to_thread(row_counts, service.database)
            cpu0, wall0 = cpu_seconds(pid), time.perf_counter()
            await asyncio.to_thread(service.force)
            messages = await wait_for_state(ws, "complete", args.timeout)
            wall, cpu = time.perf_counter() - wall0, cpu_seconds(pid) - cpu0
            after = await asyncio.to_thread(row_counts, service.database)
            net = cpu - idle_rate * wall
            if number > 1:  # the first round pays for warming up; keep it out of the mean
                for key, value in (("wall", wall), ("cpu", cpu), ("net", net)):
                    totals[key] += value
            added = " / ".join(str(after[t] - before[t]) for t in TABLES)
            rows.append((number, messages, f"{wall:.2f}", f"{cpu:.3f}", f"{net * 1e3:.0f}",
                         f"{net / max(messages, 1) * 1e3:.1f}", added))
            progress(f"round {number}: {messages} messages, {wall:.2f} s, {cpu:.3f} s CPU")
            await wait_for_state(ws, "countdown", args.timeout)
        grown = database_bytes(service.database) - bytes0

    print(f"\nround_cpu: {args.rounds} forced rounds, templates only, tick {args.tick} s; {machine_line()}")
    print(table(("round", "messages", "wall s", "CPU s", "net CPU ms", "net CPU ms/message",
                 "rows added: " + " / ".join(TABLES)), rows))
    later = max(args.rounds - 1, 1)
    print(f"mean of rounds 2-{args.rounds}: {totals['wall'] / later:.2f} s wall, {totals['cpu'] / later:.3f} s CPU, "
          f"{totals['net'] / later * 1e3:.0f} ms CPU net of idle ({idle_rate * 100:.2f}% of a core)")
    print(f"database + WAL grew by {grown / 1024:.0f} KiB over {args.rounds} rounds")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    with running_service({"TICK_SECONDS": str(args.tick)}) as service:
        asyncio.run(measure(service, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
