"""Every wire shape, built from the typed views of ``actors.view``: pure functions.

The one place where seconds become epoch milliseconds (``ms``) for visitors and clients:
the WebSocket events (``hello``, ``state``, ``typing``, ``message``, ``pong``), the
``/control`` answer (``snapshot``), ``/api/countdown`` (also ``stopped_countdown``, for an
embedder without an engine), ``/api/status``, the conversation views (``summary`` in
lists, ``conversation`` with its messages) and the admin reads (``audit_entry``,
``failure``). ``seconds`` is the way back. The tables have their own converter
(``storage.models.to_ms``). docs/architecture.md lists the shapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from actors.providers import registry
from actors.view import (
    EngineView,
    FailureView,
    MessageView,
    ModerationView,
    ProviderHealth,
    RoundView,
    StatusView,
    Upcoming,
)

__all__ = [
    "agents",
    "audit_entry",
    "control_answer",
    "conversation",
    "countdown",
    "failure",
    "hello",
    "message",
    "message_details",
    "message_event",
    "ms",
    "pong",
    "restamp_countdown",
    "seconds",
    "snapshot",
    "state",
    "status",
    "stopped_countdown",
    "summary",
    "typing",
    "upcoming",
    "upcoming_of",
]

if TYPE_CHECKING:
    from storage.audit import AuditRecord

Wire = dict[str, Any]


def ms(seconds: float | None) -> int | None:
    """Epoch seconds -> epoch milliseconds (an int) for the wire; None stays None."""
    return None if seconds is None else int(round(seconds * 1000))


def seconds(epoch_ms: float) -> float:
    """``ms``'s inverse, for what comes back from the wire (a standby's events, a stamp)."""
    return epoch_ms / 1000


# -- conversations and messages ------------------------------------------------------
def message_details(
    latency_ms: int, prompt_tokens: int, completion_tokens: int, cost_usd: float,
    fallback_reason: str | None, cost_estimated: bool = False,
) -> Wire:
    """The per-message details every operator surface shows (and the widget's details
    toggle). ``fallback_reason`` is key-free (the provider chain redacts it)."""
    return {
        "latency_ms": int(latency_ms or 0),
        "prompt_tokens": int(prompt_tokens or 0),
        "completion_tokens": int(completion_tokens or 0),
        "cost_usd": round(float(cost_usd or 0.0), 6),
        "fallback_reason": fallback_reason,
        "cost_estimated": bool(cost_estimated),
    }


def message(m: MessageView) -> Wire:
    """One stored message, as ``hello``, ``message`` events and ``/api/conversations/<id>``
    carry it."""
    return {
        "conversation_id": m.conversation_id, "seq": m.seq, "agent": m.agent, "persona": m.persona,
        "provider": m.provider, "model": m.model, "source": m.source, "content": m.content,
        "citations": [{"url": c.url, "title": c.title} for c in m.citations],
        "revealed_at": ms(m.revealed_at),
        **message_details(m.latency_ms, m.prompt_tokens, m.completion_tokens, m.cost_usd,
                          m.fallback_reason, m.cost_estimated),
    }


def summary(r: RoundView) -> Wire:
    """A conversation without its messages (lists, ``conversation``, ``last_conversation``)."""
    return {
        "id": r.id, "topic": r.topic, "status": r.status, "scheduled_at": ms(r.scheduled_at),
        "started_at": ms(r.started_at), "ended_at": ms(r.ended_at), "forced": r.forced,
        "skip_reason": r.skip_reason, "message_count": r.message_count,
    }


def conversation(r: RoundView) -> Wire:
    """A conversation with its messages in seq order (``/api/conversations/<id>``)."""
    return {**summary(r), "messages": [message(m) for m in r.messages]}


def _summary_or_none(r: RoundView | None) -> Wire | None:
    return None if r is None else summary(r)


# -- the engine's view ---------------------------------------------------------------
def upcoming(u: Upcoming | None) -> Wire | None:
    if u is None:
        return None
    return {"seq": u.seq, "agent": u.agent, "persona": u.persona, "at": ms(u.at), "typing_at": ms(u.typing_at)}


def upcoming_of(data: Mapping[str, Any]) -> Upcoming:
    """``upcoming``'s inverse: the plan a standby learns from the engine's events."""
    return Upcoming(int(data["seq"]), str(data["agent"]), str(data["persona"]),
                    seconds(float(data["at"])), seconds(float(data["typing_at"])))


def snapshot(view: EngineView) -> Wire:
    """The engine's view without messages: the ``/control`` answer, and ``hello``'s body."""
    return {
        "server_time": ms(view.now),
        "state": view.state,
        "next_round_at": ms(view.next_round_at),
        "next_topic": view.next_topic,
        "queued_topics": list(view.queued_topics),
        "conversation": _summary_or_none(view.conversation),
        "last_conversation": _summary_or_none(view.last_conversation),
        "messages_per_round": view.messages_per_round,
        "agents": agents(view),
        "next": upcoming(view.next),
    }


def control_answer(action: str, snapshot_body: Mapping[str, Any]) -> Wire:
    """``POST /control``'s answer to an accepted command: ``{"ok", "action", ...snapshot}``
    (``snapshot_body`` is ``snapshot(view)``, possibly the engine's, relayed)."""
    return {"ok": True, "action": action, **snapshot_body}


def agents(view: EngineView) -> list[dict[str, str]]:
    """``[{id, persona, label, colour, colour_dark}]`` in speaking order (the registry's
    description of each agent), in ``hello`` and ``/api/status``."""
    return registry.agents_view(view.agents)


def hello(view: EngineView) -> Wire:
    """Sent on connect: enough to rebuild the page (the current round's messages so far)."""
    messages = view.conversation.messages if view.conversation is not None else ()
    return {"type": "hello", **snapshot(view), "messages": [message(m) for m in messages]}


def state(view: EngineView) -> Wire:
    current = view.conversation
    return {
        "type": "state",
        "state": view.state,
        "conversation_id": current.id if current else None,
        "topic": current.topic if current else None,
        "server_time": ms(view.now),
        "next_round_at": ms(view.next_round_at),
        "next_topic": view.next_topic,
        "next": upcoming(view.next),
    }


def typing(conversation_id: int, next_up: Upcoming) -> Wire:
    return {"type": "typing", "conversation_id": conversation_id, **(upcoming(next_up) or {})}


def message_event(m: MessageView, next_up: Upcoming | None) -> Wire:
    return {"type": "message", **message(m), "next": upcoming(next_up)}


def pong(t: object, now: float) -> Wire:
    """The answer to ``{"type": "ping", "t": client_ms}`` (clock sync)."""
    return {"type": "pong", "t": t, "server_time": ms(now)}


# -- polling endpoints ---------------------------------------------------------------
def countdown(view: EngineView) -> Wire:
    """``/api/countdown``."""
    body = {"state": view.state, "next_round_at": ms(view.next_round_at), "next_topic": view.next_topic}
    return restamp_countdown(body, view.now)


def stopped_countdown(now: float) -> Wire:
    """``/api/countdown``'s keys when no engine runs in the process (the embedding API)."""
    return restamp_countdown({"state": "stopped", "next_round_at": None, "next_topic": None}, now)


def restamp_countdown(body: Mapping[str, Any], now: float) -> Wire:
    """A countdown body as of ``now`` (``server_time`` and ``seconds_remaining``)."""
    now_ms = ms(now)
    assert now_ms is not None
    at = body.get("next_round_at")
    remaining = None if at is None else max(0.0, seconds(at - now_ms))
    return {
        "state": body["state"], "server_time": now_ms, "next_round_at": at,
        "seconds_remaining": remaining, "next_topic": body.get("next_topic"),
    }


def provider_health(h: ProviderHealth) -> Wire:
    return {
        "configured": h.configured, "model": h.model, "keys": h.keys, "keys_available": h.keys_available,
        "circuit": h.circuit, "last_error": h.last_error, "last_error_at": ms(h.last_error_at),
        "p50_latency_ms": h.p50_latency_ms, "p95_latency_ms": h.p95_latency_ms,
        "calls_today": h.calls_today, "prompt_tokens_today": h.prompt_tokens_today,
        "completion_tokens_today": h.completion_tokens_today,
        "cost_today_usd": round(h.cost_today_usd, 6),
        "model_check": {"status": h.model_check.status, "detail": h.model_check.detail,
                        "checked_at": ms(h.model_check.checked_at)},
        "moderation": dict(h.moderation),
    }


def moderation(m: ModerationView) -> Wire:
    """``/api/status``'s ``moderation``: the gate as set and as in effect."""
    return {"mode": m.mode, "checks": m.checks, "fails": m.fails, "detail": m.detail}


def failure(f: FailureView) -> Wire:
    """One failed provider call in ``/api/admin/errors``."""
    return {"provider": f.provider, "model": f.model, "error_class": f.error_class,
            "status_code": f.status_code, "latency_ms": f.latency_ms, "at": ms(f.at)}


def audit_entry(r: AuditRecord) -> Wire:
    """One admin request in ``/api/admin/audit``."""
    return {"id": r.id, "at": ms(r.at), "action": r.action, "result": r.result, "status": r.status,
            "detail": r.detail, "client": r.client, "token_fingerprint": r.token_fingerprint}


def status(view: StatusView) -> Wire:
    """``/api/status`` (less ``version``, which the web layer adds): the same keys on
    every instance, whatever its role."""
    engine, today = view.engine, view.today
    return {
        "state": engine.state,
        "server_time": ms(engine.now),
        "next_round_at": ms(engine.next_round_at),
        "next_topic": engine.next_topic,
        "queued_topics": list(engine.queued_topics),
        "conversation": _summary_or_none(engine.conversation),
        "last_conversation": _summary_or_none(engine.last_conversation),
        "agents": agents(engine),
        "providers": {name: provider_health(h) for name, h in view.providers.items()},
        "today": {"calls": today.calls, "prompt_tokens": today.prompt_tokens,
                  "completion_tokens": today.completion_tokens, "cost_usd": round(today.cost_usd, 6)},
        "budget": dict(view.budget),
        "moderation": moderation(view.moderation),
        "role": view.role,
        "instance": view.instance,
    }
