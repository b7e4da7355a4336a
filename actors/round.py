"""One round in progress, as the Supervisor holds it, and the wire's time unit.

Pure data and small helpers: the Supervisor owns the only instance and changes it on its
own thread; nothing here talks to another actor.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from actors.providers.base import Outcome
from actors.schedule import RoundPlan

__all__ = ["ActiveRound", "countdown_view", "iso", "ms", "status_view"]


def ms(seconds: float | None) -> int | None:
    return None if seconds is None else int(round(seconds * 1000))


@dataclass
class ActiveRound:
    conversation_id: int
    topic: str
    started_at: float
    scheduled_at: float | None
    forced: bool
    plan: RoundPlan
    revealed: list[dict[str, Any]] = field(default_factory=list)
    ready: dict[int, Outcome] = field(default_factory=dict)
    requested: set[int] = field(default_factory=set)
    #: The reveal time visitors were last told for each seq (``next`` in a message or state
    #: event, or a ``typing`` frame); a plan that moved away from it is announced again.
    announced: dict[int, float] = field(default_factory=dict)
    #: The seq being stored (it is revealed once stored), and when a failed store may be
    #: tried again.
    storing: int | None = None
    store_again_at: float = 0.0

    @property
    def next_seq(self) -> int:
        """After the last revealed seq (not the count: a save that failed leaves a gap in
        the stored messages, and a resumed round must never reuse a seq)."""
        return self.revealed[-1]["seq"] + 1 if self.revealed else 1

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.conversation_id,
            "topic": self.topic,
            "status": "active",
            "started_at": ms(self.started_at),
            "forced": self.forced,
        }


def iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def countdown_view(view: dict[str, Any]) -> dict[str, Any]:
    """The ``/api/countdown`` body from a snapshot (``include_messages=False``)."""
    remaining = None
    if view["next_round_at"] is not None:
        remaining = max(0.0, (view["next_round_at"] - view["server_time"]) / 1000)
    return {
        "state": view["state"],
        "server_time": view["server_time"],
        "next_round_at": view["next_round_at"],
        "seconds_remaining": remaining,
        "next_topic": view["next_topic"],
    }


def status_view(view: dict[str, Any], providers: dict[str, Any], today: dict[str, Any]) -> dict[str, Any]:
    """The ``/api/status`` body from a snapshot, provider health and today's totals."""
    return {
        "state": view["state"],
        "server_time": view["server_time"],
        "next_round_at": view["next_round_at"],
        "next_topic": view["next_topic"],
        "queued_topics": view.get("queued_topics", []),
        "conversation": view["conversation"],
        "last_conversation": view["last_conversation"],
        "agents": view["agents"],
        "providers": providers,
        "today": today,
    }
