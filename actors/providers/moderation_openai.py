"""OpenAI's ``omni-moderation-latest`` as the moderation gate's remote check.

A module of its own so that ``actors.providers.moderation`` (the gate and the word list)
never imports the ``openai`` SDK: ``build_moderation`` imports this only when an OpenAI
key makes the remote check possible.
"""

from __future__ import annotations

import json
import threading
from typing import Any, Final

import openai

from actors.providers.bounded import call_limits
from actors.providers.clients import ClientCache
from actors.providers.moderation import (
    MAX_ANSWER_BYTES,
    MODERATION_MODEL,
    ModerationError,
    ModerationMissing,
)
from actors.providers.openai import bounded_client

__all__ = ["OpenAIModeration"]

#: Statuses that mean the endpoint is not there (a compatible server without /moderations).
NOT_THERE: Final = frozenset({404, 405})


class OpenAIModeration:
    """``omni-moderation-latest`` through the ``openai`` SDK, one call per review.

    Uses the first of ``api_keys`` that the API accepts: a key answered with 401/403 is
    skipped (for this process's life), so one revoked key does not withhold every reply.
    A 404 or 405 raises ``ModerationMissing``: the endpoint is not there.
    """

    def __init__(self, base_url: str, api_keys: tuple[str, ...]) -> None:
        self._base_url = base_url
        self._keys = list(api_keys)
        self._keys_lock = threading.Lock()
        self._clients: ClientCache[openai.OpenAI] = ClientCache(self._build_client)

    def flagged_categories(self, text: str, timeout: float) -> tuple[str, ...]:
        """Bounded as a whole by ``timeout`` (``call_limits``); runs on the caller's thread."""
        with call_limits(timeout, MAX_ANSWER_BYTES):
            while True:
                with self._keys_lock:
                    key = self._keys[0]
                try:
                    return self._ask(key, text, timeout)
                except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
                    if not self._drop(key):
                        raise ModerationError(f"HTTP {exc.status_code}") from exc

    def _drop(self, key: str) -> bool:
        """Stop using ``key`` unless it is the last one; whether another key is left."""
        with self._keys_lock:
            if key in self._keys and len(self._keys) > 1:
                self._keys.remove(key)
            return self._keys[0] != key

    def _ask(self, key: str, text: str, timeout: float) -> tuple[str, ...]:
        try:
            answer = self._clients.get(key).moderations.create(
                model=MODERATION_MODEL, input=text, timeout=timeout
            )
        except (openai.AuthenticationError, openai.PermissionDeniedError):
            raise
        except openai.APIStatusError as exc:
            if exc.status_code in NOT_THERE:
                raise ModerationMissing(f"HTTP {exc.status_code}") from exc
            raise ModerationError(f"HTTP {exc.status_code}") from exc
        except openai.APITimeoutError as exc:
            raise ModerationError("timeout") from exc
        except openai.OpenAIError as exc:
            raise ModerationError(type(exc).__name__) from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModerationError("malformed answer") from exc
        return _categories(answer)

    def close(self) -> None:
        self._clients.close()

    def _build_client(self, api_key: str) -> openai.OpenAI:
        return bounded_client(api_key, self._base_url)


def _categories(answer: Any) -> tuple[str, ...]:
    """The flagged categories of the first result, by their API names ("self-harm")."""
    results = getattr(answer, "results", None)
    if not isinstance(results, list) or not results:
        raise ModerationError("malformed answer: no results")
    result = results[0]
    if not getattr(result, "flagged", False):
        return ()
    to_dict = getattr(getattr(result, "categories", None), "to_dict", None)
    raw = to_dict() if callable(to_dict) else {}
    named = tuple(sorted(name for name, on in raw.items() if on is True))
    return named or ("unspecified",)
