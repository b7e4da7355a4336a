"""Perplexity through its Agent API (Responses format, ``web_search`` tool), over httpx2.

``POST {base_url}/v1/agent`` with ``Authorization: Bearer <key>``. The API refuses
unknown request fields with 400, so the body holds exactly ``model``, ``input``,
``instructions``, ``max_output_tokens`` and ``tools``. A run that failed on the server
comes back as HTTP 200 with ``status: "failed"``: the answer is classified by ``status``
before anything else is read. Every failure leaves as a ``ProviderError`` (see ``base``).
"""

from __future__ import annotations

import re
from typing import Any, Final

import httpx2

from actors.providers import prompts
from actors.providers.base import Citation, GenerationRequest, ProviderError, Reply
from actors.providers.bounded import BoundedTransport
from actors.providers.errors import ErrorKind, classify_status, parse_retry_after
from settings import ProviderSettings

__all__ = ["PerplexityProvider"]

MAX_CITATIONS: Final = 8
#: Sonar models mark sources inline as "[1]"; our citation list is deduplicated and
#: capped, so the numbers would point at the wrong entries. They are dropped.
_CITATION_MARK: Final = re.compile(r"\s?\[\d+(?:,\s*\d+)*\]")
_SPEND_LIMIT_HINTS: Final = ("quota", "insufficient", "credit", "spend", "budget")


class PerplexityProvider:
    """One ``generate()`` call is one ``POST /v1/agent``; the shared client never retries.

    Thread-safe: agent actors may call ``generate`` concurrently on one instance (a single
    ``httpx2.Client`` is safe to share between threads). ``close()`` releases its sockets.
    """

    name = "perplexity"

    def __init__(self, settings: ProviderSettings) -> None:
        self.model = settings.model
        self._url = f"{settings.base_url.rstrip('/')}/v1/agent"
        # Redirects off: a redirect would carry the bearer key to wherever it points. The
        # transport lets the gateway's call_limits bound the whole call and the reply's size.
        self._client = httpx2.Client(follow_redirects=False, transport=BoundedTransport())

    def close(self) -> None:
        self._client.close()

    def generate(self, request: GenerationRequest, *, api_key: str, timeout: float) -> Reply:
        """One Agent API call for ``request``; raises ``ProviderError`` only.

        ``timeout`` bounds each phase (connect, write, each read) at ``timeout`` seconds.
        """
        try:
            response = self._client.post(
                self._url,
                json=self._body(request),
                headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
                timeout=httpx2.Timeout(timeout),
            )
        except httpx2.TimeoutException as exc:
            raise ProviderError(f"perplexity: no answer within {timeout:g} s",
                                kind=ErrorKind.TIMEOUT) from exc
        except httpx2.TransportError as exc:
            raise ProviderError(f"perplexity: connection failed ({type(exc).__name__})",
                                kind=ErrorKind.CONNECTION) from exc
        except httpx2.RequestError as exc:  # e.g. a body that would not decode
            raise ProviderError(f"perplexity: unreadable answer ({type(exc).__name__})",
                                kind=ErrorKind.MALFORMED) from exc
        if not response.is_success:
            raise _status_error(response, api_key)
        return self._reply(_json(response), api_key)

    def _body(self, request: GenerationRequest) -> dict[str, Any]:
        # Exactly the fields the strict API accepts; anything more is a 400.
        return {
            "model": self.model,
            "input": [
                {"role": t.role, "content": t.content}
                for t in prompts.chat_turns(request, char_budget=prompts.history_budget(self.name))
            ],
            "instructions": prompts.system_prompt(request),
            "max_output_tokens": prompts.MAX_OUTPUT_TOKENS,
            "tools": [{"type": "web_search"}],
        }

    def _reply(self, data: dict[str, Any], api_key: str) -> Reply:
        status = data.get("status")
        if status in ("failed", "cancelled"):
            error = _dict(data.get("error"))
            detail = _redact(str(error.get("message") or error.get("code") or "no detail"), api_key)
            raise ProviderError(f"perplexity: run {status}: {detail[:200]}",
                                kind=ErrorKind.FAILED)
        # "incomplete" (the token cap was hit) still carries usable text.
        if status not in ("completed", "incomplete"):
            raise ProviderError(f"perplexity: unexpected run status {status!r}",
                                kind=ErrorKind.MALFORMED)
        output = [item for item in _list(data.get("output")) if isinstance(item, dict)]
        text = prompts.clean_reply(_CITATION_MARK.sub("", _output_text(output)))
        if not text:
            raise ProviderError("perplexity: the answer held no text", kind=ErrorKind.EMPTY)
        usage = _dict(data.get("usage"))
        return Reply(
            text=text,
            model=str(data.get("model") or self.model),
            prompt_tokens=_int(usage.get("input_tokens")),
            completion_tokens=_int(usage.get("output_tokens")),
            cost_usd=_cost_usd(usage.get("cost")),
            citations=_citations(output),
        )


