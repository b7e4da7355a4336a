"""The provider registry: every provider's identity, declared once.

A ``ProviderSpec`` says everything Roundtable knows about one provider: its name (which
is also its agent's id and, upper-cased, its settings prefix: ``OPENAI_API_KEY``), its
label, where its class lives, its default base URL and model, its history budget, its
price key, its colours, its agent's persona and template voice, and how to list the
models a key may call. Settings, prompts, templates, prices, the model check, the pages
and the widget (through ``hello.agents``) all read it; no other list of providers exists
(what names one provider, like its own module or OpenAI's moderation, is about that one).

Adding a provider is a module with a ``Provider`` class plus one ``ProviderSpec`` in
``BUILT_IN`` below (or, for an embedder or a test, one ``register(spec)`` call before
``Settings.from_env``). The order of registration is the agents' speaking order.

Classes and listers are named by ``"module:attribute"`` and imported only when used, so
importing this module imports no SDK. The registry is changed only by ``register`` and
``unregister`` (at start-up or in a test); every reader is safe on any thread.
"""

from __future__ import annotations

import contextlib
import importlib
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from actors.personas import Persona

if TYPE_CHECKING:
    from actors.providers.base import Provider
    from settings import ProviderSettings

__all__ = [
    "BUILT_IN",
    "DEFAULT_HISTORY_CHARS",
    "ProviderSpec",
    "agents_view",
    "get",
    "names",
    "persona_for",
    "personas",
    "register",
    "registered",
    "specs",
    "unregister",
]

#: History budget of a spec that does not set one: ~3,000 tokens at ~4 characters a token.
DEFAULT_HISTORY_CHARS: Final = 12_000
_NAME: Final = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_COLOUR: Final = re.compile(r"^#[0-9a-f]{6}$")


@dataclass(frozen=True)
class ProviderSpec:
    """One provider. ``name`` is also the agent id and (upper-cased) the settings prefix."""

    name: str
    label: str  # "OpenAI": settings docs, the page
    provider_class: str  # "package.module:Class"; the class takes a ProviderSettings
    base_url: str  # default {NAME}_BASE_URL
    model: str  # default {NAME}_MODEL
    persona: Persona  # the agent's display name, role and style (persona.agent == name)
    colour: str  # "#rrggbb" on the light theme
    colour_dark: str  # "#rrggbb" on the dark theme
    voice: str = "orion"  # the template voice (actors.providers.templates_data.VOICES)
    history_chars: int = DEFAULT_HISTORY_CHARS  # characters of history sent per call
    price_key: str | None = None  # its genai-prices provider id; None: PRICES_FILE only
    #: USD per million tokens (input, output) for a model no price source knows (a local
    #: or new model), marked as an estimate wherever shown; None: such calls cost 0.0.
    fallback_price: tuple[float, float] | None = None
    models_lister: str | None = None  # "module:function" (catalog.Lister); None: unchecked

    @property
    def env_prefix(self) -> str:
        return self.name.upper()

    @property
    def module(self) -> str:
        """The module that holds the provider class (and imports its SDK)."""
        return self.provider_class.partition(":")[0]

    def provider_type(self) -> Callable[[ProviderSettings], Provider]:
        """The provider class, imported now (its SDK with it)."""
        return _load(self.provider_class)  # type: ignore[no-any-return]

    def lister(self) -> Callable[..., Any] | None:
        """The models-endpoint lister, imported now; None when the provider has none."""
        return None if self.models_lister is None else _load(self.models_lister)

    def view(self) -> dict[str, str]:
        """This agent as ``hello.agents`` and ``/api/status`` show it."""
        return {"id": self.name, "persona": self.persona.name, "label": self.label,
                "colour": self.colour, "colour_dark": self.colour_dark}


def _load(path: str) -> Any:
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)


_CATALOG: Final = "actors.providers.catalog"

