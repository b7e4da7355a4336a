"""The schedule's pure functions, with times passed in (an injected clock)."""

from __future__ import annotations

import random

import pytest

from actors.schedule import (
    next_slot,
    plan_round,
    reflow_after,
    replan_remaining,
    round_must_end_by,
    slot_after,
)

INTERVAL = 1800.0


def test_grid_is_epoch_aligned() -> None:
    assert next_slot(0.0, INTERVAL) == 0.0
    assert next_slot(1.0, INTERVAL) == 1800.0
    assert next_slot(1800.0, INTERVAL) == 1800.0  # exactly on a slot: that slot
    assert next_slot(1_764_000_001.5, INTERVAL) % INTERVAL == 0


def test_slot_after_is_strictly_later() -> None:
    assert slot_after(1800.0, INTERVAL) == 3600.0
    assert slot_after(1799.9, INTERVAL) == 1800.0


def test_two_instances_agree_whatever_their_start() -> None:
    slots = {next_slot(t, INTERVAL) for t in (3601.0, 4000.0, 5399.0)}
    assert slots == {5400.0}


def test_round_must_end_a_countdown_before_the_next_slot() -> None:
    assert round_must_end_by(1800.0, INTERVAL, 60.0) == 3540.0


def test_forced_round_too_close_to_a_slot_aims_at_the_one_after() -> None:
    assert round_must_end_by(3560.0, INTERVAL, 60.0) == 5340.0


def test_plan_draws_gaps_in_range_when_they_fit() -> None:
    plan = plan_round(1800.0, 16, 60.0, 120.0, 3540.0, random.Random(7))
    gaps = [b - a for a, b in zip(plan.reveal_times, plan.reveal_times[1:], strict=False)]
    assert len(plan.reveal_times) == 16 and plan.reveal_times[0] == 1800.0
    assert all(60.0 <= gap <= 120.0 for gap in gaps)
    assert plan.ends_at <= 3540.0


def test_plan_scales_gaps_down_to_end_in_time() -> None:
    # 15 gaps of at least 60 s need 900 s; only 300 s are left before the cut-off.
    plan = plan_round(1000.0, 16, 60.0, 120.0, 1300.0, random.Random(1))
    gaps = [b - a for a, b in zip(plan.reveal_times, plan.reveal_times[1:], strict=False)]
    assert plan.ends_at == pytest.approx(1300.0)
    assert all(gap < 60.0 for gap in gaps)
    assert max(gaps) / min(gaps) <= 2.0 + 1e-9  # the rhythm is kept, only scaled


def test_plan_with_no_time_left_reveals_back_to_back() -> None:
    plan = plan_round(1000.0, 4, 1.0, 2.0, 900.0, random.Random(1))
    assert plan.reveal_times == (1000.0,) * 4


def test_replan_keeps_revealed_times_and_spreads_the_rest() -> None:
    plan = plan_round(0.0, 16, 60.0, 120.0, 1740.0, random.Random(3))
    resumed = replan_remaining(plan, 6, 900.0, 60.0, 120.0, 1740.0, random.Random(3))
    assert resumed.reveal_times[:5] == plan.reveal_times[:5]
    assert resumed.reveal_time(6) == 900.0
    assert resumed.ends_at <= 1740.0 + 1e-9
    assert len(resumed.reveal_times) == 16


def test_a_late_reveal_reflows_the_rest_with_fresh_gaps_that_still_fit() -> None:
    plan = plan_round(0.0, 16, 60.0, 120.0, 1740.0, random.Random(5))
    late = plan.reveal_time(3) + 40.0  # message 3 came 40 s late
    reflowed = reflow_after(plan, 3, late, 60.0, 120.0, random.Random(5))
    assert reflowed.reveal_times[:2] == plan.reveal_times[:2]
    assert reflowed.reveal_time(3) == late
    assert reflowed.reveal_time(4) - late > 0  # a real gap, not a deadline in the past
    assert reflowed.ends_at <= 1740.0 + 1e-9
    assert list(reflowed.reveal_times) == sorted(reflowed.reveal_times)


def test_reflow_after_the_last_message_changes_nothing() -> None:
    plan = plan_round(0.0, 4, 1.0, 2.0, 100.0, random.Random(1))
    assert reflow_after(plan, 4, 50.0, 1.0, 2.0, random.Random(1)) is plan
