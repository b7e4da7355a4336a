from __future__ import annotations

import random
from pathlib import Path

import pytest

from actors.memory import digest, first_sentence
from actors.topics import (
    BUILT_IN_TOPICS_FILE,
    MAX_QUEUED_TOPICS,
    TopicDeck,
    clean_topic,
    load_topics,
    next_topic_of,
)
from actors.view import MessageView, RoundView


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


def test_every_cycle_visits_every_topic_once_and_never_repeats_at_the_seam() -> None:
    topics = load_topics()
    deck = TopicDeck(topics, random.Random(7))
    drawn = [deck.draw() for _ in range(5 * len(topics))]
    for cycle in range(5):
        assert sorted(drawn[cycle * len(topics) : (cycle + 1) * len(topics)]) == sorted(topics)
    assert all(a != b for a, b in zip(drawn, drawn[1:], strict=False))


def test_peek_names_the_topic_draw_takes() -> None:
    deck = TopicDeck(("a", "b", "c"), random.Random(1))
    for _ in range(10):
        expected = deck.peek()
        assert deck.draw() == expected


def test_a_restored_deck_goes_on_where_the_saved_one_stopped() -> None:
    topics = tuple(f"t{n}" for n in range(12))
    deck = TopicDeck(topics, random.Random(3))
    first = [deck.draw() for _ in range(5)]
    restored = TopicDeck.restore(topics, deck.state(), random.Random(99))
    rest = [restored.draw() for _ in range(7)]
    assert sorted(first + rest) == sorted(topics)
    assert next_topic_of(restored.state()) == restored.peek()


def test_restore_fits_a_changed_list() -> None:
    old = ("a", "b", "c", "d")
    deck = TopicDeck(old, random.Random(5))
    used = deck.draw()
    new = tuple(t for t in old if t != deck.peek()) + ("e",)
    restored = TopicDeck.restore(new, deck.state(), random.Random(5))
    cycle_rest = [restored.draw() for _ in range(len(new) - 1)]
    assert sorted(cycle_rest) == sorted(t for t in new if t != used)
    for saved in (None, {}, {"remaining": "junk", "queued": [1, None], "last": 5}):
        fresh = TopicDeck.restore(new, saved)
        assert sorted(fresh.draw() for _ in new) == sorted(new)
    assert next_topic_of(None) is None and next_topic_of({"remaining": [3]}) is None


def test_queued_topics_go_first_in_order_and_count_as_their_turn() -> None:
    deck = TopicDeck(("a", "b", "c"), random.Random(2))
    deck.queue("A guest topic")
    deck.queue("b")
    assert deck.peek() == "A guest topic"
    assert [deck.draw(), deck.draw()] == ["A guest topic", "b"]
    assert sorted([deck.draw(), deck.draw()]) == ["a", "c"]  # b already had its turn
    for n in range(MAX_QUEUED_TOPICS):
        deck.queue(f"topic {n}")
    with pytest.raises(ValueError, match="already queued"):
        deck.queue("one too many")


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  Should\nwe\tship weekly?  ", "Should we ship weekly?"),
        ("Bidi\u202e trick\u200b here\x00\x1b[31m", "Bidi trick here[31m"),
        ("x" * 200, "x" * 200),
    ],
)
def test_clean_topic(raw: str, clean: str) -> None:
    assert clean_topic(raw) == clean


@pytest.mark.parametrize("raw", ["", "  ", "\x00\x01ab", "x" * 201])
def test_clean_topic_refuses(raw: str) -> None:
    with pytest.raises(ValueError, match="topic must"):
        clean_topic(raw)


def _round(topic: str, *lines: tuple[str, str]) -> RoundView:
    messages = tuple(
        MessageView(1, seq, "openai", persona, "openai", "m", "api", content, (), 0.0)
        for seq, (persona, content) in enumerate(lines, 1)
    )
    return RoundView(1, topic, "complete", None, 0.0, 1.0, False, None, len(messages), messages)


def test_digest_keeps_a_line_or_two_of_the_newest_rounds() -> None:
    long = "word " * 100
    rounds = [
        _round(f"Topic {n}", ("Orion", f"Opening {n}. More text here."),
               ("Clio", "Middle message that stays out."), ("Lyra", long))
        for n in range(5)
    ] + [_round("empty")]
    earlier = digest(rounds, limit=3)
    assert [r.topic for r in earlier] == ["Topic 0", "Topic 1", "Topic 2"]
    assert earlier[0].lines[0] == "Orion: Opening 0."
    assert earlier[0].lines[1].startswith("Lyra: word") and len(earlier[0].lines[1]) < 180
    assert all("Middle" not in line for r in earlier for line in r.lines)
    assert first_sentence("One. Two.") == "One."


def test_the_system_prompt_recalls_earlier_rounds_only_when_there_are_some() -> None:
    import time

    from actors.providers.base import EarlierRound, GenerationRequest
    from actors.providers.prompts import system_prompt
    from actors.providers.registry import persona_for

    request = GenerationRequest(persona_for("gemini"), "Today's", (), 1, 16, time.time() + 30)
    assert "Earlier rounds" not in system_prompt(request)
    earlier = (EarlierRound("Four-day weeks", ("Orion: Pilot it first.", "Lyra: Focus beats presence.")),)
    prompt = system_prompt(GenerationRequest(persona_for("gemini"), "Today's", (), 1, 16, time.time() + 30, earlier))
    assert "\u201cFour-day weeks\u201d: Orion: Pilot it first. / Lyra: Focus beats presence." in prompt
    assert prompt.endswith("This is message 1 of 16.")
