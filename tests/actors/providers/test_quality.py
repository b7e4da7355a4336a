"""The quality gate."""

from __future__ import annotations

import pytest

from actors.providers.prompts import MAX_REPLY_CHARS, MAX_REPLY_WORDS
from actors.providers.quality import accept

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
    too_many_words = " ".join(["word"] * (int(MAX_REPLY_WORDS * 1.5) + 1))
    assert accept(too_many_words, []) == f"too long: {int(MAX_REPLY_WORDS * 1.5) + 1} words"
    too_many_chars = " ".join(["incomprehensibilities"] * 60)
    assert len(too_many_chars) > MAX_REPLY_CHARS
    reason = accept(too_many_chars, [])
    assert reason is not None and reason.endswith("characters")


def test_a_reply_cut_by_clean_reply_with_an_ellipsis_is_not_over_long() -> None:
    text = ("a" * 9 + " ") * (MAX_REPLY_CHARS // 10)
    text = text.rstrip()[: MAX_REPLY_CHARS] + "\u2026"
    assert accept(text, []) is None


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
