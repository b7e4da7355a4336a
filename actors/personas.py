"""An agent's persona. Each agent's id is the name of its own provider; the personas
themselves are declared with their providers in ``actors.providers.registry``."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Persona"]


@dataclass(frozen=True)
class Persona:
    agent: str  # agent id == its own provider's name
    name: str  # display name shown to visitors
    role: str  # one line: who this persona is
    style: str  # how it speaks, for the system prompt and the templates
