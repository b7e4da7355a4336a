"""Is the configured model still offered? Each provider's models endpoint, asked once.

``check_model(settings, api_key)`` lists the models the key may call (``models.list()`` in
the openai, anthropic and google-genai SDKs; Perplexity's ``GET /v1/models`` in OpenAI's
list format) and says whether the configured model is among them, and whether the
provider announced its retirement (OpenAI's ``shutdown_date``; Anthropic's ``lifecycle``
and ``retires_at``). ``KNOWN_RETIREMENTS`` adds dates the endpoints do not carry (Google's
list has none). Runs on the caller's thread and blocks for at most ``timeout`` seconds
(the whole call is bounded by ``call_limits``); never raises; never returns a key.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import httpx2

from actors.clock import DAY_SECONDS
from actors.providers import registry
from actors.providers.bounded import BoundedTransport, call_limits
from settings import ProviderSettings

__all__ = [
    "KNOWN_RETIREMENTS", "Lister", "ModelCheck", "ModelWatch", "Offered", "check_model", "judge",
    "list_anthropic", "list_gemini", "list_openai", "list_perplexity",
]

log = logging.getLogger("roundtable.models")

#: The running engine asks again this often (and at start-up): retirements get announced.
CHECK_INTERVAL_SECONDS: Final = DAY_SECONDS
#: How long ``ModelWatch.stop`` waits for the check in flight (a refused or answered one
#: takes milliseconds; one hanging on its timeout is left behind).
STOP_WAIT_SECONDS: Final = 5.0
#: A models list is small; more than this is not one.
MAX_LIST_BYTES: Final = 4 * 1024 * 1024
#: Announced retirements (YYYY-MM-DD) that the models endpoints do not report, checked
#: 2026-11-30 against the SDKs' deprecation notes and the providers' announcements.
KNOWN_RETIREMENTS: Final = {
    "openai": {"gpt-5": "2026-12-11", "gpt-5-mini": "2026-12-11", "gpt-5-nano": "2026-12-11",
               "o3": "2026-12-11"},
    "anthropic": {"claude-sonnet-4-5": "2026-11-30"},
    "gemini": {"gemini-2.5-flash": "2026-12-01", "gemini-2.5-pro": "2026-12-01"},
}


#: A provider's models lister (named by its ``ProviderSpec.models_lister``): what
#: ``(settings, api_key, timeout)`` may call, on the caller's thread; may raise anything.
Lister = Callable[[ProviderSettings, str, float], "list[Offered]"]


@dataclass(frozen=True)
class Offered:
    """One model a provider lists; ``retires`` is a YYYY-MM-DD date when announced."""

    id: str
    retires: str | None = None
    retired: bool = False


@dataclass(frozen=True)
class ModelCheck:
    """``status``: ok, retiring, retired, unknown, error or unchecked (see architecture.md)."""

    status: str
    detail: str | None = None
    checked_at: float | None = None

    @property
    def warns(self) -> bool:
        return self.status in ("retiring", "retired", "unknown")


def check_model(
    settings: ProviderSettings, api_key: str, *, timeout: float, now: float
) -> ModelCheck:
    """Ask ``settings.name``'s models endpoint about ``settings.model``; never raises."""
    lister = _lister(settings.name)
    if lister is None:
        return ModelCheck("unchecked", "no models endpoint known", now)
    try:
        with call_limits(timeout, MAX_LIST_BYTES):
            offered = lister(settings, api_key, timeout)
    except Exception as exc:  # any SDK or transport error only means "could not ask"
        return ModelCheck("error", _describe(exc, api_key), now)
    return judge(settings.name, settings.model, offered, now)


def _lister(provider: str) -> Lister | None:
    """The models lister ``provider``'s spec names (``ProviderSpec.models_lister``)."""
    try:
        spec = registry.get(provider)
    except KeyError:
        return None
    return spec.lister()


def judge(provider: str, model: str, offered: list[Offered], now: float) -> ModelCheck:
    """The verdict on ``model`` given what the provider lists (pure)."""
    name = model.removeprefix("models/")
    match = _find(name, offered)
    if match is None:
        return ModelCheck("unknown", f"not offered to this key ({len(offered)} models listed)", now)
    retires = match.retires or KNOWN_RETIREMENTS.get(provider, {}).get(name)
    today = dt.datetime.fromtimestamp(now, dt.UTC).date().isoformat()
    if match.retired or (retires is not None and retires <= today):
        return ModelCheck("retired", f"retired{f' on {retires}' if retires else ''}", now)
    if retires is not None:
        return ModelCheck("retiring", f"retires on {retires}", now)
    return ModelCheck("ok", f"offered as {match.id}" if match.id != name else None, now)


