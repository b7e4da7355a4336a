"""One round in progress, as the Supervisor holds it.

Pure data and small helpers: the Supervisor owns the only instance and changes it on its
own thread; nothing here talks to another actor.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from actors.providers.base import Outcome
from actors.schedule import RoundPlan
from actors.view import MessageView, RoundView

__all__ = ["ActiveRound", "iso"]


@dataclass
class ActiveRound:
    conversation_id: int
    topic: str
    started_at: float
    scheduled_at: float | None
    forced: bool
    plan: RoundPlan
    revealed: list[MessageView] = field(default_factory=list)
    ready: dict[int, Outcome] = field(default_factory=dict)
    requested: set[int] = field(default_factory=set)
    #: The reveal time visitors were last told for each seq (``next`` in a message or state
    #: event, or a ``typing`` frame); a plan that moved away from it is announced again.
    announced: dict[int, float] = field(default_factory=dict)
    #: The seq being stored (it is revealed once stored), and when a failed store may be
    #: tried again.
    storing: int | None = None
    store_again_at: float = 0.0

    @classmethod
    def resumed(cls, active: RoundView, started_at: float,
                plan_from: Callable[[int], RoundPlan]) -> ActiveRound:
        """The stored round ``active`` taken up again (after a restart), its messages from
        ``next_seq`` on planned by ``plan_from(next_seq)``."""
        revealed = sorted(active.messages, key=lambda m: m.seq)
        return cls(active.id, active.topic, started_at, active.scheduled_at, active.forced,
                   plan_from(_after(revealed)), revealed)

    @property
    def next_seq(self) -> int:
        """After the last revealed seq (not the count: a save that failed leaves a gap in
        the stored messages, and a resumed round must never reuse a seq)."""
        return _after(self.revealed)

    def view(self, status: str = "active", ended_at: float | None = None) -> RoundView:
        """This round as stored: ``active`` with its messages so far, or as it ended."""
        return RoundView(
            id=self.conversation_id, topic=self.topic, status=status, scheduled_at=self.scheduled_at,
            started_at=self.started_at, ended_at=ended_at, forced=self.forced, skip_reason=None,
            message_count=len(self.revealed), messages=tuple(self.revealed),
        )


def _after(revealed: Sequence[MessageView]) -> int:
    """The seq after the last of ``revealed`` (in seq order), 1 when there is none."""
    return revealed[-1].seq + 1 if revealed else 1


def iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
