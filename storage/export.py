"""Transcripts of one conversation (the ``actors.wire.conversation`` shape).

Pure functions, safe on any thread. Message text, model names and personas are
untrusted: in Markdown every content line is quoted with ``> `` (so a message cannot
start a heading or a list that breaks the document's structure), one-line fields are
flattened, and every text field is escaped so that no raw HTML, link, image or
autolink can form (``<``, ``>``, brackets, emphasis and code marks are backslashed);
only citation URLs that are plain ``http(s)`` become links. JSON is ``json.dumps``:
any text round-trips exactly.
"""

from __future__ import annotations

import json
import re
from typing import Any

from actors.clock import iso_utc
from storage.models import to_seconds

__all__ = ["details_line", "export_json", "export_markdown", "source_label"]

#: Characters that could start Markdown markup inline (HTML, links, images, emphasis,
#: code, tables, strikethrough); backslash-escaped, CommonMark renders them as text.
_SPECIALS = re.compile(r"([\\`*_\[\]<>|~!])")


def export_json(conversation: dict[str, Any]) -> str:
    """The conversation as pretty JSON (UTF-8 text, times in epoch ms), ending in a newline."""
    return json.dumps(conversation, indent=2, ensure_ascii=False) + "\n"


def export_markdown(conversation: dict[str, Any]) -> str:
    """The conversation as a Markdown document, ending in a newline."""
    lines = [
        f"# Roundtable conversation {conversation['id']}",
        "",
        f"**Topic:** {_escape(_one_line(conversation.get('topic') or '(none)'))}",
        "",
        f"- Status: {conversation.get('status', '')}",
        f"- Scheduled: {_iso(conversation.get('scheduled_at'))}",
        f"- Started: {_iso(conversation.get('started_at'))}",
        f"- Ended: {_iso(conversation.get('ended_at'))}",
    ]
    if conversation.get("skip_reason"):
        lines.append(f"- Skip reason: {_escape(_one_line(conversation['skip_reason']))}")
    for message in conversation.get("messages", []):
        lines += ["", *_message_lines(message)]
    return "\n".join(lines) + "\n"


def source_label(message: dict[str, Any]) -> str:
    """Who really wrote a message: ``openai gpt-5-mini``, ``fallback: openai gpt-5-mini``,
    or ``template``."""
    source = message.get("source", "")
    if source == "template":
        return "template"
    who = _one_line(f"{message.get('provider', '')} {message.get('model', '')}")
    return f"fallback: {who}" if source == "fallback" else who


def _message_lines(message: dict[str, Any]) -> list[str]:
    persona = _escape(_one_line(message.get("persona", "")))
    heading = f"## {_one_line(message.get('seq', '?'))}. {persona} ({_escape(source_label(message))})"
    lines = [heading, "", f"*{_iso(message.get('revealed_at'))}* · {details_line(message)}"]
    if message.get("fallback_reason"):
        lines += ["", f"Fallback reason: {_inert(message['fallback_reason'])}"]
    lines.append("")
    content = str(message.get("content", "")).splitlines() or [""]
    lines += [f"> {_escape(line)}".rstrip() for line in content]
    citations = message.get("citations") or []
    if citations:
        lines += ["", "Sources:", ""]
        lines += [f"- {_link(c.get('url', ''), c.get('title', ''))}" for c in citations]
    return lines


def details_line(message: dict[str, Any]) -> str:
    """Tokens, cost and latency of one message, for people: "812 prompt + 143 completion
    tokens · $0.001527 · 2.31 s" (a template: "no API call · 0.01 s")."""
    latency = f"{int(message.get('latency_ms') or 0) / 1000:.2f} s"
    prompt, completion = int(message.get("prompt_tokens") or 0), int(message.get("completion_tokens") or 0)
    if message.get("source") == "template" and not (prompt or completion):
        return f"no API call · {latency}"
    cost = f"${float(message.get('cost_usd') or 0.0):.6f}"
    if message.get("cost_estimated"):
        cost += " (estimated)"
    return f"{prompt} prompt + {completion} completion tokens · {cost} · {latency}"


def _inert(text: object) -> str:
    """One line of untrusted text as a code span: Markdown shows it, never renders it."""
    return f"`{_one_line(text).replace('`', chr(39))}`"


def _link(url: str, title: str) -> str:
    url = _one_line(url)
    if re.match(r"^https?://[^\s<>]+$", url):
        return f"[{_escape(_one_line(title) or url)}](<{url}>)"
    # Not a web link (or not a safe one): show it as inert code text.
    shown = f"`{url.replace('`', '')}`" if url else ""
    label = _escape(_one_line(title))
    return f"{label} ({shown})" if label and shown else label or shown


def _escape(text: str) -> str:
    return _SPECIALS.sub(r"\\\1", text)


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _iso(ms: int | None) -> str:
    if ms is None:
        return "-"
    return iso_utc(to_seconds(ms))
