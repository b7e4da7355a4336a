"""Views of the provider registry that the tests read often."""

from __future__ import annotations

from typing import Final

from actors.providers import registry

#: Each built-in provider's default model.
DEFAULT_MODELS: Final = {spec.name: spec.model for spec in registry.BUILT_IN}