def _find(model: str, offered: list[Offered]) -> Offered | None:
    """Exact id first, else a dated or versioned id of it ("claude-x" -> "claude-x-20261001")."""
    for item in offered:
        if item.id == model:
            return item
    versions = [item for item in offered if item.id.startswith(model + "-") and item.id[len(model) + 1:][:1].isdigit()]
    return versions[0] if versions else None


def _date(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()[:10]
    return str(value)[:10]


# The listers the built-in specs name. Each imports its SDK itself: this module is
# imported at start-up, and the SDKs cost 1-3 s and tens of MiB each (they load on the
# model watch's own thread).
def list_openai(settings: ProviderSettings, api_key: str, timeout: float) -> list[Offered]:
    from actors.providers.openai import bounded_client

    with bounded_client(api_key, settings.base_url, timeout=timeout) as client:
        return [Offered(m.id, _date(getattr(m, "shutdown_date", None))) for m in client.models.list()]


def list_anthropic(settings: ProviderSettings, api_key: str, timeout: float) -> list[Offered]:
    import anthropic

    with anthropic.Anthropic(
        api_key=api_key, base_url=settings.base_url, max_retries=0, timeout=timeout,
        http_client=anthropic.DefaultHttpxClient(transport=BoundedTransport()),
    ) as client:
        return [
            Offered(m.id, _date(getattr(m, "retires_at", None)),
                    retired=getattr(m, "lifecycle", None) == "retired")
            for m in client.models.list()
        ]


def list_gemini(settings: ProviderSettings, api_key: str, timeout: float) -> list[Offered]:
    from actors.providers.gemini import bounded_client

    client = bounded_client(api_key, settings.base_url, timeout_ms=round(timeout * 1000))
    try:
        return [Offered((m.name or "").removeprefix("models/")) for m in client.models.list()]
    finally:
        client.close()


def list_perplexity(settings: ProviderSettings, api_key: str, timeout: float) -> list[Offered]:
    with httpx2.Client(transport=BoundedTransport(), timeout=timeout, follow_redirects=False) as client:
        response = client.get(f"{settings.base_url}/v1/models",
                              headers={"Authorization": f"Bearer {api_key}"})
        response.raise_for_status()
        data = response.json().get("data") or []
    return [Offered(str(item["id"])) for item in data if isinstance(item, dict) and "id" in item]


def _describe(exc: Exception, api_key: str) -> str:
    """A short, key-free reason: "HTTP 401", "APITimeoutError", ..."""
    status = getattr(exc, "status_code", None) or getattr(exc, "code", None)
    response = getattr(exc, "response", None)
    if status is None and response is not None:
        status = getattr(response, "status_code", None)
    text = f"HTTP {status}" if isinstance(status, int) else type(exc).__name__
    return text.replace(api_key, "***") if api_key else text


class ModelWatch:
    """Checks every configured provider's model at ``start``, then every ``interval``
    seconds, on one daemon thread of its own (start-up never waits for it), and hands each
    result to ``report(provider, check)`` (``ProviderGateway.set_model_check``)."""

    def __init__(
        self,
        providers: list[ProviderSettings],
        report: Callable[[str, ModelCheck], None],
        now: Callable[[], float],
        *,
        interval: float = CHECK_INTERVAL_SECONDS,
        timeout: float = 15.0,
    ) -> None:
        self._providers = [p for p in providers if p.configured]
        self._report = report
        self._now = now
        self._interval = interval
        self._timeout = timeout
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="model-watch", daemon=True)

    def start(self) -> ModelWatch:
        if self._providers:
            self._thread.start()
        return self

    def is_alive(self) -> bool:
        """Whether the thread is running (a check in flight, or waiting for the next)."""
        return self._thread.is_alive()

    def stop(self, wait: float = STOP_WAIT_SECONDS) -> None:
        """Any thread: no check after this one, and the one in flight gets ``wait`` seconds
        to end. A check builds TLS contexts and clients: a process that exits while one
        does is torn down under it (OpenSSL's exit cleanup, a SIGSEGV seen in CI when the
        engine stopped right after the first check began). One still running after that
        is left behind (the thread is a daemon)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(wait)
            if self._thread.is_alive():
                log.warning("a model check is still in flight after %g s; leaving it behind", wait)

    def _run(self) -> None:
        while not self._stop.is_set():
            for settings in self._providers:
                if self._stop.is_set():
                    return
                check = check_model(settings, settings.api_keys[0], timeout=self._timeout, now=self._now())
                level = logging.WARNING if check.warns else logging.INFO
                log.log(level, "%s model %s: %s%s", settings.name, settings.model, check.status,
                        f" ({check.detail})" if check.detail else "")
                self._report(settings.name, check)
            self._stop.wait(self._interval)
