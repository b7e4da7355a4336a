"""The schedule as pure functions: the slot grid, gap plans and deadlines.

Rounds start on a grid aligned to the Unix epoch (UTC), so restarts and several
instances always agree on when the next round starts. Nothing here reads a clock:
callers pass ``now`` in, which is what lets the tests inject one.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

__all__ = [
    "RoundPlan",
    "next_slot",
    "plan_round",
    "reflow_after",
    "replan_remaining",
    "round_must_end_by",
    "slot_after",
]


def next_slot(now: float, interval: float) -> float:
    """The first grid slot at or after ``now``: ``ceil(now / interval) * interval``."""
    return math.ceil(now / interval) * interval


def slot_after(moment: float, interval: float) -> float:
    """The first grid slot strictly after ``moment``."""
    return (math.floor(moment / interval) + 1) * interval


def round_must_end_by(start: float, interval: float, min_countdown: float) -> float:
    """When a round starting at ``start`` must have revealed its last message.

    That is the next slot minus the minimum countdown. A round started (forced) so close
    to the next slot that no time is left aims at the slot after it instead; the
    imminent slot is then recorded as skipped because a round is active.
    """
    end_by = slot_after(start, interval) - min_countdown
    if end_by <= start:
        end_by += interval
    return end_by


@dataclass(frozen=True)
class RoundPlan:
    """Planned reveal times of one round; ``reveal_times[k]`` is for seq ``k + 1``."""

    started_at: float
    reveal_times: tuple[float, ...]
    must_end_by: float

    def reveal_time(self, seq: int) -> float:
        return self.reveal_times[seq - 1]

    @property
    def ends_at(self) -> float:
        return self.reveal_times[-1]


def _gaps(count: int, gap_min: float, gap_max: float, available: float, rng: random.Random) -> list[float]:
    """``count`` gaps drawn uniformly from [min, max], scaled down to fit ``available``."""
    gaps = [rng.uniform(gap_min, gap_max) for _ in range(count)]
    total = sum(gaps)
    if total > available:
        scale = max(available, 0.0) / total if total else 0.0
        gaps = [gap * scale for gap in gaps]
    return gaps


def plan_round(
    start: float,
    messages: int,
    gap_min: float,
    gap_max: float,
    must_end_by: float,
    rng: random.Random,
    *,
    started_at: float | None = None,
) -> RoundPlan:
    """Plan a round: the first message at ``start``, then one gap before each other one.

    If the drawn gaps would run past ``must_end_by`` they are scaled down together, so
    the round ends in time and keeps its rhythm. ``started_at`` (default ``start``) is
    when the round itself began.
    """
    gaps = _gaps(messages - 1, gap_min, gap_max, must_end_by - start, rng)
    times = [start]
    for gap in gaps:
        times.append(times[-1] + gap)
    return RoundPlan(started_at=start if started_at is None else started_at,
                     reveal_times=tuple(times), must_end_by=must_end_by)


def replan_remaining(
    plan: RoundPlan,
    next_seq: int,
    now: float,
    gap_min: float,
    gap_max: float,
    must_end_by: float,
    rng: random.Random,
) -> RoundPlan:
    """Re-plan the messages from ``next_seq`` on, the first of them at ``now``.

    Used after a restart or a resume from pause: revealed messages keep their times;
    the rest are spread from now to ``must_end_by`` by the same rule as ``plan_round``.
    """
    done = plan.reveal_times[: next_seq - 1]
    remaining = len(plan.reveal_times) - len(done)
    if remaining <= 0:
        return plan
    tail = plan_round(now, remaining, gap_min, gap_max, must_end_by, rng)
    return RoundPlan(plan.started_at, done + tail.reveal_times, must_end_by)


def reflow_after(
    plan: RoundPlan,
    seq: int,
    revealed_at: float,
    gap_min: float,
    gap_max: float,
    rng: random.Random,
) -> RoundPlan:
    """Re-plan the messages after ``seq``, which was revealed late at ``revealed_at``.

    Keeping the old times would leave the later messages with deadlines already past
    (one slow provider would cost the rest of the round); instead each gets a fresh gap
    after the one before, scaled as usual to end by ``plan.must_end_by``.
    """
    remaining = len(plan.reveal_times) - seq
    if remaining <= 0:
        return plan
    tail = plan_round(revealed_at, remaining + 1, gap_min, gap_max, plan.must_end_by, rng)
    times = plan.reveal_times[: seq - 1] + (revealed_at,) + tail.reveal_times[1:]
    return RoundPlan(plan.started_at, times, plan.must_end_by)
