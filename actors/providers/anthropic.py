"""Anthropic Claude through the ``anthropic`` SDK's Messages API.

``AnthropicProvider.generate`` makes exactly one ``POST {base_url}/v1/messages`` and
returns a ``Reply`` or raises a ``ProviderError`` classified by HTTP status (never by SDK
class: anthropic 2.x files ``OverloadedError`` (529) under ``InternalServerError``),
following the table in ``actors.providers.base``. The SDK's own retries are off
(``max_retries=0``; anthropic 2.x would otherwise sleep for any Retry-After, even an hour).
"""

from __future__ import annotations

import json
from typing import Final

import anthropic
from anthropic.types import AssistantMessageParam, MessageParam, UserMessageParam

from actors.providers import prompts
from actors.providers.base import GenerationRequest, ProviderError, Reply
from actors.providers.bounded import BoundedTransport
from actors.providers.clients import ClientCache
from actors.providers.errors import ErrorKind, classify_status, parse_retry_after, safe_label
from settings import ProviderSettings

__all__ = ["AnthropicProvider"]

#: Bounds a call only if a caller ever omits the per-call timeout (``generate`` never does).
CLIENT_TIMEOUT_SECONDS: Final = 60.0
#: ``error.details.error_code`` of a 429 that is a spend cap, not a rate limit: never retry.
SPEND_LIMIT_CODES: Final = frozenset({"enforced_spend_limit_reached"})


class AnthropicProvider:
    """One Messages call per ``generate``; safe to call from several threads."""

    name: str = "anthropic"

    def __init__(self, settings: ProviderSettings) -> None:
        self.model = settings.model
        self._base_url = settings.base_url
        self._clients: ClientCache[anthropic.Anthropic] = ClientCache(self._build_client)

    def generate(self, request: GenerationRequest, *, api_key: str, timeout: float) -> Reply:
        """Write ``request.persona``'s next message with one call bounded by ``timeout`` s.

        Runs on an agent actor's thread and blocks. ``timeout`` bounds each phase of the
        call (connect, write, each read), as httpx does; the gateway's ``call_limits`` bound
        the call as a whole (see ``actors.providers.bounded``). Raises ``ProviderError`` only; its
        message never contains ``api_key``.
        """
        if not api_key:
            raise ProviderError("anthropic: no api key", kind=ErrorKind.AUTH)
        if timeout <= 0:
            raise ProviderError("anthropic: no time left", kind=ErrorKind.TIMEOUT)
        try:
            # No temperature/top_p/top_k: anthropic 1.x+ removed them (TypeError).
            # max_tokens is required by the API.
            message = self._clients.get(api_key).messages.create(
                model=self.model,
                system=prompts.system_prompt(request),
                messages=_messages(request, char_budget=prompts.history_budget(self.name)),
                max_tokens=prompts.MAX_OUTPUT_TOKENS,
                timeout=timeout,
            )
        except anthropic.AnthropicError as exc:
            raise _translate(exc, api_key) from exc
        # The SDK lets a 2xx body that is not JSON (or not UTF-8) escape unwrapped.
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ProviderError(
                "anthropic: malformed JSON", kind=ErrorKind.MALFORMED
            ) from exc
        return _reply(message, fallback_model=self.model)

    def close(self) -> None:
        """Close every cached client (their connection pools). Safe to call twice."""
        self._clients.close()

    def _build_client(self, api_key: str) -> anthropic.Anthropic:
        return anthropic.Anthropic(
            api_key=api_key,
            base_url=self._base_url,
            max_retries=0,
            timeout=CLIENT_TIMEOUT_SECONDS,
            # The gateway's call_limits bound the whole call and the reply's size here.
            http_client=anthropic.DefaultHttpxClient(transport=BoundedTransport()),
        )


def _messages(request: GenerationRequest, *, char_budget: int) -> list[MessageParam]:
    # chat_turns already alternates user/assistant and ends on user, as Messages requires.
    messages: list[MessageParam] = []
    for turn in prompts.chat_turns(request, char_budget=char_budget):
        if turn.role == "assistant":
            messages.append(AssistantMessageParam(role="assistant", content=turn.content))
        else:
            messages.append(UserMessageParam(role="user", content=turn.content))
    return messages


def _reply(message: object, *, fallback_model: str) -> Reply:
    """Read a message defensively: a non-strict SDK hands back whatever the server sent."""
    content = getattr(message, "content", None)
    if not isinstance(content, list):
        raise ProviderError("anthropic: no content in the answer", kind=ErrorKind.MALFORMED)
    # Text blocks are consecutive pieces of one answer (citations split them mid-sentence).
    raw = "".join(
        block.text
        for block in content
        if getattr(block, "type", None) == "text" and isinstance(getattr(block, "text", None), str)
    )
    text = prompts.clean_reply(raw)
    stop = getattr(message, "stop_reason", None)
    if not text:
        if stop == "refusal":
            raise ProviderError("anthropic: refused", kind=ErrorKind.BLOCKED)
        because = f" ({stop})" if stop else ""
        raise ProviderError(f"anthropic: empty reply{because}", kind=ErrorKind.EMPTY)
    usage = getattr(message, "usage", None)
    model = getattr(message, "model", None)
    return Reply(
        text=text,
        model=model if isinstance(model, str) and model else fallback_model,
        prompt_tokens=getattr(usage, "input_tokens", None) or 0,
        completion_tokens=getattr(usage, "output_tokens", None) or 0,
    )


def _translate(exc: anthropic.AnthropicError, api_key: str) -> ProviderError:
    """Map an SDK error to a ``ProviderError`` by what happened, not by SDK class."""
    if isinstance(exc, anthropic.APITimeoutError):
        return ProviderError("anthropic: timed out", kind=ErrorKind.TIMEOUT)
    if isinstance(exc, anthropic.APIConnectionError):
        return ProviderError("anthropic: could not connect", kind=ErrorKind.CONNECTION)
    if isinstance(exc, anthropic.APIStatusError):
        return _status_error(exc, api_key)
    if isinstance(exc, anthropic.APIResponseValidationError):
        return ProviderError("anthropic: unexpected answer", kind=ErrorKind.MALFORMED)
    return ProviderError(f"anthropic: {type(exc).__name__}", kind=ErrorKind.HTTP)


def _status_error(exc: anthropic.APIStatusError, api_key: str) -> ProviderError:
    status = exc.status_code
    error_code = exc.error_code or ""  # error.details.error_code
    code = error_code or str(exc.type or "")  # error.type, e.g. "overloaded_error"
    kind = classify_status(status)  # 529 (overloaded) is a retryable 5xx
    if status == 429 and error_code in SPEND_LIMIT_CODES:
        kind = ErrorKind.SPEND_LIMIT
    label = safe_label(code, api_key)
    return ProviderError(
        f"anthropic: {status} {label}".rstrip(),
        kind=kind,
        status=status,
        retry_after=parse_retry_after(exc.response.headers),
    )
