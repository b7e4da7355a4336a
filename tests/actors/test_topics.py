from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from actors.topics import BUILT_IN_TOPICS_FILE, load_topics, topic_for_slot

GRID = 1_800_000_000.0  # a slot on the 1800 s grid (and on the 60 s and 0.5 s grids)


def test_built_in_list_has_at_least_40_unique_topics() -> None:
    topics = load_topics()
    assert len(topics) >= 40
    assert len(set(topics)) == len(topics)
    assert all(t and t == t.strip() and not t.startswith("#") for t in topics)
    assert load_topics(None) == load_topics(BUILT_IN_TOPICS_FILE) == topics


def test_file_parsing_skips_comments_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "topics.txt"
    path.write_text(
        "# my topics\n\n  Is AI overrated?  \n   \n#Not a topic\nShould we ship weekly?\n"
        "Is AI overrated?\n",
        encoding="utf-8",
    )
    assert load_topics(path) == ("Is AI overrated?", "Should we ship weekly?")


@pytest.mark.parametrize("content", ["", "\n\n   \n", "# only\n#comments\n\n"])
def test_file_without_topics_is_a_clear_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "empty.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=r"empty\.txt has no topics"):
        load_topics(path)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot be read"):
        load_topics(tmp_path / "nope.txt")


def test_topic_for_slot_is_deterministic() -> None:
    topics = load_topics()
    first = [topic_for_slot(topics, GRID + k * 1800, 1800) for k in range(100)]
    again = [topic_for_slot(list(topics), GRID + k * 1800, 1800.0) for k in range(100)]
    assert first == again
    assert len(set(first)) > 20  # not stuck on a few topics


@pytest.mark.parametrize("interval", [1800.0, 60.0, 0.5, 7.0])
def test_no_topic_twice_in_a_row_across_1000_slots(interval: float) -> None:
    topics = load_topics()
    start = (GRID // interval) * interval
    chosen = [topic_for_slot(topics, start + k * interval, interval) for k in range(1000)]
    assert all(a != b for a, b in zip(chosen, chosen[1:], strict=False))


def test_each_cycle_visits_every_topic_once() -> None:
    topics = load_topics()
    n = len(topics)
    first_slot = 0  # slot numbers 0 .. n-1 form one cycle
    chosen = [topic_for_slot(topics, (first_slot + k) * 60.0, 60) for k in range(3 * n)]
    for cycle in range(3):
        assert Counter(chosen[cycle * n : (cycle + 1) * n]) == Counter(topics)


def test_small_lists() -> None:
    assert {topic_for_slot(["only"], GRID + k * 60, 60) for k in range(10)} == {"only"}
    pair = [topic_for_slot(["a", "b"], GRID + k * 60, 60) for k in range(10)]
    assert all(x != y for x, y in zip(pair, pair[1:], strict=False))
    trio = [topic_for_slot(["a", "b", "c"], GRID + k * 60, 60) for k in range(1000)]
    assert all(x != y for x, y in zip(trio, trio[1:], strict=False))


def test_float_drift_near_the_grid_still_counts_as_the_slot() -> None:
    topics = load_topics()
    slot = GRID + 5 * 1800
    assert topic_for_slot(topics, slot + 1e-6, 1800) == topic_for_slot(topics, slot, 1800)
    assert topic_for_slot(topics, slot - 1e-6, 1800) == topic_for_slot(topics, slot, 1800)


def test_off_grid_time_differs_from_both_neighbouring_slots() -> None:
    topics = load_topics()
    for k in range(200):
        before = GRID + k * 1800
        neighbours = {topic_for_slot(topics, before, 1800), topic_for_slot(topics, before + 1800, 1800)}
        forced_at = before + 17.25 + k * 3
        assert topic_for_slot(topics, forced_at, 1800) not in neighbours
        assert topic_for_slot(topics, forced_at, 1800) == topic_for_slot(topics, forced_at, 1800)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="at least one topic"):
        topic_for_slot([], GRID, 1800)
    with pytest.raises(ValueError, match="positive"):
        topic_for_slot(["a"], GRID, 0)
