"""The quality gate."""

from __future__ import annotations

import pytest

from actors.providers.prompts import MAX_REPLY_CHARS, MAX_REPLY_WORDS, clean_reply
from actors.providers.quality import MAX_WORDS, accept

GOOD = (
    "Clio, I agree that the risks are real, but a pilot in two cities would show us "
    "quickly whether the savings survive contact with actual commuters."
)
EARLIER = (
    "Orion, before we scale anything we should ask who pays when the system fails, "
    "because the people most affected rarely sit at the table where these plans are made."
)


def test_a_normal_reply_is_accepted() -> None:
    assert accept(GOOD, [EARLIER]) is None


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_reply_is_rejected(text: str) -> None:
    assert accept(text, []) == "empty"


def test_too_short_reply_is_rejected() -> None:
    assert accept("I agree, Clio.", []) == "too short: 3 words"
    assert accept("I fully agree with Clio.", []) is None  # five words is enough


def test_over_long_reply_is_rejected_by_words_and_by_characters() -> None:
    assert MAX_WORDS == int(MAX_REPLY_WORDS * 1.5)
    assert accept(" ".join(["word"] * MAX_WORDS), []) is None
    assert accept(" ".join(["word"] * (MAX_WORDS + 1)), []) == f"too long: {MAX_WORDS + 1} words"
    too_many_chars = " ".join(["incomprehensibilities"] * 80)  # 80 words, 1,759 characters
    assert accept(too_many_chars, []) == f"too long: {len(too_many_chars)} characters"
    assert accept(" ".join(["abcdefghi"] * (MAX_REPLY_CHARS // 10)), []) is None  # 1,599 chars


def test_a_trailing_ellipsis_does_not_excuse_an_over_long_reply() -> None:
    text = " ".join(["abcdefghi"] * (MAX_REPLY_CHARS // 10)) + "x\u2026"  # 160 words
    assert len(text) == MAX_REPLY_CHARS + 1
    assert accept(text, []) == f"too long: {len(text)} characters"


def test_an_over_long_provider_reply_survives_cleaning_and_is_rejected() -> None:
    # What a provider module does: clean_reply, then the chain's gate. Nothing is cut on the
    # way, so the runaway reply becomes a failed attempt (retry or fall back).
    # Long words: cut to MAX_REPLY_CHARS, this would pass the word limit and be shown.
    sentence = "Clio, infrastructure considerations notwithstanding, congestion pricing pilots demonstrate measurable improvements. "
    raw = "Orion: " + sentence * 25
    reason = accept(clean_reply(raw), [])
    assert reason is not None and reason.startswith("too long: ")
    assert reason == f"too long: {len(clean_reply(raw).split())} words"


def test_exact_and_near_duplicates_of_earlier_messages_are_rejected() -> None:
    assert accept(EARLIER, [GOOD, EARLIER]) == "near-duplicate of an earlier message"
    near = EARLIER.replace("rarely", "seldom")
    assert accept(near, [EARLIER]) == "near-duplicate of an earlier message"
    assert accept(EARLIER.upper(), [EARLIER]) == "near-duplicate of an earlier message"


def test_containment_either_way_is_a_duplicate() -> None:
    part = "we should ask who pays when the system fails"
    assert accept(part, [EARLIER]) == "near-duplicate of an earlier message"
    assert accept(EARLIER + " And that is my point.", [EARLIER]) is not None


@pytest.mark.parametrize(
    "claim",
    [
        "Speaking for myself, I am a human and I see this differently than you, Clio.",
        "Honestly I'm not an AI, so trust me that commuters hate this idea.",
        "As a human being, I think the pilot is a fine idea for everyone involved.",
        "We humans always overestimate how fast cities can change their habits.",
    ],
)
def test_claiming_to_be_human_is_rejected(claim: str) -> None:
    assert accept(claim, []) == "claims to be human"


def test_talking_about_humans_is_fine() -> None:
    assert accept("As humans adapt slowly, Orion, the pilot should run for a year.", []) is None


def test_a_dense_reply_within_the_word_limit_is_accepted() -> None:
    # 150 words of dense policy prose (about 8 characters a word with its space): the
    # word count, not the character cap, is the limit that matters.
    words = ["regulatory", "costs", "shape", "procurement", "and", "accountability", "for", "cities"]
    text = " ".join(words[i % len(words)] for i in range(150)) + "."
    assert len(text) > 1200
    assert accept(text, []) is None
