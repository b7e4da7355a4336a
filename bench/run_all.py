"""Run every benchmark with modest defaults and print all the figures (``make bench``).

Each script starts its own service and stops it; they run one after the other (the
machine has 2 cores, and the clients share them with the server), each in its own
process with a time limit. About 6 minutes in all (2 without the issue-13 comparisons:
ws_floor at 1,000 visitors, http_wrk if wrk is installed, history at 20,000 rounds).

    .venv/bin/python bench/run_all.py [--clients 500] [--floor-clients 1000] [--no-compare] [--no-floor]
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import signal
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

from _common import ROOT, machine_line

BENCH = Path(__file__).resolve().parent
#: No single script should get near this; past it, it is stopped and reported.
SCRIPT_TIMEOUT = 300.0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=500, help="WebSocket clients for ws_fanout")
    parser.add_argument("--floor-clients", type=int, default=1000, help="WebSocket clients for ws_floor")
    parser.add_argument("--no-floor", action="store_true",
                        help="skip ws_floor, http_wrk and history (the issue-13 comparisons)")
    parser.add_argument("--no-compare", action="store_true",
                        help="skip the second ws_fanout run without permessage-deflate")
    return parser.parse_args(argv)


def header() -> str:
    versions = []
    for name in ("hypercorn", "quart", "wsproto", "h11", "websockets", "peewee", "pykka"):
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} ?")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True, check=False).stdout.strip() or "none (not a git checkout)"
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"Roundtable benchmarks, {now}, {ROOT}, commit {commit}\n{machine_line()}\n{', '.join(versions)}"


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the script's process group if anything in it still runs, then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(15)
            os.killpg(proc.pid, 0)  # a grandchild may outlive the script itself
        except (subprocess.TimeoutExpired, ProcessLookupError):
            continue
        time.sleep(1.0)  # the group got SIGTERM; a moment for its members to exit before SIGKILL


def run(script: str, *args: str) -> bool:
    print(f"\n=== {script} {' '.join(args)}".rstrip(), flush=True)
    started = time.perf_counter()
    # Its own process group: on timeout (or Ctrl-C) the servers and client processes it
    # started are stopped with it.
    proc = subprocess.Popen([sys.executable, str(BENCH / script), *args], cwd=ROOT, start_new_session=True)
    try:
        code = proc.wait(SCRIPT_TIMEOUT)
    except subprocess.TimeoutExpired:
        print(f"!!! {script} did not finish in {SCRIPT_TIMEOUT:.0f} s and was stopped", flush=True)
        return False
    finally:
        stop_group(proc)
    print(f"=== {script}: exit {code} in {time.perf_counter() - started:.0f} s", flush=True)
    return code == 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    print(header(), flush=True)
    started = time.perf_counter()
    plan: list[tuple[str, ...]] = [("ws_fanout.py", "--clients", str(args.clients))]
    if not args.no_compare:
        plan.append(("ws_fanout.py", "--clients", str(args.clients), "--no-deflate"))
    plan += [("http_api.py", "--concurrency", "16", "--seconds", "4", "--plain"), ("round_cpu.py", "--rounds", "5")]
    if not args.no_floor:
        # The issue-13 comparisons, at sizes that fit run_all's bound (the full sizes are in
        # docs/benchmarks.md): five servers x the same clients, wrk on five paths, history.
        plan.append(("ws_floor.py", "--clients", str(args.floor_clients), "--timeout", "60"))
        if shutil.which("wrk"):
            plan.append(("http_wrk.py", "--seconds", "3", "--repeat", "1"))
        plan.append(("history.py", "--rounds", "20000", "--small", "1000", "--samples", "50", "--starts", "1"))
    results = [run(*step) for step in plan]
    print(f"\nall benchmarks: {sum(results)}/{len(results)} finished cleanly in "
          f"{time.perf_counter() - started:.0f} s")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
