"""The provider seam and its error tree.

A ``Provider`` turns one ``GenerationRequest`` into one ``Reply`` with a single API call
(no retries of its own: the SDKs' retries are off and ``ProviderChain`` owns the one retry
loop). Every failure leaves a provider module as a ``ProviderError``::

    ProviderError(message, status=None, retryable=False, retry_after=None, kind="...")
      kind  what happened                          retryable
      ----  -------------------------------------  ---------------------------------
      http        an HTTP error status              408, 409, 429, 5xx (529 too); not a
                                                    spend-limit 429, not 400/401/403/404/413/422
      auth        401/403: the key is rested        no
      timeout     no answer in time                 yes
      too_large   the answer passed the size cap    yes (cut off, never read whole)
      connection  could not connect                 yes
      malformed   the answer could not be parsed    yes (another try may parse)
      empty       the answer held no text           yes
      failed      the API reported a failed run     yes
      blocked     the model refused (safety)        no
      quality     rejected by our quality gate      yes

``timeout``, ``too_large`` and ``quality`` count against the provider's circuit, like any
retryable error; the gateway bounds every call as a whole (``bounded.call_limits``).

``errors.classify_status`` holds the http/auth rows and ``errors.parse_retry_after`` reads
``Retry-After``; each provider module adds only its own exceptions to them.
Foreign errors are translated where they are caught: ``raise ProviderError(...) from exc``.
``str(ProviderError)`` never contains a key.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol

from actors.personas import Persona

__all__ = [
    "ApiCall",
    "Citation",
    "EarlierRound",
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
    """One failed call to a provider, already classified."""

    def __init__(
        self,
        message: str,
        *,
        kind: str = "http",
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after

    @property
    def error_class(self) -> str:
        """Short label for logs, ``api_calls.error_class`` and ``/api/status``."""
        return f"{self.status}" if self.kind == "http" and self.status else self.kind


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
