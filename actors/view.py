"""The engine as one typed value, in epoch SECONDS: what every wire shape is built from.

The engine (``Supervisor.view``, from memory) and a standby (``StandbySystem.view``, from
the database) both build an ``EngineView`` with ``engine_view``; ``actors.wire`` turns it
into ``hello``, ``state``, the countdown and ``/api/status`` (epoch milliseconds). So the
two roles cannot drift apart: a field added here reaches every producer and every shape.

Frozen dataclasses, safe to hand between actors and threads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from actors.topics import next_topic_of, queued_topics_of

__all__ = [
    "Citation",
    "EngineView",
    "FailureView",
    "MessageView",
    "ModelCheckView",
    "ModerationView",
    "ProviderHealth",
    "RoundView",
    "StatusView",
    "Today",
    "Upcoming",
    "engine_view",
]


@dataclass(frozen=True)
class Citation:
    url: str
    title: str


@dataclass(frozen=True)
class MessageView:
    """One revealed (stored) message. ``latency_ms`` is a duration, not a time."""

    conversation_id: int
    seq: int
    agent: str
    persona: str
    provider: str
    model: str
    source: str
    content: str
    citations: tuple[Citation, ...]
    revealed_at: float
    latency_ms: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    fallback_reason: str | None = None
    cost_estimated: bool = False


@dataclass(frozen=True)
class RoundView:
    """One conversation (a round, or a skipped slot); ``messages`` only where asked for."""

    id: int
    topic: str
    status: str
    scheduled_at: float | None
    started_at: float | None
    ended_at: float | None
    forced: bool
    skip_reason: str | None
    message_count: int
    messages: tuple[MessageView, ...] = ()


@dataclass(frozen=True)
class Upcoming:
    """Who speaks next and when (``at``); the widget shows them typing at ``typing_at``."""

    seq: int
    agent: str
    persona: str
    at: float
    typing_at: float


@dataclass(frozen=True)
class EngineView:
    """What a visitor needs: the state, the next round, the current and last rounds.
    ``conversation.messages`` are the current round's messages so far."""

    now: float
    state: str
    next_round_at: float | None
    next_topic: str | None
    queued_topics: tuple[str, ...]
    conversation: RoundView | None
    last_conversation: RoundView | None
    messages_per_round: int
    #: The agents (provider names) in speaking order; the registry describes each.
    agents: tuple[str, ...] = ()
    #: The plan lives in the engine: a standby says None, and its visitors learn who
    #: speaks next from the next ``message`` or ``state`` event.
    next: Upcoming | None = None


@dataclass(frozen=True)
class FailureView:
    """One failed provider call as stored (``/api/admin/errors``); ``at`` in epoch seconds."""

    provider: str
    model: str
    error_class: str | None
    status_code: int | None
    latency_ms: int
    at: float


@dataclass(frozen=True)
class ModelCheckView:
    """What the provider's models endpoint said of the configured model (None: not known
    here, e.g. on a standby)."""

    status: str | None = None
    detail: str | None = None
    checked_at: float | None = None


@dataclass(frozen=True)
class ProviderHealth:
    """One provider's health for ``/api/status``; None where this instance cannot know
    (a standby knows the settings and today's ``api_calls``, not circuits or latency)."""

    configured: bool
    model: str
    keys: int
    calls_today: int
    prompt_tokens_today: int
    completion_tokens_today: int
    cost_today_usd: float
    keys_available: int | None = None
    circuit: str | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    p50_latency_ms: int | None = None
    p95_latency_ms: int | None = None
    model_check: ModelCheckView = field(default_factory=ModelCheckView)
    #: Replies reviewed since start, per verdict (None per verdict where not known).
    moderation: Mapping[str, int | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Today:
    """Today's (UTC) provider calls, tokens and cost, all providers together."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    @classmethod
    def of(cls, providers: Mapping[str, ProviderHealth]) -> Today:
        health = providers.values()
        return cls(
            sum(h.calls_today for h in health), sum(h.prompt_tokens_today for h in health),
            sum(h.completion_tokens_today for h in health), sum(h.cost_today_usd for h in health),
        )


@dataclass(frozen=True)
class ModerationView:
    """The moderation gate for ``/api/status``; None where this instance cannot know (a
    standby knows the settings, not what the engine's gate found at run time).

    ``mode`` is ``MODERATION`` as set (``auto``, ``openai``, ``local``, ``off``); ``checks``
    the checks in effect (``wordlist+openai``, ``wordlist``, ``none``); ``fails`` is
    ``MODERATION_FAIL`` (``closed``, ``open``; None when off); ``detail`` says why the checks
    in effect are not what ``mode`` promises, or what is wrong (None: nothing to say)."""

    mode: str | None = None
    checks: str | None = None
    fails: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class StatusView:
    """``/api/status``: the engine view plus who answers, provider health and spend.
    ``budget`` is ``DailyBudget.view()`` (USD only, no times)."""

    engine: EngineView
    role: str
    instance: str
    providers: Mapping[str, ProviderHealth]
    today: Today
    budget: Mapping[str, Any]
    moderation: ModerationView  # every producer says it: the same keys from each


def engine_view(
    *, now: float, state: str, next_round_at: float | None, deck: Mapping[str, Any] | None,
    conversation: RoundView | None, last_conversation: RoundView | None,
    messages_per_round: int, agents: tuple[str, ...] = (), upcoming: Upcoming | None = None,
) -> EngineView:
    """The one way to build an ``EngineView``, on the engine and on a standby alike.
    ``deck`` is the topic deck's ``state()`` (live, or as saved in ``topic_deck``)."""
    return EngineView(
        now=now, state=state, next_round_at=next_round_at, next_topic=next_topic_of(deck),
        queued_topics=tuple(queued_topics_of(deck)), conversation=conversation,
        last_conversation=last_conversation, messages_per_round=messages_per_round, agents=agents,
        next=upcoming,
    )
