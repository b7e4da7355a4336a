"""``LazyProvider``: a provider whose module (and SDK) is imported on its first call.

The SDKs cost seconds and tens of MiB each to import (``bench/startup.py``: start-up to
``/healthz`` went from 0.25 s without keys to 1.6 s with all four). Start-up builds one
``LazyProvider`` per configured provider instead, so the engine and the web server come up
before any SDK loads; the first ``generate`` (an agent's thread, never the event loop)
or ``load`` (the model watch's thread) imports the module and builds the real provider.
"""

from __future__ import annotations

import importlib
import logging
import threading
from typing import Any

from actors.providers.base import GenerationRequest, Provider, ProviderError, Reply
from actors.providers.errors import ErrorKind
from settings import ProviderSettings, Settings

__all__ = ["LazyProvider", "load_sdks"]

log = logging.getLogger("roundtable.gateway")


class LazyProvider:
    """Stands in for the class at ``where`` (``"module:Class"``, as ``ProviderSpec.
    provider_class`` names it), built with ``settings``, until first used; thread-safe."""

    def __init__(self, settings: ProviderSettings, where: str) -> None:
        self.name = settings.name
        self.model = settings.model
        self._settings = settings
        self._where = where
        self._provider: Provider | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._provider is not None

    def load(self) -> Provider:
        """The real provider, importing its module on the first call (any thread; blocks
        for as long as the import takes). Raises ``ProviderError`` if it cannot import."""
        with self._lock:
            if self._provider is None:
                module, _, class_name = self._where.partition(":")
                try:
                    cls: Any = getattr(importlib.import_module(module), class_name)
                except ImportError as exc:
                    raise ProviderError(f"{self.name}: cannot import {module} ({exc})", kind=ErrorKind.INTERNAL) from exc
                self._provider = cls(self._settings)
            return self._provider

    def generate(self, request: GenerationRequest, *, api_key: str, timeout: float) -> Reply:
        return self.load().generate(request, api_key=api_key, timeout=timeout)

    def close(self) -> None:
        """Close the real provider's clients if it was ever built; never imports it."""
        with self._lock:
            provider = self._provider
        close = getattr(provider, "close", None)
        if callable(close):
            close()


def load_sdks(settings: Settings) -> None:
    """Import every configured provider's module (its registry entry's), genai-prices and
    the moderation check's, and run the price entries' child (``pricing.load_dataset``),
    so that first calls find them loaded. Blocks for seconds: run it on a thread of its own,
    never on the event loop or an actor's."""
    from actors.providers import pricing, registry
    from actors.providers.moderation import remote_check_wanted

    known = registry.names()
    modules = [registry.get(n).module for n, ps in settings.providers.items() if ps.configured and n in known]
    names = [*modules, "genai_prices"] if modules else []  # genai-prices: what prices replies
    if remote_check_wanted(settings):
        names.append("actors.providers.moderation_openai")
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as exc:  # the first call will say it again, where it matters
            log.debug("could not import %s early: %s", name, exc)
    if modules:  # the price entries that the first priced reply reads
        pricing.load_dataset()
