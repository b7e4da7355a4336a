"""Template replies: the last provider of every chain, which never fails.

``TemplateWriter.write()`` composes a message in the persona's voice from the fragments in
``templates_data``: an opening (``opener`` + ``handoff``) when nobody else has spoken yet,
otherwise a reply (``reaction`` naming the previous speaker, sometimes an earlier one too,
+ ``point`` on the topic + ``closing`` question or hand-off; the round's last message ends
on a ``wrapup`` instead). Fragments already used in the round are avoided, so a persona
does not repeat itself, and a message never equals any earlier message of the round.

The result is attributed ``model="template"``; callers record it as ``source=template`` and
the page says so. Nothing here claims to be a model, or a human.

Thread-safety: one writer may be shared by every agent thread and the Supervisor. It holds
only an immutable seed; each call derives its own ``random.Random`` from that seed and the
request's topic, seq, agent and whole-second deadline, so a round is reproducible when the
writer is seeded and the deadlines are fixed, while a topic that returns later in the day
(another deadline) gets a different round.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from actors.providers import registry
from actors.providers.base import GenerationRequest, Reply
from actors.providers.templates_data import VOICES, Voice

__all__ = ["MAX_WORDS", "MIN_WORDS", "TEMPLATE_MODEL", "TemplateWriter", "quote_topic", "voice_for"]

log = logging.getLogger(__name__)

TEMPLATE_MODEL: Final = "template"
#: Length of a template message, in words (for topics of up to about 30 words).
MIN_WORDS: Final = 40
MAX_WORDS: Final = 100
#: Random draws before falling back to a deterministic walk through every combination.
_MAX_DRAWS: Final = 12
#: Share of replies that also name an earlier speaker, when there is one.
_EARLIER_SHARE: Final = 1 / 3
_DEFAULT_VOICE: Final = "orion"

_PLACEHOLDER = re.compile(r"\{[a-z]+\}")
_QUOTES: Final = "\"'\u201c\u201d\u2018\u2019"


def _signature(template: str) -> str:
    """The longest literal stretch of a fragment: how a used fragment is recognised."""
    return max(_PLACEHOLDER.split(template), key=len).strip()


_SIGNATURES: Final = {
    template: _signature(template)
    for voice in VOICES.values()
    for pool in vars(voice).values()
    for template in pool
}


def quote_topic(topic: str) -> str:
    """The topic as the templates insert it: whitespace collapsed, end punctuation dropped,
    in typographic quotes; ``today's topic`` when the topic is blank."""
    core = " ".join(topic.split()).strip(_QUOTES).rstrip(".?!;:, ").strip()
    return f"\u201c{core}\u201d" if core else "today's topic"


@dataclass(frozen=True)
class _Context:
    """What one call knows about the round; built once per ``write``."""

    values: dict[str, str]  # placeholder -> text
    opening: bool  # nobody else has spoken yet
    final: bool  # the round's last message
    with_earlier: bool  # an earlier speaker (not prev, not self) can be named
    used: str  # every earlier message of the round, joined by newlines


class TemplateWriter:
    """Writes an agent's message from templates. ``write`` never raises and is fast.

    ``rng`` only seeds the writer (one draw, at construction); pass ``random.Random(n)``
    for reproducible rounds in tests. Without it the seed comes from the OS.
    """

    def __init__(self, rng: random.Random | None = None) -> None:
        source = rng if rng is not None else random.SystemRandom()
        self._seed: Final = source.getrandbits(64)

    def write(self, request: GenerationRequest) -> Reply:
        """One message for ``request.persona``, different from every message in
        ``request.history``, naming the previous speaker, holding the topic (see
        ``quote_topic``), ``MIN_WORDS``-``MAX_WORDS`` words. Safe from any thread."""
        try:
            text = self._compose(request)
        except Exception:  # the last provider of every chain must not fail; log the bug
            log.exception("templates: composing seq %d failed; using the plain fallback", request.seq)
            text = _plain_fallback(request)
        return Reply(text=text, model=TEMPLATE_MODEL)

    def _compose(self, request: GenerationRequest) -> str:
        rnd = self._random_for(request)
        voice = voice_for(request.persona.agent)
        ctx = _context(request, rnd)
        seen = {turn.content for turn in request.history}
        for _ in range(_MAX_DRAWS):
            text = _render(_draw(voice, ctx, rnd), voice, ctx)
            if text not in seen:
                return text
        # Pathologically long history: walk every combination, then number the variation.
        for parts in _every_plan(voice, ctx):
            text = _render(parts, voice, ctx)
            if text not in seen:
                return text
        return _numbered(text, seen)

    def _random_for(self, request: GenerationRequest) -> random.Random:
        key = "\x1f".join(
            (
                str(self._seed),
                request.topic,
                str(request.seq),
                request.persona.agent,
                f"{request.deadline:.0f}",
            )
        )
        digest = hashlib.sha256(key.encode("utf-8", "backslashreplace")).digest()
        return random.Random(int.from_bytes(digest[:16], "big"))


