"""Shared helpers for the bench scripts: the real service, /proc readings, percentiles, tables.

The scripts are not tests: they print figures. Everything runs on 127.0.0.1, is bounded in
count and time, and stops what it starts (``running_service`` stops the service on exit).
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.service import Service, free_port  # noqa: E402 - needs the repo root on sys.path first

__all__ = [
    "ROOT", "Service", "cpu_seconds", "free_port", "log_summary", "machine_line", "percentile",
    "progress", "reference_start", "rss_kib", "running_service", "table", "wait_model_checks",
]

sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr] # figures and progress interleave

_CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")
#: Lines of the service log that are expected in a template-only run, not a problem.
_EXPECTED: Final = re.compile(r"fell back to template|no API key")


def progress(message: str) -> None:
    """A progress line on stderr, so stdout stays the figures."""
    print(f"  .. {message}", file=sys.stderr, flush=True)


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` in KiB (VmRSS in /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def reference_start(kind: str, timeout: float = 120.0) -> tuple[float, float]:
    """Spawn ``bench/_ref_servers.py KIND`` -> its first HTTP answer (any status): the
    seconds that took and its RSS then (MiB); the server is stopped before returning."""
    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, str(ROOT / "bench" / "_ref_servers.py"), kind, str(port), "0.4", "16"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1.0)
            except urllib.error.HTTPError:
                break  # it answered (404): it is serving
            except OSError:
                time.sleep(0.01)  # polling for the first answer: that moment is the figure
                continue
            break
        else:
            raise TimeoutError(f"{kind} never answered")
        return time.perf_counter() - started, rss_kib(process.pid) / 1024
    finally:
        process.terminate()
        process.wait(10)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by every thread of ``pid``."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()  # the command name may contain spaces
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime, stime (fields 14, 15)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0-100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain, aligned text table (Markdown-compatible)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def machine_line() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{os.cpu_count()} cores, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}, load average {load}")


def log_summary(text: str) -> str:
    """Count the service log's warnings and errors, leaving out the expected template ones."""
    warnings = [ln for ln in text.splitlines() if " WARNING " in ln and not _EXPECTED.search(ln)]
    errors = [ln for ln in text.splitlines() if " ERROR " in ln or "Traceback" in ln]
    summary = f"service log: {len(errors)} errors, {len(warnings)} unexpected warnings"
    shown = (errors + warnings)[:5]
    return summary + "".join(f"\n    {ln[:200]}" for ln in shown)


@contextlib.contextmanager
def running_service(env: dict[str, str] | None = None, timeout: float = 30.0) -> Iterator[Service]:
    """The real ``python run.py`` on a free port with a temp SQLite file, ready within
    ``timeout`` s; stopped on exit, then the log's warnings and errors are summarised on
    stdout."""
    with tempfile.TemporaryDirectory(prefix="roundtable-bench-") as tmp:
        service = Service(Path(tmp), env)
        started = time.perf_counter()
        service.start(timeout)
        assert service.process is not None
        progress(f"service pid {service.process.pid} ready on port {service.port} "
                 f"in {time.perf_counter() - started:.2f} s")
        try:
            yield service
        finally:
            code = service.stop()
            print(log_summary(service.logs()))
            if code not in (0, None):
                print(f"service exit code: {code} (expected 0)")


def wait_model_checks(service: Service, timeout: float = 120.0) -> float:
    """Seconds until no configured provider's model check is "unchecked"."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        providers = service.get("/api/status")[1]["providers"]
        if all(p["model_check"]["status"] != "unchecked" for p in providers.values() if p["configured"]):
            return time.monotonic() - started
        time.sleep(0.1)  # polling the status for a condition, bounded by the timeout
    raise TimeoutError("model checks never finished")
