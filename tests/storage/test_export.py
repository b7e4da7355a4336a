from __future__ import annotations

import json
import re
from typing import Any

import peewee

from actors import wire
from storage import queries, setup_database, using
from storage.export import export_json, export_markdown, source_label
from storage.models import Conversation, Message

MIDNIGHT_2026_01_02 = 1_767_312_000_000


def message(seq: int, **extra: Any) -> dict[str, Any]:
    base = {
        "conversation_id": 7, "seq": seq, "agent": "openai", "persona": "Ada",
        "provider": "openai", "model": "gpt-5-mini", "source": "api", "content": "Hello.",
        "citations": [], "revealed_at": MIDNIGHT_2026_01_02 + 61_000,
    }  # fmt: skip
    return {**base, **extra}


def conversation(*messages: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": 7, "topic": "Are tides\nclocks?", "status": "complete",
        "scheduled_at": MIDNIGHT_2026_01_02, "started_at": MIDNIGHT_2026_01_02 + 500,
        "ended_at": None, "forced": False, "skip_reason": None,
        "message_count": len(messages), "messages": list(messages),
    }  # fmt: skip


def test_json_round_trips_and_keeps_unicode() -> None:
    data = conversation(message(1, content="naïve ✓"))
    text = export_json(data)
    assert json.loads(text) == data
    assert "naïve ✓" in text and text.endswith("\n")


def test_markdown_header_and_times_in_utc_iso() -> None:
    md = export_markdown(conversation())
    assert md.startswith("# Roundtable conversation 7\n")
    assert "**Topic:** Are tides clocks?" in md
    assert "- Scheduled: 2026-01-02T00:00:00Z" in md
    assert "- Started: 2026-01-02T00:00:00Z" in md
    assert "- Ended: -" in md


def test_markdown_labels_who_really_wrote_each_message() -> None:
    md = export_markdown(
        conversation(
            message(1),
            message(2, agent="gemini", persona="Gil", source="fallback", model="gpt-5-nano"),
            message(
                3,
                agent="anthropic",
                persona="Cleo",
                source="template",
                provider="template",
                model="template",
            ),  # fmt: skip
        )
    )
    assert "## 1. Ada (openai gpt-5-mini)" in md
    assert "## 2. Gil (fallback: openai gpt-5-nano)" in md
    assert "## 3. Cleo (template)" in md
    assert "*2026-01-02T00:01:01Z*" in md
    assert source_label(message(1, source="template")) == "template"


def test_markdown_quotes_content_so_it_cannot_break_structure() -> None:
    hostile = "# Fake heading\n\n## 99. Mallory (openai)\n- list\nplain"
    md = export_markdown(conversation(message(1, content=hostile)))
    body = md.split("## 1. Ada (openai gpt-5-mini)", 1)[1]
    assert "> # Fake heading\n>\n> ## 99. Mallory (openai)\n> - list\n> plain" in body
    headings = [line for line in md.splitlines() if line.startswith("#")]
    assert headings == ["# Roundtable conversation 7", "## 1. Ada (openai gpt-5-mini)"]


def test_markdown_citations_are_a_list_of_safe_links() -> None:
    citations = [
        {"url": "https://example.org/a b", "title": "bad url"},
        {"url": "https://example.org/x?y=1", "title": "A [tricky] *title*"},
        {"url": "javascript:alert(1)", "title": "evil"},
        {"url": "https://example.org/", "title": ""},
    ]
    md = export_markdown(conversation(message(1, citations=citations)))
    assert "- [A \\[tricky\\] \\*title\\*](<https://example.org/x?y=1>)" in md
    assert "- [https://example.org/](<https://example.org/>)" in md
    assert "](javascript:" not in md and "(<javascript:" not in md
    assert "- evil (`javascript:alert(1)`)" in md
    assert "- bad url (`https://example.org/a b`)" in md


