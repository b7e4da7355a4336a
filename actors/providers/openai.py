"""OpenAI (and any OpenAI-compatible server) through the ``openai`` SDK's Chat Completions.

``OpenAIProvider.generate`` makes exactly one ``POST {base_url}/chat/completions`` and
returns a ``Reply`` or raises a ``ProviderError`` classified by HTTP status (never by SDK
class), following the table in ``actors.providers.base``. The SDK's own retries are off
(``max_retries=0``): ``ProviderChain`` owns the one retry loop.
"""

from __future__ import annotations

import json
from typing import Final

import openai
from openai.types.chat import (
    ChatCompletionAssistantMessageParam,
    ChatCompletionMessageParam,
    ChatCompletionSystemMessageParam,
    ChatCompletionUserMessageParam,
)

from actors.providers import prompts
from actors.providers.base import GenerationRequest, ProviderError, Reply
from actors.providers.bounded import BoundedTransport
from actors.providers.clients import ClientCache
from actors.providers.errors import ErrorKind, classify_status, parse_retry_after, safe_label
from settings import ProviderSettings

__all__ = ["OpenAIProvider", "bounded_client"]

#: Bounds a call only if a caller ever omits the per-call timeout (``generate`` never does).
CLIENT_TIMEOUT_SECONDS: Final = 60.0
#: 429 codes that mean "out of money", not "slow down": retrying cannot help.
QUOTA_CODES: Final = frozenset({"insufficient_quota"})


class OpenAIProvider:
    """One Chat Completions call per ``generate``; safe to call from several threads."""

    name: str = "openai"

    def __init__(self, settings: ProviderSettings) -> None:
        self.model = settings.model
        self._base_url = settings.base_url
        self._clients: ClientCache[openai.OpenAI] = ClientCache(self._build_client)

    def generate(self, request: GenerationRequest, *, api_key: str, timeout: float) -> Reply:
        """Write ``request.persona``'s next message with one call bounded by ``timeout`` s.

        Runs on an agent actor's thread and blocks. ``timeout`` bounds each phase of the
        call (connect, write, each read), as httpx does; the gateway's ``call_limits`` bound
        the call as a whole (see ``actors.providers.bounded``). Raises ``ProviderError`` only; its
        message never contains ``api_key``.
        """
        if not api_key:
            raise ProviderError("openai: no api key", kind=ErrorKind.AUTH)
        if timeout <= 0:
            raise ProviderError("openai: no time left", kind=ErrorKind.TIMEOUT)
        try:
            completion = self._clients.get(api_key).chat.completions.create(
                model=self.model,
                messages=_messages(request, char_budget=prompts.history_budget(self.name)),
                # max_completion_tokens, not max_tokens: OpenAI answers 400
                # unsupported_parameter to max_tokens on reasoning models (gpt-5*, o-series;
                # the default model is one), so sending both fails there too. vLLM accepts
                # max_completion_tokens; Ollama ignores it (no error, but no cap), so there
                # the timeout and the quality gate's length limit bound a reply. On reasoning
                # models the cap includes hidden reasoning tokens, so it is larger than the
                # visible reply needs; billing follows the tokens actually used.
                max_completion_tokens=prompts.MAX_OUTPUT_TOKENS_REASONING,
                timeout=timeout,
            )
        except openai.OpenAIError as exc:
            raise _translate(exc, api_key) from exc
        # The SDK lets a 2xx body that is not JSON (or not UTF-8) escape unwrapped.
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ProviderError("openai: malformed JSON", kind=ErrorKind.MALFORMED) from exc
        return _reply(completion, fallback_model=self.model)

    def close(self) -> None:
        """Close every cached client (their connection pools). Safe to call twice."""
        self._clients.close()

    def _build_client(self, api_key: str) -> openai.OpenAI:
        return bounded_client(api_key, self._base_url)


