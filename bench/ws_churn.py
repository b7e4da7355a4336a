"""WebSocket churn: does the server's memory come back after visitors leave?

Starts the real service and runs K cycles: connect N clients (no round), close them all,
then read the server's RSS, open file descriptors and its own count of connections
twice, at +half and +full ``--wait`` seconds. The default wait (22 s) is past Hypercorn's
ping interval (20 s in run.py): a closed connection's ping task sleeps until its next
ping, and its memory is only freed then. Memory that climbs cycle after cycle once that
has passed is retained: allocator fragmentation or a leak. Not part of run_all (about
25 s a cycle).

    .venv/bin/python bench/ws_churn.py [--clients 500] [--cycles 4] [--no-deflate]
        [--env MALLOC_MMAP_THRESHOLD_=32768]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from _common import Service, machine_line, progress, rss_kib, running_service, table
from ws_fanout import connect_all, open_client, open_connections, raise_fd_limit


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--cycles", type=int, default=4)
    parser.add_argument("--wait", type=float, default=22.0, help="seconds to watch after each close")
    parser.add_argument("--no-deflate", action="store_true", help="do not offer permessage-deflate")
    parser.add_argument("--batch", type=int, default=50, help="clients connecting at once")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for the service (e.g. glibc malloc tunables)")
    return parser.parse_args(argv)


async def churn(service: Service, args: argparse.Namespace) -> list[tuple[object, ...]]:
    assert service.process is not None
    pid = service.process.pid
    deflate = not args.no_deflate

    def fds() -> int:
        return len(os.listdir(f"/proc/{pid}/fd"))

    await (await open_client(service.ws_url, deflate)).ws.close()  # warm the code paths
    await asyncio.sleep(1.0)
    rows: list[tuple[object, ...]] = [("start", "-", f"{rss_kib(pid) / 1024:.1f}", "-", fds(), "-")]
    for cycle in range(1, args.cycles + 1):
        clients = await connect_all(service.ws_url, args.clients, args.batch, deflate)
        connected = rss_kib(pid)
        await asyncio.gather(*(c.ws.close() for c in clients), return_exceptions=True)
        await asyncio.sleep(args.wait / 2)
        half = rss_kib(pid)
        await asyncio.sleep(args.wait / 2)
        full = rss_kib(pid)
        still = await asyncio.to_thread(open_connections, service)
        rows.append((cycle, f"{connected / 1024:.1f}", f"{half / 1024:.1f}", f"{full / 1024:.1f}", fds(), still))
        progress(f"cycle {cycle}: RSS {connected} KiB connected, {full} KiB {args.wait:g} s after leaving")
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    raise_fd_limit(2 * args.clients + 512)
    env = dict(item.split("=", 1) for item in args.env)
    with running_service({"TICK_SECONDS": "0.1", **env}) as service:
        rows = asyncio.run(churn(service, args))
        print(f"\nws_churn: {args.cycles} cycles of {args.clients} clients, permessage-deflate "
              f"{'off' if args.no_deflate else 'offered'}{', ' + ' '.join(args.env) if args.env else ''}; "
              f"{machine_line()}")
        print(table(("cycle", "RSS connected MiB", f"RSS +{args.wait / 2:g} s MiB",
                     f"RSS +{args.wait:g} s MiB", "server fds", "open (server count)"), rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
