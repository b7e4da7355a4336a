"""The moderation gate: every provider reply is reviewed before it may be revealed.

``ModerationGate.review(text, timeout)`` returns a ``Review``: ``passed``, ``flagged``
(with the category, never the text) or ``unavailable`` (the remote check could not answer
in time or failed). The local word list (``wordlist.py``) always runs first; the remote
check is OpenAI's ``omni-moderation-latest`` through the ``openai`` SDK
(``client.moderations.create``), on the same base URL and key as the OpenAI provider.

``MODERATION`` picks the checks: ``auto`` (the word list, plus OpenAI where its
``/moderations`` exists: an OpenAI key and ``OPENAI_BASE_URL`` on OpenAI's own API),
``openai`` (both, on any base URL; the key is required), ``local`` (the word list only),
``off`` (no gate: ``build_moderation`` returns None). ``MODERATION_FAIL=open`` lets a reply
through when the remote check is unavailable; the default (closed) withholds it.

An endpoint that answers 404 or 405 is not there (``ModerationMissing``). In ``auto`` the
gate then uses the word list only, says so once in the log and in ``view()``, and asks
again every ``MISSING_RECHECK_SECONDS`` (a recheck that fails some other way, or times
out, keeps the word list's verdict); in ``openai`` (asked for explicitly) it stays
unavailable, so fail closed withholds every reply, with one error line a minute at most.
Templates are ours and never reviewed. Thread-safe: called from every agent thread at once.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol
from urllib.parse import urlsplit

from actors.providers import registry
from actors.providers.wordlist import WordList
from actors.view import ModerationView
from settings import Settings

__all__ = [
    "MAX_ANSWER_BYTES",
    "MODERATION_MODEL",
    "ModerationError",
    "ModerationGate",
    "ModerationMissing",
    "Review",
    "Verdict",
    "build_moderation",
    "failure_mode",
    "is_openai_api",
    "remote_check_wanted",
]

log = logging.getLogger("roundtable.moderation")

MODERATION_MODEL: Final = "omni-moderation-latest"
#: A review with less time than this cannot get an answer back: it is unavailable.
MIN_REVIEW_SECONDS: Final = 0.05
#: The moderation answer is one small JSON object; this bounds what we read of it.
MAX_ANSWER_BYTES: Final = 64 * 1024
#: In ``auto``, after the endpoint answered "not there", ask again this often: a 404 from
#: OpenAI's own API may pass, and one request in ten minutes costs nothing.
MISSING_RECHECK_SECONDS: Final = 600.0
#: In ``openai``, the error line for a missing endpoint is logged at most this often.
MISSING_LOG_INTERVAL_SECONDS: Final = 60.0
#: Why ``auto`` on another base URL uses the word list only (start-up log, ``/api/status``).
NOT_OPENAI_API: Final = (
    "OPENAI_BASE_URL is not OpenAI's API; set MODERATION=openai to use its /moderations"
)


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


class ModerationMissing(ModerationError):
    """The remote check is not there: its endpoint answered 404 or 405 (a compatible
    server, a gateway or a local model server without ``/moderations``)."""


class RemoteModeration(Protocol):
    def flagged_categories(self, text: str, timeout: float) -> tuple[str, ...]:
        """The categories ``text`` is flagged for, () when clean; raises ``ModerationError``."""
        ...

    def close(self) -> None: ...


class ModerationGate:
    """The word list, then the remote check (if any); ``fail_open`` as ``MODERATION_FAIL``.

    ``mode`` is ``MODERATION``: in ``auto`` a missing remote check (``ModerationMissing``)
    means the word list only; in ``openai`` it is unavailable like any other failure.
    ``note`` says why a gate without a remote check has none (``view().detail``).
    ``monotonic`` is the clock for the recheck and the error line's interval (tests).
    """

    def __init__(
        self,
        wordlist: WordList,
        remote: RemoteModeration | None = None,
        *,
        fail_open: bool = False,
        mode: str = "auto",
        note: str | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._wordlist = wordlist
        self._remote = remote
        self.fail_open = fail_open
        self.mode = mode
        self._note = note
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._missing: str | None = None  # "HTTP 404" while the endpoint is not there
        self._missing_at = 0.0  # when it last said so (monotonic)
        self._error_logged_at: float | None = None

    @property
    def checks(self) -> str:
        """"wordlist" or "wordlist+openai": the checks in effect now."""
        return self.view().checks or "wordlist"

    def view(self) -> ModerationView:
        """The checks in effect and why they differ from ``mode``, for ``/api/status``."""
        with self._lock:
            checks = "wordlist+openai" if self._remote_in_use() else "wordlist"
            detail = self._note if self._missing is None else self._missing_detail(self._missing)
        return ModerationView(self.mode, checks, failure_mode(self.mode, self.fail_open), detail)

    def review(self, text: str, timeout: float) -> Review:
        """Review ``text`` within ``timeout`` seconds; never raises."""
        category = self._wordlist.category(text)
        if category is not None:
            return Review(Verdict.FLAGGED, category, "wordlist")
        remote, recheck = self._remote_to_ask()
        if remote is None:
            return Review(Verdict.PASSED, by="wordlist")
        if timeout < MIN_REVIEW_SECONDS:
            return self._unavailable("no time left", recheck)
        try:
            flagged = remote.flagged_categories(text, timeout)
        except ModerationMissing as exc:
            return self._not_there(str(exc))
        except ModerationError as exc:
            return self._unavailable(str(exc), recheck)
        self._there()
        if flagged:
            return Review(Verdict.FLAGGED, ", ".join(flagged), "openai")
        return Review(Verdict.PASSED, by="openai")

    def close(self) -> None:
        if self._remote is not None:
            self._remote.close()

    def _remote_in_use(self) -> bool:
        """Whether replies get the remote check. Caller holds the lock."""
        return self._remote is not None and (self._missing is None or self.mode == "openai")

    def _remote_to_ask(self) -> tuple[RemoteModeration | None, bool]:
        """The remote check to ask for this review, and whether asking is a recheck: in
        ``auto`` with the endpoint missing, only once ``MISSING_RECHECK_SECONDS`` have passed."""
        with self._lock:
            if self._remote_in_use():
                return self._remote, False
            now = self._monotonic()
            due = self._missing is not None and now - self._missing_at >= MISSING_RECHECK_SECONDS
            if due:
                self._missing_at = now  # one recheck at a time, not one per thread
            return (self._remote if due else None), due

    @staticmethod
    def _unavailable(reason: str, recheck: bool) -> Review:
        """The remote check gave no verdict. On a recheck the word list is what is in
        effect (``view()`` says so), so its verdict stands: the endpoint is still missing
        as far as anyone knows, and the reply is not withheld for asking."""
        if recheck:
            return Review(Verdict.PASSED, by="wordlist")
        return Review(Verdict.UNAVAILABLE, reason, "openai")

    def _not_there(self, status: str) -> Review:
        """The endpoint answered ``status`` (404/405): in ``auto`` the word list's verdict
        stands; in ``openai`` the review is unavailable, and one error line a minute says why."""
        now = self._monotonic()
        with self._lock:
            first = self._missing is None
            self._missing, self._missing_at = status, now
            quiet = self._error_logged_at is not None and now - self._error_logged_at < MISSING_LOG_INTERVAL_SECONDS
            if self.mode == "openai" and not quiet:
                self._error_logged_at = now
        if self.mode != "openai":
            if first:
                log.warning("moderation: wordlist only: %s", self._missing_detail(status))
            return Review(Verdict.PASSED, by="wordlist")
        if not quiet:
            log.error("moderation: %s (MODERATION=openai); set MODERATION=auto or local to use "
                      "the word list only", self._missing_detail(status))
        return Review(Verdict.UNAVAILABLE, f"{status}, no /moderations", "openai")

    def _there(self) -> None:
        """The endpoint answered: if it had been missing, say it is back."""
        with self._lock:
            was, self._missing, self._error_logged_at = self._missing, None, None
        if was is not None:
            log.info("moderation: OPENAI_BASE_URL's /moderations answers again: %s", self.checks)

    def _missing_detail(self, status: str) -> str:
        """What a missing endpoint means in this mode, in one line (log and view)."""
        found = f"OPENAI_BASE_URL's /moderations answered {status} (not there)"
        if self.mode != "openai":
            minutes = round(MISSING_RECHECK_SECONDS / 60)
            return f"{found}; asking again every {minutes} minutes"
        effect = "replies pass on the word list alone" if self.fail_open else "every reply is withheld"
        return f"{found}: {effect}"


def is_openai_api(base_url: str) -> bool:
    """Whether ``base_url`` is OpenAI's own API (the registry's default host, or a regional
    one under it such as ``eu.api.openai.com``), where ``/moderations`` exists."""
    official = urlsplit(registry.get("openai").base_url).hostname or ""
    try:
        host = (urlsplit(base_url).hostname or "").rstrip(".")
    except ValueError:
        return False
    return host == official or host.endswith("." + official)


def remote_check_wanted(settings: Settings) -> bool:
    """Whether ``settings`` use OpenAI's moderation check (see the module's docstring)."""
    openai_settings = settings.providers.get("openai")
    if openai_settings is None or not openai_settings.configured:
        return False
    if settings.moderation == "openai":
        return True
    return settings.moderation == "auto" and is_openai_api(openai_settings.base_url)


def failure_mode(mode: str, fail_open: bool) -> str | None:
    """``MODERATION_FAIL`` as ``/api/status`` says it: "open" or "closed"; None when ``mode``
    is "off" (nothing is reviewed, nothing can fail)."""
    return None if mode == "off" else "open" if fail_open else "closed"


def build_moderation(settings: Settings) -> ModerationGate | None:
    """The gate ``settings`` ask for, or None for ``MODERATION=off``."""
    if settings.moderation == "off":
        return None
    wordlist = WordList.load(settings.moderation_wordlist)
    openai_settings = settings.providers.get("openai")
    remote: RemoteModeration | None = None
    note: str | None = None
    if openai_settings is not None and openai_settings.configured:
        if remote_check_wanted(settings):
            remote = _LazyOpenAI(openai_settings.base_url, openai_settings.api_keys)
        elif settings.moderation == "auto":
            note = NOT_OPENAI_API  # a key, but another base URL: /moderations is likely not there
    return ModerationGate(
        wordlist, remote, fail_open=settings.moderation_fail_open, mode=settings.moderation, note=note
    )


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
