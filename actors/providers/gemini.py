"""Gemini through ``google-genai`` (``generateContent`` on the Gemini Developer API).

``POST {base_url}/v1beta/models/{model}:generateContent`` with ``x-goog-api-key``. The
SDK retries only when given ``retry_options``; we never give any, so one ``generate()``
is one request (ours is the one retry loop). google-genai 3.x sends over ``httpx2`` (its
own dependency, and the stack of the other SDKs) and lets its transport errors through
unwrapped, so they are caught here; ``httpx``'s too when something else installed it
(``GOOGLE_GENAI_HTTP_CLIENT`` can select it). Every failure leaves as a ``ProviderError``
(see ``base``).
"""

from __future__ import annotations

from typing import Any, Final

import httpx2
from google import genai
from google.genai import errors, types

from actors.providers import prompts
from actors.providers.base import GenerationRequest, ProviderError, Reply
from actors.providers.bounded import BoundedTransport, tls_context
from actors.providers.clients import ClientCache
from actors.providers.errors import ErrorKind, classify_status, parse_retry_after
from settings import ProviderSettings

__all__ = ["GeminiProvider"]

_TIMEOUTS: tuple[type[Exception], ...] = (httpx2.TimeoutException,)
_TRANSPORT: tuple[type[Exception], ...] = (httpx2.TransportError,)
try:
    import httpx
except ImportError:  # not a dependency of ours: the SDK then uses httpx2 only
    pass
else:
    _TIMEOUTS += (httpx.TimeoutException,)
    _TRANSPORT += (httpx.TransportError,)

#: Client-level bound; every call sets its own ``timeout`` on top of it.
_DEFAULT_TIMEOUT_MS: Final = 60_000
#: Finish reasons that mean the model refused, so asking again will not help.
_REFUSALS: Final = frozenset({"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII"})


class GeminiProvider:
    """One ``generate()`` call is one ``generateContent`` request, without SDK retries.

    Thread-safe: one ``genai.Client`` per api key, created on first use under a lock and
    shared by every thread afterwards. ``close()`` releases their connections.
    """

    name = "gemini"

    def __init__(self, settings: ProviderSettings) -> None:
        self.model = settings.model
        self._base_url = settings.base_url.rstrip("/")
        self._clients: ClientCache[genai.Client] = ClientCache(self._build_client)

    def close(self) -> None:
        self._clients.close()

    def generate(self, request: GenerationRequest, *, api_key: str, timeout: float) -> Reply:
        """One ``generateContent`` call for ``request``; raises ``ProviderError`` only.

        ``timeout`` bounds each phase (connect, write, each read) at ``timeout`` seconds.
        """
        try:
            response = self._clients.get(api_key).models.generate_content(
                model=self.model,
                contents=_contents(request, char_budget=prompts.history_budget(self.name)),
                config=self._config(request, timeout),
            )
        except errors.APIError as exc:
            raise _api_error(exc, api_key) from exc
        except _TIMEOUTS as exc:
            raise ProviderError(f"gemini: no answer within {timeout:g} s",
                                kind=ErrorKind.TIMEOUT) from exc
        except _TRANSPORT as exc:
            raise ProviderError(f"gemini: connection failed ({type(exc).__name__})",
                                kind=ErrorKind.CONNECTION) from exc
        except ValueError as exc:  # invalid JSON, or JSON the SDK's models reject
            raise ProviderError(f"gemini: unreadable answer ({type(exc).__name__})",
                                kind=ErrorKind.MALFORMED) from exc
        return self._reply(response)

    def _build_client(self, api_key: str) -> genai.Client:
        return bounded_client(api_key, self._base_url)

    def _config(self, request: GenerationRequest, timeout: float) -> types.GenerateContentConfig:
        return types.GenerateContentConfig(
            system_instruction=prompts.system_prompt(request),
            max_output_tokens=prompts.MAX_OUTPUT_TOKENS,
            thinking_config=_thinking(self.model),
            http_options=types.HttpOptions(timeout=max(1, round(timeout * 1000))),
        )

    def _reply(self, response: types.GenerateContentResponse) -> Reply:
        if not response.candidates:
            feedback = response.prompt_feedback
            if feedback is not None and feedback.block_reason is not None:
                raise ProviderError(f"gemini: prompt blocked ({_name(feedback.block_reason)})",
                                    kind=ErrorKind.BLOCKED)
            raise ProviderError("gemini: the answer held no candidates", kind=ErrorKind.EMPTY)
        candidate = response.candidates[0]
        parts = candidate.content.parts if candidate.content and candidate.content.parts else []
        # Thought summaries are the model's notes, not its reply.
        text = prompts.clean_reply("".join(p.text for p in parts if p.text and not p.thought))
        finish = _name(candidate.finish_reason)
        if not text and finish in _REFUSALS:
            raise ProviderError(f"gemini: reply blocked ({finish})", kind=ErrorKind.BLOCKED)
        if not text:
            raise ProviderError(f"gemini: the answer held no text (finish {finish or 'unknown'})",
                                kind=ErrorKind.EMPTY)
        usage = response.usage_metadata
        return Reply(
            text=text,
            model=response.model_version or self.model,
            prompt_tokens=(usage.prompt_token_count or 0) if usage else 0,
            # Thinking tokens are billed as output, so they count as completion tokens.
            completion_tokens=((usage.candidates_token_count or 0)
                               + (usage.thoughts_token_count or 0)) if usage else 0,
        )