def _json(response: httpx2.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError as exc:
        raise ProviderError("perplexity: the answer was not JSON",
                            kind=ErrorKind.MALFORMED) from exc
    if not isinstance(data, dict):
        raise ProviderError("perplexity: the answer was not a JSON object",
                            kind=ErrorKind.MALFORMED)
    return data


def _output_text(output: list[dict[str, Any]]) -> str:
    messages = [item for item in output if item.get("type") == "message"]
    texts = [
        "".join(str(part.get("text") or "") for part in _list(item.get("content"))
                if isinstance(part, dict) and part.get("type") == "output_text")
        for item in messages
    ]
    return "\n\n".join(t for t in texts if t.strip())


def _citations(output: list[dict[str, Any]]) -> tuple[Citation, ...]:
    """Sources from the ``search_results`` items: http(s) only, first of each url, at most 8."""
    seen: dict[str, Citation] = {}
    for item in output:
        if item.get("type") != "search_results":
            continue
        for result in _list(item.get("results")):
            url = str(result.get("url") or "").strip() if isinstance(result, dict) else ""
            if url.startswith(("http://", "https://")) and url not in seen:
                seen[url] = Citation(url=url, title=str(result.get("title") or "").strip())
    return tuple(seen.values())[:MAX_CITATIONS]


def _cost_usd(cost: object) -> float | None:
    """``usage.cost.total_cost`` (USD); the parts summed if the total is missing."""
    if isinstance(cost, int | float) and not isinstance(cost, bool):
        return float(cost)
    if not isinstance(cost, dict):
        return None
    currency = cost.get("currency")
    if isinstance(currency, str) and currency.upper() != "USD":
        return None  # never add another currency into a dollar budget
    total = cost.get("total_cost")
    if isinstance(total, int | float) and not isinstance(total, bool):
        return float(total)
    parts = [v for k, v in cost.items() if k.endswith("_cost") and isinstance(v, int | float)]
    return float(sum(parts)) if parts else None


def _status_error(response: httpx2.Response, api_key: str) -> ProviderError:
    """Classify an HTTP error status as the table in ``base`` says."""
    status = response.status_code
    error: dict[str, Any] = {}
    try:
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            error = body["error"]
    except ValueError:
        pass  # a proxy's HTML page: the status alone decides
    label = "/".join(str(error[k]) for k in ("type", "code") if error.get(k))
    detail = str(error.get("message") or response.reason_phrase or "no detail")[:200]
    head = " ".join(part for part in (f"HTTP {status}", label) if part)
    message = _redact(f"perplexity: {head}: {detail}", api_key)
    kind = classify_status(status)
    if status == 429 and any(h in label.lower() for h in _SPEND_LIMIT_HINTS):
        kind = ErrorKind.SPEND_LIMIT  # out of credit: waiting will not help
    retry_after = parse_retry_after(response.headers) if kind.retryable else None
    return ProviderError(message, kind=kind, status=status, retry_after=retry_after)


def _redact(message: str, api_key: str) -> str:
    return message.replace(api_key, "***") if api_key else message


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
