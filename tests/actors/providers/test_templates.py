from __future__ import annotations

import random
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from actors.personas import Persona
from actors.providers.base import GenerationRequest, Turn
from actors.providers.registry import persona_for, personas
from actors.providers.templates import (
    MAX_WORDS,
    MIN_WORDS,
    TEMPLATE_MODEL,
    TemplateWriter,
    quote_topic,
    voice_for,
)
from actors.providers.templates_data import VOICES, Voice
from actors.topics import load_topics

TOPIC = "Should small businesses adopt AI agents for customer support?"
DEADLINE = 1_800_000_090.0
NAMES = {p.name for p in personas()}


def request(persona: Persona, history: tuple[Turn, ...], seq: int, *, topic: str = TOPIC,
            per_round: int = 16, deadline: float = DEADLINE) -> GenerationRequest:
    return GenerationRequest(persona, topic, history, seq, per_round, deadline)


def play_round(writer: TemplateWriter, topic: str = TOPIC, messages: int = 16,
               deadline: float = DEADLINE) -> list[Turn]:
    """A round with the four personas rotating openai, anthropic, perplexity, gemini."""
    history: tuple[Turn, ...] = ()
    for seq in range(1, messages + 1):
        persona = personas()[(seq - 1) % len(personas())]
        reply = writer.write(request(persona, history, seq, topic=topic, per_round=messages,
                                     deadline=deadline))
        assert reply.model == TEMPLATE_MODEL
        history += (Turn(persona.agent, persona.name, reply.text),)
    return list(history)


def words(text: str) -> int:
    return len(text.split())


def sentences(fragment: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.?!:;])\s+", fragment) if s.strip()]


def every_fragment(voice: Voice) -> list[str]:
    return [t for pool in vars(voice).values() for t in pool]


# -- one round ----------------------------------------------------------------------------


def test_round_of_16_has_no_duplicate_and_answers_the_previous_speaker_by_name() -> None:
    turns = play_round(TemplateWriter(random.Random(1)))
    contents = [t.content for t in turns]
    assert len(set(contents)) == 16
    for before, turn in zip(turns, turns[1:], strict=False):
        assert before.persona in turn.content
    assert not any(turn.persona in turn.content for turn in turns)  # nobody names themself


def test_round_messages_hold_the_topic_and_fit_the_length() -> None:
    for turn in play_round(TemplateWriter(random.Random(2))):
        assert "Should small businesses adopt AI agents for customer support" in turn.content
        assert MIN_WORDS <= words(turn.content) <= MAX_WORDS, turn.content


def test_round_is_reproducible_with_a_seeded_rng() -> None:
    first = play_round(TemplateWriter(random.Random(42)))
    assert play_round(TemplateWriter(random.Random(42))) == first
    assert play_round(TemplateWriter(random.Random(43))) != first


def test_the_same_topic_later_in_the_day_gets_a_different_round() -> None:
    writer = TemplateWriter(random.Random(5))
    assert play_round(writer, deadline=DEADLINE) != play_round(writer, deadline=DEADLINE + 3600)


def test_a_persona_does_not_reuse_its_own_fragments_within_a_round() -> None:
    turns = play_round(TemplateWriter(random.Random(9)))
    for persona in personas():
        own = [t.content for t in turns if t.agent == persona.agent]
        for template in every_fragment(voice_for(persona.agent)):
            literal = max(re.split(r"\{[a-z]+\}", template), key=len).strip()
            assert sum(literal in text for text in own) <= 1, literal


def test_the_last_message_wraps_up() -> None:
    last = play_round(TemplateWriter(random.Random(3)))[-1]
    assert any(wrapup in last.content for wrapup in voice_for(last.agent).wrapups)


def test_shared_writer_is_thread_safe_and_call_order_free() -> None:
    writer = TemplateWriter(random.Random(11))
    turns = play_round(writer)
    requests = [
        request(persona_for(t.agent), tuple(turns[: i]), i + 1) for i, t in enumerate(turns)
    ] * 8
    with ThreadPoolExecutor(max_workers=8) as pool:
        texts = list(pool.map(lambda r: writer.write(r).text, requests))
    assert texts == [t.content for t in turns] * 8


# -- many rounds --------------------------------------------------------------------------


def test_200_rounds_with_random_topics_never_repeat_a_message_within_a_round() -> None:
    topics = load_topics()
    rnd = random.Random(2024)
    named_earlier = 0
    for n in range(200):
        topic = rnd.choice(topics)
        turns = play_round(TemplateWriter(random.Random(n)), topic, deadline=DEADLINE + n)
        contents = [t.content for t in turns]
        assert len(set(contents)) == len(contents)
        core = quote_topic(topic)
        for before, turn in zip(turns, turns[1:], strict=False):
            assert before.persona in turn.content
            assert core in turn.content
            assert MIN_WORDS <= words(turn.content) <= MAX_WORDS, turn.content
            others = NAMES - {turn.persona, before.persona}
            named_earlier += any(name in turn.content.split(".")[0] for name in others)
    assert named_earlier > 200  # an earlier speaker is named, sometimes