def voice_for(agent: str) -> Voice:
    """The template voice ``agent``'s spec names (``ProviderSpec.voice``), else the default."""
    try:
        name = registry.get(agent).voice
    except KeyError:
        name = _DEFAULT_VOICE
    return VOICES.get(name, VOICES[_DEFAULT_VOICE])


def _context(request: GenerationRequest, rnd: random.Random) -> _Context:
    """Who to name: the previous other speaker, an earlier one, the next one, any other."""
    own = request.persona.name
    spoken = [turn.persona for turn in request.history if turn.persona != own]
    prev = spoken[-1] if spoken else ""
    earlier = sorted({name for name in spoken if name != prev})
    others = [p.name for p in registry.personas() if p.name != own] or ["everyone"]
    values = {
        "topic": quote_topic(request.topic),
        "prev": prev,
        "earlier": rnd.choice(earlier) if earlier else prev,
        "next": _next_speaker(request.persona.agent, others),
        "other": rnd.choice(others),
    }
    return _Context(
        values=values,
        opening=not prev,
        final=request.seq >= request.messages_per_round,
        with_earlier=bool(earlier),
        used="\n".join(turn.content for turn in request.history),
    )


def _next_speaker(agent: str, others: Sequence[str]) -> str:
    """The persona after ``agent`` in the fixed rotating order."""
    personas = registry.personas()
    agents = [p.agent for p in personas]
    if agent in agents:
        return personas[(agents.index(agent) + 1) % len(personas)].name
    return others[0]


def _draw(voice: Voice, ctx: _Context, rnd: random.Random) -> list[str]:
    """One random plan (a fragment per slot), preferring fragments unused this round."""
    if ctx.opening:
        pools = [voice.openers, voice.handoffs]
    else:
        use_earlier = ctx.with_earlier and rnd.random() < _EARLIER_SHARE
        reactions = voice.reactions_with_earlier if use_earlier else voice.reactions
        pools = [reactions, voice.points, voice.wrapups if ctx.final else voice.closings]
    return [rnd.choice(_fresh(pool, ctx) or pool) for pool in pools]


def _every_plan(voice: Voice, ctx: _Context) -> Iterator[list[str]]:
    """Every plan, in a fixed order: the deterministic fallback when draws keep colliding."""
    if ctx.opening:
        pools: list[Sequence[str]] = [voice.openers, voice.handoffs]
    else:
        reactions = voice.reactions + (voice.reactions_with_earlier if ctx.with_earlier else ())
        pools = [reactions, voice.points, voice.wrapups if ctx.final else voice.closings]
    for parts in itertools.product(*pools):
        yield list(parts)


def _fresh(pool: Sequence[str], ctx: _Context) -> tuple[str, ...]:
    return tuple(t for t in pool if _SIGNATURES.get(t, t) not in ctx.used)


def _render(parts: list[str], voice: Voice, ctx: _Context) -> str:
    """Fill the placeholders and fit the length: drop the closing when too long (a very
    long topic), insert bridges before the closing when too short (a very short one)."""
    texts = [part.format_map(ctx.values) for part in parts]
    if _words(texts) > MAX_WORDS and len(texts) > 2:
        texts.pop()
    bridges = list(_fresh(voice.bridges, ctx)) + [b for b in voice.bridges if b in ctx.used]
    while _words(texts) < MIN_WORDS and bridges:
        texts.insert(len(texts) - 1, bridges.pop(0))
    return " ".join(texts)


def _words(texts: list[str]) -> int:
    return sum(len(text.split()) for text in texts)


def _numbered(text: str, seen: set[str]) -> str:
    for n in itertools.count(2):
        candidate = f"{text} (Variation {n}.)"
        if candidate not in seen:
            return candidate
    raise AssertionError("unreachable: itertools.count never ends")


def _plain_fallback(request: GenerationRequest) -> str:
    """A plain message for when composing itself failed (a bug); unique by its seq."""
    topic = quote_topic(str(request.topic))
    return (
        f"This is a template message, number {request.seq} of the round, standing in while "
        f"no model is available. The topic remains {topic}, and the discussion will pick up "
        "again from the points already made. Each view shared so far deserves a proper "
        "answer, which a model can give once it is reachable again."
    )
