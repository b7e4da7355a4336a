"""What the engine does once it has started deciding, off its start-up path.

``start_background(system)`` starts one daemon thread that waits ``SDK_LOAD_DELAY_SECONDS``,
imports the configured providers' SDKs, freezes the start-up heap when asked
(``create_system(tune_gc=True)``), sets ``sdks_loaded`` (``/readyz`` waits for it), then
runs the model watch (``actors.providers.catalog.ModelWatch``). ``RoundtableSystem.
start_ticker`` calls it; the engine's closers stop it.
"""

from __future__ import annotations

import gc
import threading
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from actors.providers.catalog import ModelCheck
    from actors.system import RoundtableSystem

__all__ = ["SDK_LOAD_DELAY_SECONDS", "freeze_start_up_heap", "start_background"]

#: The SDKs (seconds of CPU and most of the process's memory) load this long after the
#: engine starts deciding, so that they do not compete with the rest of start-up (the web
#: server binds 0.1-0.5 s later on this loaded 2-core machine; 0.5 s here still slowed
#: /healthz from 0.5 to 1.4 s median with all four keys: ``bench/startup.py``).
SDK_LOAD_DELAY_SECONDS: Final = 1.5


def start_background(system: RoundtableSystem) -> None:
    """On a daemon thread, ``SDK_LOAD_DELAY_SECONDS`` after the engine starts deciding (the
    web server is up by then): import the configured providers' SDKs, set
    ``sdks_loaded``, then ask each provider whether its model is offered, now and daily
    (``/api/status`` shows it). Start-up never waits for any of it."""
    from actors.providers.catalog import ModelWatch
    from actors.providers.lazy import load_sdks

    gateways, settings, stop = system.gateways, system.settings, threading.Event()

    def report(name: str, check: ModelCheck) -> None:
        gateways[name].set_model_check(check)

    watch = ModelWatch(list(settings.providers.values()), report, system.clock.now)

    def run() -> None:
        if stop.wait(SDK_LOAD_DELAY_SECONDS):
            return
        load_sdks(settings)
        if system.tune_gc:
            freeze_start_up_heap()
        system.sdks_loaded.set()
        if not stop.is_set():
            watch.start()

    def halt() -> None:
        stop.set()
        watch.stop()

    if not settings.configured_providers:
        system.sdks_loaded.set()  # nothing to load: ready at once
    threading.Thread(target=run, name="roundtable-sdk-load", daemon=True).start()
    system.closers.insert(0, halt)


def freeze_start_up_heap() -> None:
    """Move every object alive now (modules, classes, the SDKs' pydantic models: 60,000
    objects without keys, 280,000 with the four SDKs) out of the cyclic collector's reach
    (``gc.freeze``), after collecting what is garbage already. A full collection scanned
    them all, 20-300 ms with the GIL held, and those pauses showed as reveal lateness and
    fan-out latency (bench/ws_floor.py). Process-wide, hence ``tune_gc``: the objects are
    still freed by reference counting, only no longer scanned for cycles. Any thread."""
    gc.collect()
    gc.freeze()
