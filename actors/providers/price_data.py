"""The genai-prices dataset, trimmed in a short-lived child process to the providers we price.

genai-prices keeps its bundled prices in one generated module, ``genai_prices.data`` (1.6 MB
of source: every provider's models), and ``genai_prices.calc_price`` imports it on first use
and keeps it resident: +4.8 MiB of the service's RSS with the four SDKs loaded, for four
providers' prices (``bench/prices.py``; +2.0 MiB this way). Instead, a child (``python -m actors.providers.price_data ID...``)
imports it, keeps the whole entries of the providers asked for (with those they borrow
prices from, ``fallback_model_providers``) in the dataset's order, and writes them to
stdout; the service wraps them in a ``DataSnapshot`` of its own and prices with
``DataSnapshot.calc``, which is all ``calc_price`` does with the bundled snapshot. So
genai-prices' own matching (dated names, provider ids) and date-bound rates run on the same
entries, and the figures are the same.

The entries travel as a pickle, not JSON: genai-prices 0.2 has no public JSON form of its
providers (its ``TypeAdapter`` cannot serialise ``ModelPrice``, a plain class, and the parser
its updater uses is private), while a pickle carries the library's own objects, exact
Decimals included, by their public classes. The bytes come from this module run by the
service's own interpreter, so loading them trusts nothing that importing the package would not.

Bundled data only, never the network: the snapshot is built with ``from_auto_update=False``
(as the bundled one is: no auto-update timestamp on the results, no expiry), and nothing here
starts genai-prices' ``UpdatePrices``. The snapshot is ours, not installed with
``set_custom_snapshot``: other callers of ``calc_price`` in the process (tests that compare
with the full dataset) still see the bundled data.

If the child fails, times out or writes anything else, one warning line is logged and
``TrimmedDataset.calc`` prices with the bundled dataset in-process (``calc_price``): the
same figures, only the memory is not saved. A provider id outside the trimmed set (one
registered after the load) is priced that way too.
"""

from __future__ import annotations

import datetime as dt
import logging
import pickle
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from genai_prices.data_snapshot import DataSnapshot
    from genai_prices.types import PriceCalculation, Provider, Usage

__all__ = ["CHILD_TIMEOUT_SECONDS", "TrimmedDataset", "trim"]

log = logging.getLogger("roundtable.prices")

_MODULE: Final = "actors.providers.price_data"  # the child's entry point: this module

#: The child takes 0.3-0.5 s here (interpreter, pydantic, the dataset); a loaded machine
#: may take a few times that. A pricing call may wait for it once, on an agent's thread.
CHILD_TIMEOUT_SECONDS: Final = 15.0

#: What ``pickle.loads`` raises on bytes that are not a pickle of importable objects (the
#: pickle docs: "not necessarily limited to" AttributeError, EOFError, ImportError, IndexError).
_UNPICKLING_ERRORS: Final = (
    pickle.UnpicklingError, AttributeError, EOFError, ImportError, IndexError, TypeError, ValueError,
)


