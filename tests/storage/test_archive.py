"""Export, import and prune on real databases (SQLite files and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import peewee
import pytest

from storage import connect, setup_database, using
from storage.archive import BATCH, ArchiveError, export_lines, import_lines
from storage.models import ApiCallRecord, AuditEntry, Conversation, Message, RelayedCommand
from storage.relay import pending, submit
from storage.retention import parse_duration, prune

#: Digits that PostgreSQL's ``real`` (the 49291aa column type) would lose.
PRECISE_COST = 0.000123456789012


def add_round(conversation_id: int, *, ended_at: int | None, status: str = "complete",
              messages: int = 2) -> None:
    Conversation.create(
        id=conversation_id, topic=f"Topic {conversation_id}: «quotes» \"and\" \\ newlines\n",
        status=status, scheduled_at=None, started_at=(ended_at or 10_000) - 1_000,
        ended_at=ended_at, forced=conversation_id % 2 == 0, skip_reason=None,
    )
    for seq in range(1, messages + 1):
        Message.create(
            conversation=conversation_id, seq=seq, agent="openai", persona="Orion",
            provider="openai", model="gpt-fake", source="api", content=f"<b>{seq}</b> ✓",
            citations=json.dumps([{"url": "https://example.com", "title": "x"}]),
            planned_at=1_000 + seq, revealed_at=1_000 + seq, cost_usd=PRECISE_COST,
        )


def populate(db: peewee.Database, rounds: int = 3) -> None:
    setup_database(db)
    with using(db):
        for i in range(1, rounds + 1):
            add_round(i, ended_at=1_000_000 + i)
        Conversation.create(id=rounds + 1, topic="skipped", status="skipped",
                            scheduled_at=2_000_000, ended_at=2_000_000, skip_reason="by admin")
        ApiCallRecord.create(provider="openai", model="gpt-fake", ok=False, error_class="503",
                             status_code=503, cost_usd=PRECISE_COST, at=1_000_500)
        AuditEntry.create(at=1_000_600, action="force", result="accepted", status=200)


@pytest.fixture
def source(db: peewee.Database) -> peewee.Database:
    populate(db)
    return db


@pytest.fixture
def target(scratch_postgres_url: str) -> Iterator[peewee.Database]:
    """A brand-new PostgreSQL database (no tables): where a move goes."""
    database = connect(scratch_postgres_url)
    yield database
    database.close()


def counts(db: peewee.Database) -> dict[str, int]:
    with using(db):
        return {m._meta.table_name: m.select().count()
                for m in (Conversation, Message, ApiCallRecord, AuditEntry)}


@pytest.mark.postgres
def test_export_import_into_fresh_postgres_and_export_again_is_the_same(
    source: peewee.Database, target: peewee.Database
) -> None:
    first = list(export_lines(source))
    import_lines(target, first, "export.jsonl")
    again = list(export_lines(target))
    assert again == first
    assert len(first) == 4 + 1 + 1  # four conversations, one api call, one audit entry
    assert json.loads(first[0])["messages"][0]["cost_usd"] == PRECISE_COST


@pytest.mark.postgres
def test_importing_twice_adds_nothing(source: peewee.Database, target: peewee.Database) -> None:
    lines = list(export_lines(source))
    report = import_lines(target, lines, "export.jsonl")
    assert report.added == {"conversations": 4, "messages": 6, "api_calls": 1, "audit_log": 1}
    before = counts(target)
    again = import_lines(target, lines, "export.jsonl")
    assert sum(again.added.values()) == 0 and sum(again.present.values()) == 12
    assert counts(target) == before


def test_new_rows_after_an_import_get_fresh_ids(source: peewee.Database, tmp_path: object,
                                                database_url: str) -> None:
    lines = list(export_lines(source))
    with using(source):
        source.drop_tables([Message, Conversation, ApiCallRecord, AuditEntry])
    setup_database(source)
    import_lines(source, lines, "export.jsonl")
    with using(source):  # PostgreSQL: the sequences were moved past the imported ids
        new_round = Conversation.create(topic="after the move", status="active")
        new_call = ApiCallRecord.create(provider="openai", model="m", ok=True, at=1)
    assert new_round.id == 5 and new_call.id == 2


def test_export_pages_through_more_than_one_batch(db: peewee.Database) -> None:
    setup_database(db)
    total = BATCH * 2 + 7
    with using(db):
        Conversation.insert_many(
            [{"id": i, "topic": "t", "status": "complete", "ended_at": i} for i in range(1, total + 1)]
        ).execute()
    seen: list[int] = []
    ids = [json.loads(line)["id"] for line in export_lines(db, seen.append)]
    assert ids == list(range(1, total + 1))
    assert seen == [BATCH, BATCH * 2, total]  # progress after each bounded read


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("{not json", "not JSON"),
        ('["a list"]', "not a JSON object"),
        ('{"kind": "planets", "id": 1}', "unknown kind 'planets'"),
        ('{"kind": "conversation", "id": 9, "status": "complete", "colour": "red"}', "unknown field 'colour'"),
        ('{"kind": "conversation", "status": "complete"}', "without an integer id"),
        ('{"kind": "api_calls", "id": 3, "provider": "x"}', "without 'model'"),
    ],
)
def test_a_malformed_line_is_named_and_its_batch_adds_nothing(
    db: peewee.Database, line: str, problem: str
) -> None:
    setup_database(db)
    good = '{"kind": "conversation", "id": 1, "status": "complete", "messages": []}'
    with pytest.raises(ArchiveError) as caught:
        import_lines(db, [good, line], "backup.jsonl")
    assert str(caught.value).startswith("backup.jsonl line 2: ") and problem in str(caught.value)
    assert counts(db)["conversations"] == 0


def test_prune_removes_exactly_the_rows_older_than_the_cutoff(db: peewee.Database) -> None:
    cutoff = 5_000_000
    setup_database(db)
    with using(db):
        add_round(1, ended_at=cutoff - 1)  # older: goes, with its messages
        add_round(2, ended_at=cutoff)  # at the cut-off: stays
        add_round(3, ended_at=cutoff + 1)
        add_round(4, ended_at=None, status="active")  # started long ago, still running: stays
        Conversation.create(id=5, topic="", status="skipped", scheduled_at=cutoff - 1, ended_at=None)
        for at in (cutoff - 1, cutoff, cutoff + 1):
            ApiCallRecord.create(provider="openai", model="m", ok=True, at=at)
            AuditEntry.create(at=at, action="skip", result="accepted", status=200)
    removed = prune(db, cutoff)
    assert removed == {"conversations": 2, "messages": 2, "api_calls": 1, "audit_log": 1}
    with using(db):
        assert sorted(c.id for c in Conversation.select()) == [2, 3, 4]
        assert sorted({m.conversation_id for m in Message.select()}) == [2, 3, 4]
        assert sorted(a.at for a in ApiCallRecord.select()) == [cutoff, cutoff + 1]
        assert sorted(a.at for a in AuditEntry.select()) == [cutoff, cutoff + 1]
    assert prune(db, cutoff) == {"conversations": 0, "messages": 0, "api_calls": 0, "audit_log": 0}


@pytest.mark.parametrize(("text", "seconds"), [("90d", 90 * 86_400), ("12h", 43_200),
                                               ("30m", 1_800), ("1s", 1), (" 2D ", 172_800)])
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0d", "90", "d", "1.5h", "-1d", "3w", "1d2h"])
def test_bad_durations_say_the_form(text: str) -> None:
    with pytest.raises(ValueError, match="like 90d, 12h, 30m or 1s"):
        parse_duration(text)


def test_rows_committed_before_a_bad_line_do_not_collide_with_new_ones(db: peewee.Database) -> None:
    good = [json.dumps({"kind": "conversation", "id": i, "status": "complete", "messages": []})
            for i in range(1, BATCH + 2)]
    with pytest.raises(ArchiveError, match=f"line {BATCH + 2}: not JSON"):
        import_lines(db, [*good, "{broken"], "partial.jsonl")
    assert counts(db)["conversations"] == BATCH  # the first batch was committed
    with using(db):
        assert Conversation.create(topic="next round", status="active").id == BATCH + 1


def test_relayed_commands_are_not_exported_nor_replayed_by_an_import(db: peewee.Database) -> None:
    """The ``commands`` table is a queue (a standby's admin request for the engine, answered
    within seconds); the audit log is its record. Exporting it would carry unanswered
    requests to another database, where an engine could run them again."""
    populate(db)
    submit(db, {"action": "skip"}, "standby-1")  # not yet claimed by any engine
    lines = list(export_lines(db))
    assert not [line for line in lines if json.loads(line)["kind"] == "commands"]

    # An export written before this carried them: the import skips those lines.
    old_line = json.dumps({"kind": "commands", "id": 99, "request": '{"action": "skip"}',
                           "origin": "standby-1", "created_at": 1, "claimed_at": None,
                           "answered_at": None, "status": None, "answer": None})
    with using(db):
        db.drop_tables([Message, Conversation, ApiCallRecord, AuditEntry, RelayedCommand])
    report = import_lines(db, [*lines, old_line], "old-export.jsonl")
    assert "commands" not in report.added
    assert pending(db, max_age_seconds=10**12) == []