def bounded_client(api_key: str, base_url: str, *, timeout: float = CLIENT_TIMEOUT_SECONDS) -> openai.OpenAI:
    """An OpenAI client with the SDK's retries off, on the bounded transport (the gateway's
    call_limits bound the whole call and the reply's size there); the moderation check
    and the model watch use it too."""
    return openai.OpenAI(
        api_key=api_key,
        base_url=base_url,
        max_retries=0,
        timeout=timeout,
        http_client=openai.DefaultHttpxClient(transport=BoundedTransport()),
    )


def _messages(request: GenerationRequest, *, char_budget: int) -> list[ChatCompletionMessageParam]:
    # "system", not "developer": OpenAI maps it for reasoning models, and OpenAI-compatible
    # servers (vLLM, Ollama) only know "system".
    system = prompts.system_prompt(request)
    messages: list[ChatCompletionMessageParam] = [
        ChatCompletionSystemMessageParam(role="system", content=system)
    ]
    for turn in prompts.chat_turns(request, char_budget=char_budget):
        if turn.role == "assistant":
            messages.append(
                ChatCompletionAssistantMessageParam(role="assistant", content=turn.content)
            )
        else:
            messages.append(ChatCompletionUserMessageParam(role="user", content=turn.content))
    return messages


def _reply(completion: object, *, fallback_model: str) -> Reply:
    """Read a completion defensively: a non-strict SDK hands back whatever the server sent."""
    choices = getattr(completion, "choices", None)
    if not isinstance(choices, list) or not choices:
        raise ProviderError("openai: no choices in the answer", kind=ErrorKind.MALFORMED)
    choice = choices[0]
    message = getattr(choice, "message", None)
    if message is None:
        raise ProviderError("openai: no message in the answer", kind=ErrorKind.MALFORMED)
    content = getattr(message, "content", None)
    finish = getattr(choice, "finish_reason", None)
    text = prompts.clean_reply(content) if isinstance(content, str) else ""
    if not text:
        if getattr(message, "refusal", None) or finish == "content_filter":
            raise ProviderError(f"openai: refused ({finish})", kind=ErrorKind.BLOCKED)
        # A reasoning model can spend the whole token budget thinking: finish_reason "length".
        because = f" ({finish})" if finish else ""
        raise ProviderError(f"openai: empty reply{because}", kind=ErrorKind.EMPTY)
    usage = getattr(completion, "usage", None)
    model = getattr(completion, "model", None)
    return Reply(
        text=text,
        model=model if isinstance(model, str) and model else fallback_model,
        prompt_tokens=getattr(usage, "prompt_tokens", None) or 0,
        completion_tokens=getattr(usage, "completion_tokens", None) or 0,
    )


def _translate(exc: openai.OpenAIError, api_key: str) -> ProviderError:
    """Map an SDK error to a ``ProviderError`` by what happened, not by SDK class."""
    if isinstance(exc, openai.APITimeoutError):
        return ProviderError("openai: timed out", kind=ErrorKind.TIMEOUT)
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError("openai: could not connect", kind=ErrorKind.CONNECTION)
    if isinstance(exc, openai.APIStatusError):
        return _status_error(exc, api_key)
    if isinstance(exc, openai.APIResponseValidationError):
        return ProviderError("openai: unexpected answer", kind=ErrorKind.MALFORMED)
    return ProviderError(f"openai: {type(exc).__name__}", kind=ErrorKind.HTTP)


def _status_error(exc: openai.APIStatusError, api_key: str) -> ProviderError:
    status = exc.status_code
    code = exc.code or exc.type or ""
    kind = classify_status(status)
    if status == 429 and (exc.code in QUOTA_CODES or exc.type in QUOTA_CODES):
        kind = ErrorKind.SPEND_LIMIT
    label = safe_label(code, api_key)
    return ProviderError(
        f"openai: {status} {label}".rstrip(),
        kind=kind,
        status=status,
        retry_after=parse_retry_after(exc.response.headers),
    )