class TrimmedDataset:
    """The genai-prices entries of ``provider_ids``, from a child process run once.

    Thread-safe. The first ``load``, ``snapshot`` or ``calc`` runs the child (blocking up
    to ``timeout`` seconds: never on the event loop); concurrent callers wait for that one
    run. Its output is kept as bytes (about 150 KB for the four built-in providers) until
    the first ``snapshot`` or ``calc`` unpickles it (6 ms; about 1.7 MiB resident from
    then on), so that a service which has not priced anything yet does not hold the
    entries. ``argv`` replaces the child's command line (tests).
    """

    def __init__(
        self,
        provider_ids: Iterable[str],
        *,
        timeout: float = CHILD_TIMEOUT_SECONDS,
        argv: Sequence[str] | None = None,
    ) -> None:
        self.provider_ids = frozenset(provider_ids)
        self._argv = list(argv) if argv is not None else [sys.executable, "-m", _MODULE, *sorted(self.provider_ids)]
        self._timeout = timeout
        self._lock = threading.Lock()
        self._ran = False
        self._raw: bytes | None = None  # the child's output, until unpickled
        self._snapshot: DataSnapshot | None = None

    def load(self) -> None:
        """Run the child unless it has run; never raises (a failure is logged once, and
        ``calc`` then prices from the bundled dataset)."""
        with self._lock:
            self._run_once()

    def snapshot(self) -> DataSnapshot | None:
        """The trimmed entries (running the child first if it has not run); None when the
        child failed or wrote something else, and ``calc`` uses the bundled dataset."""
        with self._lock:
            self._run_once()
            if self._raw is not None:
                raw, self._raw = self._raw, None
                self._snapshot = _snapshot(raw)
                if self._snapshot is None:
                    _fall_back(f"{len(raw)} bytes that are not a list of providers")
            return self._snapshot

    def calc(self, usage: Usage, model_ref: str, provider_id: str, when: dt.datetime | None) -> PriceCalculation:
        """What ``genai_prices.calc_price(usage, model_ref, provider_id=provider_id,
        genai_request_timestamp=when)`` returns, from the trimmed entries when they cover
        ``provider_id``; ``LookupError`` when the dataset does not know the model."""
        if provider_id in self.provider_ids and (snapshot := self.snapshot()) is not None:
            return snapshot.calc(usage, model_ref, provider_id, None, when)
        from genai_prices import calc_price  # imports the whole bundled dataset

        return calc_price(usage, model_ref, provider_id=provider_id, genai_request_timestamp=when)

    def _run_once(self) -> None:
        """Under the lock: the child's output into ``_raw``, unless it has run."""
        if self._ran:
            return
        self._ran = True
        started = time.monotonic()
        try:
            done = subprocess.run(
                self._argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=self._timeout, check=False
            )
        except subprocess.TimeoutExpired:  # run() has killed it
            failure = f"no answer within {self._timeout:g} s"
        except OSError as exc:
            failure = f"cannot start it: {exc.strerror or exc}"
        else:
            if done.returncode == 0:
                self._raw = done.stdout
                log.debug("prices: genai-prices entries of %s in %.2f s",
                          ", ".join(sorted(self.provider_ids)), time.monotonic() - started)
                return
            last = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
            failure = f"exit status {done.returncode}: {last[0]}"
        _fall_back(failure)


def trim(providers: Sequence[Provider], provider_ids: Iterable[str]) -> list[Provider]:
    """The whole entries that ``calc_price`` would use for ``provider_ids``: each id's
    provider as genai-prices finds it, and the providers those fall back to for models they
    do not list, in the dataset's order (so a lookup by id finds the same entry first)."""
    from genai_prices.data_snapshot import find_provider_by_id

    every = list(providers)
    found = [p for i in provider_ids if (p := find_provider_by_id(every, i)) is not None]
    keep = {p.id for p in found} | {f for p in found for f in p.fallback_model_providers or ()}
    return [p for p in providers if p.id in keep]


def _snapshot(raw: bytes) -> DataSnapshot | None:
    """The child's pickle as a bundled-style snapshot; None if it is anything else."""
    from genai_prices.data_snapshot import DataSnapshot
    from genai_prices.types import Provider

    try:
        providers = pickle.loads(raw)  # our own child's output: see the module docstring
    except _UNPICKLING_ERRORS:
        return None
    if not isinstance(providers, list) or not all(isinstance(p, Provider) for p in providers):
        return None
    return DataSnapshot(providers=providers, from_auto_update=False)


def _fall_back(reason: str) -> None:
    log.warning("prices: the genai-prices child failed (%s); pricing from the bundled dataset in-process", reason)


def _main(provider_ids: Sequence[str]) -> int:
    """The child: the trimmed entries of ``provider_ids``, pickled, on stdout."""
    from genai_prices.data import providers

    pickle.dump(trim(providers, provider_ids), sys.stdout.buffer, protocol=pickle.HIGHEST_PROTOCOL)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
