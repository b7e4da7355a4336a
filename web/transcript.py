"""How a stored round reads on a shared page and in the feed: titles, descriptions,
attribution labels and the schema.org JSON-LD.

Pure functions over ``actors.wire.conversation`` shapes (epoch ms), safe on any thread.
Message text is untrusted: these return plain text, which Jinja escapes in the page and
ElementTree escapes in the feed; ``json_ld`` escapes ``<``, ``>`` and ``&`` so a message
can never close the ``<script>`` element it sits in. The widget
(``realtime_ui_components.js``, ``modelLabel`` and ``sourceBadge``) labels live messages
the same way.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any, Final

from actors import wire
from actors.clock import iso_utc
from web import roster

__all__ = [
    "SITE_NAME",
    "badge",
    "description",
    "details",
    "iso_time",
    "json_ld",
    "model_label",
    "round_meta",
    "title",
    "xml_text",
]

SITE_NAME: Final = "Roundtable"
#: Search engines and link previews show about this much of a description.
DESCRIPTION_CHARS: Final = 200
#: Characters XML 1.0 forbids (C0 controls but tab/newline/CR, surrogates, U+FFFE/F):
#: model output could hold them, and one would make the whole feed unreadable.
_NOT_XML: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def title(conversation: dict[str, Any]) -> str:
    """The page and feed title: the topic, or "Round N" when it has none."""
    return _one_line(conversation.get("topic")) or f"Round {conversation['id']}"


def description(conversation: dict[str, Any]) -> str:
    """A line or two for link previews: the opening message, cut at a word."""
    messages = conversation.get("messages") or []
    if not messages:
        return f"A round of {SITE_NAME}, a live conversation between {roster.agent_count()} AI agents: {title(conversation)}."
    first = messages[0]
    text = f"{_one_line(first.get('persona'))}: {_one_line(first.get('content'))}"
    if len(text) <= DESCRIPTION_CHARS:
        return text
    return text[: DESCRIPTION_CHARS - 1].rsplit(" ", 1)[0] + "\u2026"


def model_label(message: dict[str, Any]) -> str:
    """"provider · model" without saying the provider twice ("perplexity · sonar", not
    "perplexity · perplexity/sonar"); empty for a template (its badge says so)."""
    if message.get("source") == "template":
        return ""
    provider = _one_line(message.get("provider"))
    model = _one_line(message.get("model"))
    if provider and model.startswith(provider + "/"):
        model = model[len(provider) + 1 :]
    return " \u00b7 ".join(part for part in (provider, model if model != provider else "") if part)


def badge(message: dict[str, Any]) -> tuple[str, str] | None:
    """``(kind, text)`` of the honest-attribution badge, or None for the agent's own API."""
    if message.get("source") == "fallback":
        return "fallback", f"fallback: {_one_line(message.get('provider')) or 'another provider'} answered"
    if message.get("source") == "template":
        return "template", "template \u2014 no AI answered"
    return None


def details(message: dict[str, Any]) -> list[tuple[str, str]]:
    """The rows of a message's closed "Details" disclosure: tokens, cost, time taken, why a
    fallback; as the widget's ``renderDetails`` words them. A template made no call, so
    zero tokens and no cost are left out; absent fields are too."""
    prompt = _number(message.get("prompt_tokens"))
    completion = _number(message.get("completion_tokens"))
    cost = _number(message.get("cost_usd"))
    latency = message.get("latency_ms")
    rows = []
    if prompt or completion:
        rows.append(("Tokens", f"{prompt:g} in \u00b7 {completion:g} out"))
    if cost or prompt or completion:
        estimate = " (estimated)" if message.get("cost_estimated") else ""
        rows.append(("Cost", f"${cost:.6f}{estimate}" if cost else "nothing"))
    if isinstance(latency, int | float) and not isinstance(latency, bool):
        rows.append(("Took", f"{round(latency)} ms" if latency < 1000 else f"{latency / 1000:.1f} s"))
    if message.get("fallback_reason"):
        rows.append(("Why a fallback", _one_line(message["fallback_reason"])))
    return rows


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def round_meta(conversation: dict[str, Any]) -> str:
    """"30 Nov 2026 05:30 UTC · 16 messages · started by the admins", as the widget says it."""
    count = len(conversation.get("messages") or [])
    parts = []
    when = conversation.get("started_at") or conversation.get("scheduled_at")
    if isinstance(when, int):
        parts.append(datetime.fromtimestamp(wire.seconds(when), UTC).strftime("%d %b %Y %H:%M UTC"))
    parts.append(f"{count} message{'' if count == 1 else 's'}")
    status = conversation.get("status")
    if status and status != "complete":
        parts.append(status_text(status, conversation.get("skip_reason")))
    if conversation.get("forced"):
        parts.append("started by the admins")
    return " \u00b7 ".join(parts)


def status_text(status: str, reason: str | None) -> str:
    """"skipped by admin", not "skipped: skipped by admin"."""
    reason = _one_line(reason)
    if not reason:
        return status
    return reason if reason.lower().startswith(status.lower()) else f"{status}: {reason}"


def iso_time(ms: int | None) -> str:
    """Epoch ms as RFC 3339 UTC (``2026-11-30T05:30:00Z``), for Atom, sitemaps and JSON-LD."""
    if ms is None:
        return ""
    return iso_utc(wire.seconds(ms))


def json_ld(conversation: dict[str, Any], url: str) -> str:
    """schema.org ``DiscussionForumPosting`` for the round, safe inside ``<script>``."""
    messages = conversation.get("messages") or []
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "DiscussionForumPosting",
        "headline": title(conversation),
        "description": description(conversation),
        "url": url,
        "mainEntityOfPage": url,
        "datePublished": iso_time(conversation.get("started_at") or conversation.get("scheduled_at")),
        "author": {"@type": "Organization", "name": SITE_NAME},
        "commentCount": len(messages),
        "comment": [
            {"@type": "Comment", "position": m.get("seq"), "text": _one_line(m.get("content")),
             "author": {"@type": "Organization", "name": _one_line(m.get("persona"))}}
            for m in messages
        ],
    }
    if conversation.get("ended_at"):
        data["dateModified"] = iso_time(conversation["ended_at"])
    text = json.dumps(data, ensure_ascii=False)
    # "</script>" or "<!--" in a message must not end or change the script element.
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def xml_text(value: object) -> str:
    """``value`` as text XML 1.0 can hold (ElementTree escapes markup, not these)."""
    return _NOT_XML.sub("", str(value if value is not None else ""))


def _one_line(value: object) -> str:
    return " ".join(str(value if value is not None else "").split())