def test_a_very_long_history_still_gets_a_unique_message() -> None:
    writer = TemplateWriter(random.Random(4))
    orion, clio = persona_for("openai"), persona_for("anthropic")
    history: tuple[Turn, ...] = ()
    for seq in range(1, 401):
        persona = orion if seq % 2 else clio
        text = writer.write(request(persona, history, seq, per_round=400)).text
        assert text not in {t.content for t in history}
        history += (Turn(persona.agent, persona.name, text),)


# -- odd requests -------------------------------------------------------------------------


@pytest.mark.parametrize("topic", ["", "   ", "AI?", "x " * 30, "{curly} braces {prev}"])
def test_odd_topics_never_raise(topic: str) -> None:
    turns = play_round(TemplateWriter(random.Random(6)), topic)
    assert len({t.content for t in turns}) == 16
    for turn in turns[1:]:
        assert words(turn.content) >= MIN_WORDS


def test_opening_when_history_is_empty_even_after_seq_1() -> None:
    persona = persona_for("gemini")
    text = TemplateWriter(random.Random(7)).write(request(persona, (), 5)).text
    assert quote_topic(TOPIC) in text
    assert any(opener.split("{topic}")[0] in text for opener in voice_for("gemini").openers)


def test_only_own_turns_in_history_is_an_opening_and_unique() -> None:
    persona = persona_for("anthropic")
    writer = TemplateWriter(random.Random(8))
    first = writer.write(request(persona, (), 1)).text
    second = writer.write(request(persona, (Turn("anthropic", "Clio", first),), 2)).text
    assert second != first
    assert "Clio" not in second


def test_unknown_persona_borrows_a_voice() -> None:
    stranger = Persona(agent="mistral", name="Vega", role="a guest", style="plain")
    history = (Turn("openai", "Orion", "Hello."),)
    text = TemplateWriter(random.Random(9)).write(request(stranger, history, 2)).text
    assert "Orion" in text and quote_topic(TOPIC) in text


def test_nan_deadline_does_not_raise() -> None:
    writer = TemplateWriter()
    reply = writer.write(replace(request(personas()[0], (), 1), deadline=float("nan")))
    assert words(reply.text) >= MIN_WORDS


# -- the data -----------------------------------------------------------------------------


@pytest.mark.parametrize("agent", [p.agent for p in personas()])
def test_each_voice_has_enough_varied_fragments(agent: str) -> None:
    voice = voice_for(agent)
    assert len(voice.openers) >= 8 and len(voice.reactions) >= 15
    assert len(voice.points) >= 15 and len(voice.closings) >= 10
    assert len(voice.handoffs) >= 5 and len(voice.wrapups) >= 5
    assert len(voice.reactions_with_earlier) >= 5
    assert all("{topic}" in t for t in voice.openers + voice.points)
    assert all("{prev}" in t for t in voice.reactions)
    assert all("{prev}" in t and "{earlier}" in t for t in voice.reactions_with_earlier)
    assert not any("{topic}" in t for t in voice.reactions + voice.closings + voice.wrapups)
    fragments = every_fragment(voice)
    assert len(set(fragments)) == len(fragments)


def test_every_combination_fits_the_length_for_every_built_in_topic() -> None:
    topic_words = [words(quote_topic(t)) for t in load_topics()]
    for voice in VOICES.values():
        def span(pool: tuple[str, ...]) -> tuple[int, int]:
            counts = [words(t.replace("{topic}", "")) for t in pool]
            return min(counts), max(counts)

        plans = [
            (voice.openers, voice.handoffs),
            (voice.reactions + voice.reactions_with_earlier, voice.points, voice.closings),
            (voice.reactions + voice.reactions_with_earlier, voice.points, voice.wrapups),
        ]
        for plan in plans:
            low = sum(span(pool)[0] for pool in plan) + min(topic_words)
            high = sum(span(pool)[1] for pool in plan) + max(topic_words)
            assert MIN_WORDS <= low and high <= MAX_WORDS, (low, high)


def test_personas_sound_different() -> None:
    owner: dict[str, str] = {}
    for agent, voice in VOICES.items():
        for fragment in every_fragment(voice):
            for sentence in sentences(_PLACEHOLDERS.sub("X", fragment)):
                if len(sentence.split()) < 3:
                    continue
                assert owner.setdefault(sentence.lower(), agent) == agent, sentence


def test_fragment_literals_identify_their_fragment() -> None:
    everything = [t for voice in VOICES.values() for t in every_fragment(voice)]
    for template in everything:
        literal = max(_PLACEHOLDERS.split(template), key=len).strip()
        assert len(literal) >= 15, template
        assert [t for t in everything if literal in t] == [template]


def test_no_fragment_claims_to_be_human() -> None:
    claims = re.compile(
        r"\b(as a (human|person|woman|man)|i am (a )?human|i'm (a )?human|my (career|family|"
        r"kids|children|wife|husband|childhood)|in my experience|years ago i|when i was)\b",
        re.IGNORECASE,
    )
    for voice in VOICES.values():
        for fragment in every_fragment(voice):
            assert not claims.search(fragment), fragment


_PLACEHOLDERS = re.compile(r"\{[a-z]+\}")
