"""The provider seam and its error tree.

A ``Provider`` turns one ``GenerationRequest`` into one ``Reply`` with a single API call
(no retries of its own: the SDKs' retries are off and ``ProviderChain`` owns the one retry
loop). Every failure leaves a provider module as a ``ProviderError``::

    ProviderError(message, kind=ErrorKind.X, status=None, retry_after=None)
      kind                    what happened                          retryable
      ----------------------  -------------------------------------  ---------
      http                    an HTTP error a retry will not fix     no
                              (400, 404, 413, 422, ...; or unknown)
      unavailable             408, 409, 429, any 5xx (529 too)       yes
      spend_limit             a 429/402 meaning out of credit        no
      auth                    401/403: the key is rested             no
      timeout                 no answer in time                      yes
      too_large               the answer passed the size cap         yes (cut off, never read whole)
      connection              could not connect                      yes
      malformed               the answer could not be parsed         yes (another try may parse)
      empty                   the answer held no text                yes
      failed                  the API reported a failed run          yes
      blocked                 the model refused (safety)             no
      quality                 rejected by our quality gate           yes
      moderation              flagged by our moderation gate         no
      moderation_unavailable  moderation could not review in time    no
      internal                a provider module raised a non-        no
                              ProviderError (a bug)

The kind carries its retryability (``ErrorKind.retryable``, in ``errors``); every retryable
kind, plus ``quality``, ``too_large`` and ``moderation``, counts against the provider's
circuit (``ErrorKind.unhealthy``); the gateway bounds every call as a whole
(``bounded.call_limits``).

``errors.classify_status`` maps an HTTP status to its kind and ``errors.parse_retry_after``
reads ``Retry-After``; each provider module adds only its own exceptions to them.
Foreign errors are translated where they are caught: ``raise ProviderError(...) from exc``.
``str(ProviderError)`` never contains a key.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol

from actors.personas import Persona
from actors.providers.errors import HTTP_KINDS, ErrorKind

__all__ = [
    "ApiCall",
    "Citation",
    "EarlierRound",
    "ErrorKind",
    "GenerationRequest",
    "Outcome",
    "Provider",
    "ProviderError",
    "Reply",
    "Source",
    "Turn",
]


class Source(enum.StrEnum):
    API = "api"  # the agent's own provider wrote it
    FALLBACK = "fallback"  # another provider stood in
    TEMPLATE = "template"  # no API answered; a template wrote it


@dataclass(frozen=True)
class Turn:
    """One earlier message of the round, as the next speaker sees it."""

    agent: str
    persona: str
    content: str


@dataclass(frozen=True)
class EarlierRound:
    """A finished round as later rounds remember it: its topic and a line or two."""

    topic: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class GenerationRequest:
    persona: Persona
    topic: str
    history: tuple[Turn, ...]
    seq: int  # 1-based position of the message being written
    messages_per_round: int
    deadline: float  # epoch seconds: past it, give up and fall back
    earlier: tuple[EarlierRound, ...] = ()  # the digest of recent rounds, newest first


@dataclass(frozen=True)
class Citation:
    url: str
    title: str = ""


@dataclass(frozen=True)
class Reply:
    """What one successful API call produced."""

    text: str
    model: str  # the model the API reports
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None  # set when the provider reports its own cost
    citations: tuple[Citation, ...] = ()


class ProviderError(Exception):
    """One failed call to a provider, already classified: ``kind`` says whether to retry."""

    def __init__(
        self,
        message: str,
        *,
        kind: ErrorKind = ErrorKind.HTTP,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.kind.retryable

    @property
    def error_class(self) -> str:
        """Short label for logs, ``api_calls.error_class`` and ``/api/status``: the HTTP
        status for the HTTP kinds ("429", or "http" without one), else the kind."""
        if self.kind in HTTP_KINDS:
            return str(self.status) if self.status else str(ErrorKind.HTTP)
        return str(self.kind)


class Provider(Protocol):
    """One API. ``generate`` makes exactly one call, bounded by ``timeout`` seconds.

    Runs on an agent actor's thread; may block. Raises ``ProviderError`` only.
    """

    name: str
    model: str

    def generate(self, request: GenerationRequest, *, api_key: str, timeout: float) -> Reply: ...


@dataclass(frozen=True)
class ApiCall:
    """One provider call, as stored in ``api_calls``."""

    provider: str
    model: str
    ok: bool
    at: float  # epoch seconds when the call started
    latency_ms: int
    error_class: str | None = None
    status_code: int | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


@dataclass(frozen=True)
class Outcome:
    """The accepted reply for one message, with honest attribution."""

    content: str
    provider: str  # who really answered ("template" for templates)
    model: str
    source: Source
    citations: tuple[Citation, ...] = ()
    latency_ms: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    cost_estimated: bool = False  # priced at the provider's fallback rate (model unknown)
    fallback_reason: str | None = None
    calls: tuple[ApiCall, ...] = field(default=())