def _contents(request: GenerationRequest, *, char_budget: int) -> list[types.Content]:
    """The shared transcript mapping, with Gemini's name for the assistant role."""
    return [
        types.Content(role="model" if t.role == "assistant" else "user",
                      parts=[types.Part(text=t.content)])
        for t in prompts.chat_turns(request, char_budget=char_budget)
    ]


def _thinking(model: str) -> types.ThinkingConfig | None:
    # Flash thinks by default and its thoughts count against max_output_tokens: with
    # our 400-token cap it can spend them all and answer nothing (finish MAX_TOKENS).
    # Flash accepts a budget of 0; other models keep their defaults.
    name = model.removeprefix("models/")
    if name.startswith("gemini-2.5-flash"):
        return types.ThinkingConfig(thinking_budget=0)
    # 3.x Flash takes a level, not a budget; its thoughts still count against the cap.
    if name.startswith("gemini-3") and "-flash" in name:
        return types.ThinkingConfig(thinking_level=types.ThinkingLevel.MINIMAL)
    return None


def _api_error(exc: errors.APIError, api_key: str) -> ProviderError:
    """Classify an HTTP error status as the table in ``base`` says."""
    status = exc.code
    detail = str(exc.message or "no detail")[:200]
    message = f"gemini: HTTP {status} {exc.status or ''}".rstrip() + f": {detail}"
    message = message.replace(api_key, "***") if api_key else message
    # The SDK types ``code`` as int but fills it from the body when it has no status.
    kind = classify_status(status if isinstance(status, int) else None)
    # Google answers a wrong key with 400 INVALID_ARGUMENT and reason API_KEY_INVALID.
    if kind is ErrorKind.AUTH or "API_KEY_INVALID" in _detail_values(exc.details, "reason"):
        return ProviderError(message, kind=ErrorKind.AUTH, status=status)
    retry_after = _retry_after(exc) if kind.retryable else None
    return ProviderError(message, kind=kind, status=status, retry_after=retry_after)


def _retry_after(exc: errors.APIError) -> float | None:
    """Seconds to wait: the ``Retry-After`` headers, else the body's ``RetryInfo.retryDelay``."""
    headers = getattr(exc.response, "headers", None)
    from_headers = parse_retry_after(headers) if headers is not None else None
    if from_headers is not None:
        return from_headers
    for delay in _detail_values(exc.details, "retryDelay"):
        try:  # a protobuf Duration: "37s", "1.5s"
            return max(0.0, float(delay.strip().removesuffix("s")))
        except ValueError:
            continue
    return None


def _detail_values(body: Any, key: str) -> list[str]:
    """``key`` from each entry of ``error.details`` (google.rpc status details)."""
    error = body.get("error", body) if isinstance(body, dict) else {}
    details = error.get("details") if isinstance(error, dict) else None
    return [str(d[key]) for d in details or [] if isinstance(d, dict) and key in d]


def _name(value: object) -> str:
    """An SDK enum (or a plain string from a newer API) as its bare name."""
    return str(getattr(value, "value", value) or "")


def bounded_client(api_key: str, base_url: str, *, timeout_ms: int = _DEFAULT_TIMEOUT_MS) -> genai.Client:
    """A Gemini client on the bounded transport (the gateway's call_limits bound the whole
    call and the reply's size there) and the process's one TLS context, its spare async
    and websocket clients included; the model watch uses it too."""
    return genai.Client(
        api_key=api_key,
        vertexai=False,  # never let GOOGLE_GENAI_USE_VERTEXAI reroute us
        http_options=types.HttpOptions(
            base_url=base_url, api_version="v1beta", timeout=timeout_ms,
            client_args={"transport": BoundedTransport(), "verify": tls_context()},
            async_client_args={"ssl": tls_context()},  # its websocket context: the same one
        ),
    )
