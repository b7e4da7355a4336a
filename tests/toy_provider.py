"""A toy provider: what adding a provider takes, and nothing more.

A module with a ``Provider`` class (this one talks to nothing: it writes its replies from
a word list) plus one ``ProviderSpec``. ``registry.register(SPEC)`` before the settings
are read makes it an agent: its settings (``TOY_API_KEY``, ``TOY_BASE_URL``, ...), its
persona in the rotation, its colours on the page and in ``hello.agents``.
``tests/toy_run.py`` runs the real service with it registered.
"""

from __future__ import annotations

import random
from typing import Final

from actors.personas import Persona
from actors.providers.base import GenerationRequest, ProviderError, Reply
from actors.providers.errors import ErrorKind
from actors.providers.registry import ProviderSpec
from settings import ProviderSettings

__all__ = ["SPEC", "ToyProvider"]

_VOCABULARY: Final = (
    "kites gears lanterns marbles puzzles tinkering sketches prototypes workshops gadgets "
    "springs levers pulleys magnets circuits batteries whistles ribbons compasses maps "
    "riddles games toys blocks bridges towers rafts sails wheels rockets balloons paper "
    "glue string buttons dials knobs switches lenses mirrors prisms bells drums flutes"
).split()


class ToyProvider:
    """Answers every request with fresh words; needs a key like a real API."""

    name: str = "toy"

    def __init__(self, settings: ProviderSettings) -> None:
        self.model = settings.model

    def generate(self, request: GenerationRequest, *, api_key: str, timeout: float) -> Reply:
        if not api_key:
            raise ProviderError("toy: no api key", kind=ErrorKind.AUTH)
        words = random.Random(f"{request.topic}/{request.seq}/{request.persona.agent}").sample(_VOCABULARY, 40)
        text = f"On {request.topic.rstrip('?.!')}, think of " + " ".join(words) + "."
        return Reply(text=text, model=self.model, prompt_tokens=12, completion_tokens=len(words))


SPEC: Final = ProviderSpec(
    name="toy",
    label="Toy",
    provider_class="tests.toy_provider:ToyProvider",
    base_url="http://127.0.0.1:9",  # talks to nothing
    model="toy-1",
    persona=Persona(agent="toy", name="Pip", role="a playful tinkerer",
                    style="light and curious; builds small models of big ideas"),
    colour="#aa3377",
    colour_dark="#ff88cc",
    voice="lyra",
    fallback_price=(0.5, 1.5),
)