BUILT_IN: Final = (
    ProviderSpec(
        name="openai", label="OpenAI",
        provider_class="actors.providers.openai:OpenAIProvider",
        base_url="https://api.openai.com/v1",
        # Defaults checked 2026-11-30 against each SDK's model list and deprecation notes:
        # the gpt-5* line shuts down from 2026-12-11, gemini-2.5-flash retires 2026-12-01
        # (3.x flash replaces it); every default is priced by genai-prices (test_pricing.py).
        # Each fallback_price is the default model's list price per genai-prices that day.
        model="gpt-6.1-terra",
        persona=Persona(
            agent="openai", name="Orion", role="a pragmatic product strategist",
            style="direct and practical; turns ideas into concrete next steps and trade-offs"),
        colour="#0b7a5f", colour_dark="#4fd1a5", voice="orion",
        history_chars=16_000,  # ~4,000 tokens: about a round (16 replies of ~700 chars)
        price_key="openai", fallback_price=(1.0, 5.0),
        models_lister=f"{_CATALOG}:list_openai",
    ),
    ProviderSpec(
        name="anthropic", label="Anthropic",
        provider_class="actors.providers.anthropic:AnthropicProvider",
        base_url="https://api.anthropic.com",
        model="claude-sonnet-5-5",
        persona=Persona(
            agent="anthropic", name="Clio", role="a careful systems thinker",
            style="measured and nuanced; weighs second-order effects, risks and who is affected"),
        colour="#b4532a", colour_dark="#f0a07a", voice="clio",
        history_chars=16_000,
        price_key="anthropic", fallback_price=(2.0, 10.0),
        models_lister=f"{_CATALOG}:list_anthropic",
    ),
    ProviderSpec(
        name="perplexity", label="Perplexity",
        provider_class="actors.providers.perplexity:PerplexityProvider",
        base_url="https://api.perplexity.ai",
        model="perplexity/sonar",
        persona=Persona(
            agent="perplexity", name="Scout", role="an evidence-minded researcher",
            style="curious and factual; grounds claims in data, studies and recent examples"),
        colour="#1a6f8c", colour_dark="#5cc3e0", voice="scout",
        # Half: its web_search tool adds several thousand tokens of search results to
        # every call, and Sonar bills (and dilutes its attention over) all of them.
        history_chars=8_000,
        price_key="perplexity", fallback_price=(0.25, 2.5),
        models_lister=f"{_CATALOG}:list_perplexity",
    ),
    ProviderSpec(
        name="gemini", label="Gemini",
        provider_class="actors.providers.gemini:GeminiProvider",
        base_url="https://generativelanguage.googleapis.com",
        model="gemini-3.8-flash",
        persona=Persona(
            agent="gemini", name="Lyra", role="an inventive futurist",
            style="imaginative and energetic; connects ideas across fields and looks ahead"),
        colour="#6246c8", colour_dark="#b3a4ff", voice="lyra",
        history_chars=16_000,
        price_key="google", fallback_price=(0.75, 3.75),
        models_lister=f"{_CATALOG}:list_gemini",
    ),
)

_lock = threading.Lock()
_specs: dict[str, ProviderSpec] = {}


def register(spec: ProviderSpec, *, replace: bool = False) -> ProviderSpec | None:
    """Add ``spec`` after the others (it speaks last); call before ``Settings.from_env``.

    With ``replace``, a spec of the same name is replaced in its place (tests change a
    built-in's budget this way) and returned. Raises ``ValueError`` for a name that is
    taken (unless ``replace``) or unfit for an id and a settings prefix, a persona of
    another agent or a colour that is not ``#rrggbb``.
    """
    problem = _problem(spec)
    if problem:
        raise ValueError(f"provider spec {spec.name!r}: {problem}")
    with _lock:
        previous = _specs.get(spec.name)
        if previous is not None and not replace:
            raise ValueError(f"provider {spec.name!r} is already registered")
        _specs[spec.name] = spec
    return previous


def unregister(name: str) -> None:
    """Remove a registered provider (tests clean up with it); unknown names are ignored."""
    with _lock:
        _specs.pop(name, None)


@contextlib.contextmanager
def registered(spec: ProviderSpec) -> Iterator[ProviderSpec]:
    """``spec`` registered (or replacing its namesake) for the ``with`` block, then the
    registry as it was: for tests."""
    previous = register(spec, replace=True)
    try:
        yield spec
    finally:
        if previous is None:
            unregister(spec.name)
        else:
            register(previous, replace=True)


def _problem(spec: ProviderSpec) -> str | None:
    if not _NAME.match(spec.name):
        return "a name is 1-32 lower-case letters, digits or _, starting with a letter"
    if spec.persona.agent != spec.name:
        return f"its persona belongs to {spec.persona.agent!r}"
    if not (_COLOUR.match(spec.colour) and _COLOUR.match(spec.colour_dark)):
        return "colours are #rrggbb in lower case"
    if ":" not in spec.provider_class:
        return "provider_class is 'module:Class'"
    return None


for _spec in BUILT_IN:  # checked like any other
    register(_spec)


def specs() -> tuple[ProviderSpec, ...]:
    """Every registered provider, in speaking order."""
    with _lock:
        return tuple(_specs.values())


def names() -> tuple[str, ...]:
    """Every provider's name (= agent id), in speaking order."""
    return tuple(spec.name for spec in specs())


def get(name: str) -> ProviderSpec:
    """The spec of ``name``; ``KeyError`` when it is not registered."""
    with _lock:
        return _specs[name]


def personas() -> tuple[Persona, ...]:
    """Every agent's persona, in speaking order."""
    return tuple(spec.persona for spec in specs())


def persona_for(agent: str) -> Persona:
    return get(agent).persona


def agents_view(agents: tuple[str, ...] | None = None) -> list[dict[str, str]]:
    """``hello.agents``: the given agents (default: all), in speaking order."""
    chosen = specs() if agents is None else tuple(get(name) for name in agents)
    return [spec.view() for spec in chosen]
