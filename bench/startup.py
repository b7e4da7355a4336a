"""Start-up, memory and idle CPU: the real service, with and without the four API keys.

Each start spawns ``python run.py`` (``tests.service.Service``: a free port, a temp SQLite
file) and times spawn -> the first ``/healthz`` 200 (polled every 10 ms), then reads the
server's RSS at that moment, then spawn -> ``/readyz`` (200 once the SDKs, loaded in the
background after start-up, are in) and the RSS then. "with keys" sets all four
``*_API_KEY``s with every ``*_BASE_URL`` at a local port where nothing listens (no request
can succeed, as with a provider that is down; the SDKs still load for the model check). On
the last start of each kind the script then waits for every provider's model check (the
background thread that imports the SDKs) and reads the RSS with the SDKs loaded, then
measures idle CPU over ``--idle`` seconds: no visitor, countdown state, the default
timings (a round every 30 minutes; the tests' fast timings are undone). The reference, in
the same run: a minimal Quart app on Hypercorn (bench/_ref_servers.py), spawn -> its first
HTTP answer, and its RSS.

    .venv/bin/python bench/startup.py [--starts 5] [--idle 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import (
    Service,
    cpu_seconds,
    log_summary,
    machine_line,
    progress,
    reference_start,
    rss_kib,
    table,
    wait_model_checks,
)

from settings import Settings
from tests.service import FAST_ENV, unreachable_providers_env

#: Undo tests.service.FAST_ENV's timings: what an operator runs without a .env.
_DEFAULTS = Settings.from_env({})
DEFAULT_TIMINGS = {
    name: str(getattr(_DEFAULTS, name.lower())) for name in FAST_ENV
    if name.endswith("_SECONDS") and name != "SHUTDOWN_GRACE_SECONDS"
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=5, help="starts per kind (median reported)")
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of idle CPU measured (0: none)")
    return parser.parse_args(argv)



def wait_probe(service: Service, path: str, timeout: float = 120.0) -> None:
    """Until ``path`` answers 200 (``/healthz``: alive; ``/readyz``: the SDKs loaded too)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert service.process is not None
        if service.process.poll() is not None:
            raise RuntimeError(f"service exited:\n{service.logs()[-2000:]}")
        try:
            if service.get(path, timeout=1.0)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.01)  # polling the probe: the figure is the first moment it answers
    raise TimeoutError(f"no {path}")


def one_start(env: dict[str, str], last: bool, idle: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="roundtable-startup-") as tmp:
        service = Service(Path(tmp), {**DEFAULT_TIMINGS, **env})
        started = time.perf_counter()
        service.start(wait_ready=False)
        assert service.process is not None
        pid = service.process.pid
        try:
            wait_probe(service, "/healthz")
            figures = {"healthz_s": time.perf_counter() - started, "rss_healthz": rss_kib(pid) / 1024}
            wait_probe(service, "/readyz")
            figures["readyz_s"] = time.perf_counter() - started
            figures["rss_ready"] = rss_kib(pid) / 1024
            if last:
                figures |= after_start(service, pid, idle)
        finally:
            service.stop()
            if last:
                print(log_summary(service.logs()))
    return figures


def after_start(service: Service, pid: int, idle: float) -> dict[str, float]:
    """RSS once every model check ran (the SDKs loaded), then idle CPU over ``idle`` s."""
    figures = {"checks_s": wait_model_checks(service)}
    figures["rss_loaded"] = rss_kib(pid) / 1024
    if idle > 0:
        cpu0, wall0 = cpu_seconds(pid), time.monotonic()
        time.sleep(idle)  # measuring idle: nothing to wait for by design
        figures["idle_pct"] = 100 * (cpu_seconds(pid) - cpu0) / (time.monotonic() - wall0)
    return figures


def row(label: str, runs: list[dict[str, float]], ref: tuple[float, float]) -> tuple[str, ...]:
    times = [r["healthz_s"] for r in runs]
    rss = statistics.median(r["rss_healthz"] for r in runs)
    last = runs[-1]
    return (
        label,
        f"{statistics.median(times):.2f} s ({min(times):.2f}-{max(times):.2f})",
        f"{statistics.median(times) / ref[0]:.1f}x",
        f"{statistics.median(r['readyz_s'] for r in runs):.2f} s",
        f"{rss:.1f} MiB ({rss / ref[1]:.1f}x)",
        f"{statistics.median(r['rss_ready'] for r in runs):.1f} MiB",
        f"{last.get('rss_loaded', float('nan')):.1f} MiB after {last.get('checks_s', float('nan')):.1f} s",
        f"{last['idle_pct']:.2f}%" if "idle_pct" in last else "-",
    )


def main(argv: list[str] | None = None) -> int:
    """The reference and both kinds take turns, so that they share the machine's moods."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    kinds = {"no keys": {}, "all four keys": unreachable_providers_env()}
    reference: list[tuple[float, float]] = []
    runs: dict[str, list[dict[str, float]]] = {label: [] for label in kinds}
    for i in range(args.starts):
        reference.append(reference_start("quart-nodeflate"))  # the floor: a minimal Quart app
        progress(f"minimal Quart app start {i + 1}: {reference[-1][0]:.2f} s, {reference[-1][1]:.1f} MiB")
        for label, env in kinds.items():
            runs[label].append(one_start(env, i == args.starts - 1, args.idle))
            progress(f"{label} start {i + 1}: " + ", ".join(f"{k} {v:.2f}" for k, v in runs[label][-1].items()))
    ref = (statistics.median(r[0] for r in reference), statistics.median(r[1] for r in reference))
    print(f"\nstart-up: {args.starts} starts per kind, taking turns, medians (min-max); {machine_line()}")
    print(f"reference, a minimal Quart app on Hypercorn: spawn -> first answer {ref[0]:.2f} s "
          f"({min(r[0] for r in reference):.2f}-{max(r[0] for r in reference):.2f}), RSS {ref[1]:.1f} MiB")
    print(table(("kind", "spawn -> /healthz", "vs minimal Quart", "-> /readyz (SDKs loaded)",
                 "RSS at /healthz (vs Quart)", "RSS at /readyz", "RSS, model checks done (last start)",
                 f"idle CPU over {args.idle:g} s (last start)"),
                [row(label, kind_runs, ref) for label, kind_runs in runs.items()]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
