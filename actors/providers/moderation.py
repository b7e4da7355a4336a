"""The moderation gate: every provider reply is reviewed before it may be revealed.

``ModerationGate.review(text, timeout)`` returns a ``Review``: ``passed``, ``flagged``
(with the category, never the text) or ``unavailable`` (the remote check could not answer
in time or failed). The local word list (``wordlist.py``) always runs first; the remote
check is OpenAI's ``omni-moderation-latest`` through the ``openai`` SDK
(``client.moderations.create``), on the same base URL and key as the OpenAI provider.

``MODERATION`` picks the checks: ``auto`` (the word list, plus OpenAI when an OpenAI key is
set), ``openai`` (both; the key is required), ``local`` (the word list only), ``off`` (no
gate: ``build_moderation`` returns None). ``MODERATION_FAIL=open`` lets a reply through
when the remote check is unavailable; the default (closed) withholds it. Templates are
ours and never reviewed. Thread-safe: called from every agent thread at once.
"""

from __future__ import annotations

import enum
import logging
import threading
from dataclasses import dataclass
from typing import Final, Protocol

from actors.providers.wordlist import WordList
from settings import Settings

__all__ = [
    "MAX_ANSWER_BYTES",
    "MODERATION_MODEL",
    "ModerationError",
    "ModerationGate",
    "Review",
    "Verdict",
    "build_moderation",
]

log = logging.getLogger("roundtable.moderation")

MODERATION_MODEL: Final = "omni-moderation-latest"
#: A review with less time than this cannot get an answer back: it is unavailable.
MIN_REVIEW_SECONDS: Final = 0.05
#: The moderation answer is one small JSON object; this bounds what we read of it.
MAX_ANSWER_BYTES: Final = 64 * 1024


class Verdict(enum.StrEnum):
    PASSED = "passed"
    FLAGGED = "flagged"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class Review:
    """What the gate decided; ``detail`` is a category or a reason, never the reply."""

    verdict: Verdict
    detail: str = ""
    by: str = ""  # "wordlist" or "openai"


class ModerationError(Exception):
    """The remote check gave no verdict (status, timeout, connection, malformed answer)."""


class RemoteModeration(Protocol):
    def flagged_categories(self, text: str, timeout: float) -> tuple[str, ...]:
        """The categories ``text`` is flagged for, () when clean; raises ``ModerationError``."""
        ...

    def close(self) -> None: ...


class ModerationGate:
    """The word list, then the remote check (if any); ``fail_open`` as ``MODERATION_FAIL``."""

    def __init__(
        self, wordlist: WordList, remote: RemoteModeration | None = None, *, fail_open: bool = False
    ) -> None:
        self._wordlist = wordlist
        self._remote = remote
        self.fail_open = fail_open

    @property
    def checks(self) -> str:
        """"wordlist" or "wordlist+openai", for the start-up log line."""
        return "wordlist+openai" if self._remote is not None else "wordlist"

    def review(self, text: str, timeout: float) -> Review:
        """Review ``text`` within ``timeout`` seconds; never raises."""
        category = self._wordlist.category(text)
        if category is not None:
            return Review(Verdict.FLAGGED, category, "wordlist")
        if self._remote is None:
            return Review(Verdict.PASSED, by="wordlist")
        if timeout < MIN_REVIEW_SECONDS:
            return Review(Verdict.UNAVAILABLE, "no time left", "openai")
        try:
            flagged = self._remote.flagged_categories(text, timeout)
        except ModerationError as exc:
            return Review(Verdict.UNAVAILABLE, str(exc), "openai")
        if flagged:
            return Review(Verdict.FLAGGED, ", ".join(flagged), "openai")
        return Review(Verdict.PASSED, by="openai")

    def close(self) -> None:
        if self._remote is not None:
            self._remote.close()


def build_moderation(settings: Settings) -> ModerationGate | None:
    """The gate ``settings`` ask for, or None for ``MODERATION=off``."""
    if settings.moderation == "off":
        return None
    wordlist = WordList.load(settings.moderation_wordlist)
    openai_settings = settings.providers.get("openai")
    remote: RemoteModeration | None = None
    wants_remote = settings.moderation in ("auto", "openai")
    if wants_remote and openai_settings is not None and openai_settings.configured:
        remote = _LazyOpenAI(openai_settings.base_url, openai_settings.api_keys)
    return ModerationGate(wordlist, remote, fail_open=settings.moderation_fail_open)


class _LazyOpenAI:
    """``OpenAIModeration``, imported and built on the first review: the openai SDK costs
    seconds and ~40 MiB, and start-up must not wait for it. Thread-safe."""

    def __init__(self, base_url: str, api_keys: tuple[str, ...]) -> None:
        self._args = (base_url, api_keys)
        self._remote: RemoteModeration | None = None
        self._lock = threading.Lock()

    def flagged_categories(self, text: str, timeout: float) -> tuple[str, ...]:
        with self._lock:
            if self._remote is None:
                from actors.providers.moderation_openai import OpenAIModeration

                self._remote = OpenAIModeration(*self._args)
            remote = self._remote
        return remote.flagged_categories(text, timeout)

    def close(self) -> None:
        with self._lock:
            remote = self._remote
        if remote is not None:
            remote.close()