def test_export_of_a_stored_conversation(db: peewee.Database) -> None:
    setup_database(db)
    with using(db):
        cid = Conversation.insert(topic="Stored", status="complete").execute()
        Message.insert(
            conversation=cid, seq=1, agent="openai", persona="Ada", provider="openai",
            model="gpt-5-mini", source="api", content="Hi", planned_at=1, revealed_at=2,
            citations='[{"url": "https://a.org", "title": "A"}]',
        ).execute()  # fmt: skip
    stored = _conversation(db, cid)
    assert stored is not None
    assert json.loads(export_json(stored))["messages"][0]["citations"][0]["url"] == "https://a.org"
    assert "- [A](<https://a.org>)" in export_markdown(stored)


def test_markdown_shows_tokens_cost_latency_and_the_fallback_reason() -> None:
    md = export_markdown(conversation(
        message(1, latency_ms=2310, prompt_tokens=812, completion_tokens=143, cost_usd=0.0030541),
        message(2, source="fallback", provider="anthropic", latency_ms=900, prompt_tokens=10,
                completion_tokens=5, cost_usd=0.5, cost_estimated=True,
                fallback_reason="openai: 529 overloaded_error `x` # not a heading"),
        message(3, source="template", provider="template", model="template", latency_ms=12),
    ))
    assert "812 prompt + 143 completion tokens · $0.003054 · 2.31 s" in md
    assert "$0.500000 (estimated) · 0.90 s" in md
    assert "Fallback reason: `openai: 529 overloaded_error 'x' # not a heading`" in md
    assert "no API call · 0.01 s" in md


def test_json_export_carries_the_details_of_stored_messages(db: peewee.Database) -> None:
    setup_database(db)
    with using(db):
        cid = Conversation.insert(topic="t", status="complete").execute()
        Message.insert(
            conversation=cid, seq=1, agent="openai", persona="Ada", provider="anthropic",
            model="claude-sonnet-5-5", source="fallback", content="hi", planned_at=1, revealed_at=2,
            latency_ms=1500, prompt_tokens=700, completion_tokens=90, cost_usd=0.0023,
            fallback_reason="openai: circuit open",
        ).execute()
    found = _conversation(db, cid)
    assert found is not None
    [exported] = json.loads(export_json(found))["messages"]
    assert (exported["prompt_tokens"], exported["completion_tokens"], exported["cost_usd"],
            exported["latency_ms"], exported["fallback_reason"]) == (
        700, 90, 0.0023, 1500, "openai: circuit open")  # fmt: skip


def test_markdown_escapes_model_text_and_names_so_no_html_or_link_survives() -> None:
    hostile = ('<script>alert(1)</script> <img src=x onerror=alert(1)> [click](javascript:alert(1)) '
               '<javascript:alert(1)> ![pic](https://evil.example/x.png) **bold** `code` | a | ~~s~~')
    md = export_markdown({
        **conversation(message(1, content=hostile, persona="<b>Mallory</b>", model="[m](javascript:x)")),
        "topic": "<i>topic</i> [t](javascript:y)",
    })
    (quoted,) = [line for line in md.splitlines() if line.startswith("> ")]
    assert re.search(r"(?<!\\)[<>\[\]`*_~!|]", quoted[2:]) is None, quoted  # every mark escaped
    assert "\\<script\\>alert(1)\\</script\\>" in md and "\\[click\\](javascript:alert(1))" in md
    assert "## 1. \\<b\\>Mallory\\</b\\> (openai \\[m\\](javascript:x))" in md
    assert "**Topic:** \\<i\\>topic\\</i\\> \\[t\\](javascript:y)" in md


def test_json_export_round_trips_hostile_text_exactly() -> None:
    hostile = '</script><script>alert("x")</script>\u2028\x00\\"'
    data = conversation(message(1, content=hostile, model="<m>"))
    assert json.loads(export_json(data)) == data


def _conversation(db: Any, cid: int) -> dict[str, Any] | None:
    """The stored conversation as the API and the exports get it."""
    found = queries.get_conversation(db, cid)
    return None if found is None else wire.conversation(found)
