"""The Agent actor: one persona bound to its provider chain; writes one reply at a time.

Blocking provider calls run here, on the agent's own thread, never on the web server's
event loop and never on the Supervisor's thread. The reply goes back to the Supervisor as
a message (``reply_to.generation_done``), so the Supervisor never waits on an agent.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

import pykka

from actors.personas import Persona
from actors.providers.base import GenerationRequest, Outcome, Source

__all__ = ["Agent", "Chain", "template_outcome"]

log = logging.getLogger("roundtable.agent")


class Chain(Protocol):
    """Turns a request into an accepted reply; never raises for provider trouble."""

    def generate(self, request: GenerationRequest) -> Outcome: ...


class TemplateSource(Protocol):
    def write(self, request: GenerationRequest) -> Any: ...


def template_outcome(templates: TemplateSource, request: GenerationRequest, reason: str) -> Outcome:
    """A template reply, honestly attributed, with ``reason`` as its fallback reason."""
    reply = templates.write(request)
    return Outcome(
        content=reply.text,
        provider="template",
        model="template",
        source=Source.TEMPLATE,
        fallback_reason=reason,
    )


class Agent(pykka.ThreadingActor):
    """One agent. ``write`` runs on this actor's thread and may block until the deadline."""

    #: A provider call cannot be interrupted from outside; a daemon thread cannot keep
    #: the process alive once shutdown has waited for it (see RoundtableSystem.stop).
    use_daemon_thread = True

    def __init__(
        self,
        persona: Persona,
        chain: Chain,
        templates: TemplateSource,
        persistence: Any | None = None,
    ) -> None:
        super().__init__()
        self.persona = persona
        self._chain = chain
        self._templates = templates
        self._persistence = persistence

    def write(self, token: object, request: GenerationRequest, reply_to: Any) -> None:
        """Write the reply for ``request`` and send it to ``reply_to.generation_done``.

        ``token`` identifies the round and seq; the Supervisor ignores stale tokens.
        """
        started = time.monotonic()
        try:
            outcome = self._chain.generate(request)
        except Exception:  # a bug in a chain must cost one template, never a round
            log.exception("agent %s: chain failed; using a template", self.persona.agent)
            outcome = template_outcome(self._templates, request, "internal error in provider chain")
        if outcome.calls and self._persistence is not None:
            self._persistence.record_api_calls(outcome.calls)
        log.debug(
            "agent %s wrote seq %d in %.0f ms (%s)",
            self.persona.agent, request.seq, (time.monotonic() - started) * 1000, outcome.source,
        )
        reply_to.generation_done(token, outcome)
