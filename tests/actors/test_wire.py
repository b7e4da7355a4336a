"""actors/wire.py: every wire shape from the typed views, seconds in, epoch ms out."""

from __future__ import annotations

from actors import wire
from actors.view import (
    Citation,
    EngineView,
    MessageView,
    ModelCheckView,
    ModerationView,
    ProviderHealth,
    RoundView,
    StatusView,
    Today,
    Upcoming,
    engine_view,
)

T = 1_800_000_000.25  # epoch seconds, with a fraction

MESSAGE = MessageView(7, 2, "openai", "Ada", "anthropic", "claude-x", "fallback", "Hi.",
                      (Citation("https://a.org", "A"),), T + 1.0005, latency_ms=1200,
                      prompt_tokens=10, completion_tokens=20, cost_usd=0.00123456789,
                      fallback_reason="openai: timeout", cost_estimated=True)
ROUND = RoundView(7, "Tides", "active", None, T, None, True, None, 1, (MESSAGE,))
NEXT = Upcoming(3, "perplexity", "Pax", T + 60, T + 59.5)
SUMMARY_KEYS = {"id", "topic", "status", "scheduled_at", "started_at", "ended_at", "forced",
                "skip_reason", "message_count"}
MESSAGE_KEYS = {"conversation_id", "seq", "agent", "persona", "provider", "model", "source", "content",
                "citations", "revealed_at", "latency_ms", "prompt_tokens", "completion_tokens", "cost_usd",
                "fallback_reason", "cost_estimated"}
SNAPSHOT_KEYS = {"server_time", "state", "next_round_at", "next_topic", "queued_topics", "conversation",
                 "last_conversation", "messages_per_round", "agents", "next"}


def view(**changes: object) -> EngineView:
    fields: dict[str, object] = {
        "now": T, "state": "active", "next_round_at": T + 1800, "conversation": ROUND,
        "last_conversation": None, "messages_per_round": 16, "upcoming": NEXT, "agents": ("openai", "gemini"),
        "deck": {"queued": ["Queued"], "remaining": ["Listed"]},
    }
    return engine_view(**{**fields, **changes})  # type: ignore[arg-type]


def test_ms_rounds_to_whole_milliseconds_and_keeps_none() -> None:
    assert wire.ms(T) == 1_800_000_000_250
    assert (wire.ms(0.0004), wire.ms(0.0006)) == (0, 1)
    assert isinstance(wire.ms(0.1), int)
    assert wire.ms(None) is None


def test_message_has_every_key_and_times_in_ms() -> None:
    data = wire.message(MESSAGE)
    assert set(data) == MESSAGE_KEYS
    assert data["revealed_at"] == round((T + 1.0005) * 1000)
    assert data["citations"] == [{"url": "https://a.org", "title": "A"}]
    assert data["cost_usd"] == 0.001235 and data["latency_ms"] == 1200


def test_summary_and_conversation() -> None:
    summary = wire.summary(ROUND)
    assert set(summary) == SUMMARY_KEYS
    assert (summary["started_at"], summary["scheduled_at"], summary["ended_at"]) == (wire.ms(T), None, None)
    conversation = wire.conversation(ROUND)
    assert set(conversation) == SUMMARY_KEYS | {"messages"}
    assert conversation["messages"] == [wire.message(MESSAGE)]


def test_hello_and_the_control_answer() -> None:
    hello = wire.hello(view())
    assert set(hello) == SNAPSHOT_KEYS | {"type", "messages"} and hello["type"] == "hello"
    assert hello["server_time"] == wire.ms(T) and hello["next_round_at"] == wire.ms(T + 1800)
    assert hello["next_topic"] == "Queued" and hello["queued_topics"] == ["Queued"]
    assert set(hello["conversation"]) == SUMMARY_KEYS and hello["messages"] == [wire.message(MESSAGE)]
    assert hello["next"] == {"seq": 3, "agent": "perplexity", "persona": "Pax",
                             "at": wire.ms(T + 60), "typing_at": wire.ms(T + 59.5)}
    assert set(wire.snapshot(view())) == SNAPSHOT_KEYS
    answer = wire.control_answer("force", wire.snapshot(view()))
    assert set(answer) == SNAPSHOT_KEYS | {"ok", "action"} and answer["action"] == "force"
    assert [a["id"] for a in hello["agents"]] == ["openai", "gemini"]
    assert set(hello["agents"][0]) >= {"id", "persona", "label", "colour"}


def test_between_rounds_nothing_is_null_that_should_be_a_list() -> None:
    idle = view(state="countdown", conversation=None, upcoming=None, deck=None, next_round_at=None)
    hello = wire.hello(idle)
    assert (hello["conversation"], hello["next"], hello["next_topic"], hello["next_round_at"]) == (None,) * 4
    assert hello["messages"] == [] and hello["queued_topics"] == []
    assert wire.countdown(idle)["seconds_remaining"] is None
    assert wire.state(idle)["conversation_id"] is None and wire.state(idle)["topic"] is None


def test_events() -> None:
    assert set(wire.state(view())) == {"type", "state", "conversation_id", "topic", "server_time",
                                       "next_round_at", "next_topic", "next"}
    typing = wire.typing(7, NEXT)
    assert typing == {"type": "typing", "conversation_id": 7, **(wire.upcoming(NEXT) or {})}
    event = wire.message_event(MESSAGE, None)
    assert set(event) == MESSAGE_KEYS | {"type", "next"} and event["next"] is None
    assert wire.pong(123, T) == {"type": "pong", "t": 123, "server_time": wire.ms(T)}
    assert wire.upcoming_of(wire.upcoming(NEXT) or {}) == NEXT


def test_countdown_is_stamped_and_restamped() -> None:
    body = wire.countdown(view())
    assert set(body) == {"state", "server_time", "next_round_at", "seconds_remaining", "next_topic"}
    assert body["seconds_remaining"] == 1800.0
    later = wire.restamp_countdown(body, T + 1799)
    assert later["seconds_remaining"] == 1.0 and later["server_time"] == wire.ms(T + 1799)
    assert wire.restamp_countdown(body, T + 4000)["seconds_remaining"] == 0.0


def test_a_stopped_engine_has_the_countdown_keys_of_a_running_one() -> None:
    stopped = wire.stopped_countdown(T)
    assert set(stopped) == set(wire.countdown(view()))
    assert stopped["state"] == "stopped" and stopped["server_time"] == wire.ms(T)
    assert stopped["next_round_at"] is None and stopped["seconds_remaining"] is None


def test_status_has_the_same_keys_whatever_an_instance_knows() -> None:
    known = ProviderHealth(True, "m", 2, 5, 100, 10, 0.1234567, keys_available=1, circuit="closed",
                           last_error="timeout", last_error_at=T, p50_latency_ms=900, p95_latency_ms=1500,
                           model_check=ModelCheckView("ok", None, T), moderation={"passed": 3})
    unknown = ProviderHealth(True, "m", 2, 5, 100, 10, 0.1, moderation={"passed": None})
    engine = wire.status(StatusView(view(), "engine", "a:1", {"openai": known}, Today.of({"openai": known}), {}, ModerationView()))
    standby = wire.status(StatusView(view(), "standby", "b:2", {"openai": unknown}, Today(), {}, ModerationView()))
    assert set(engine) == set(standby) and (engine["role"], standby["role"]) == ("engine", "standby")
    assert set(engine["providers"]["openai"]) == set(standby["providers"]["openai"])
    assert set(engine["providers"]["openai"]["model_check"]) == {"status", "detail", "checked_at"}
    assert engine["providers"]["openai"]["last_error_at"] == wire.ms(T)
    assert engine["providers"]["openai"]["model_check"]["checked_at"] == wire.ms(T)
    assert standby["providers"]["openai"]["last_error_at"] is None
    assert engine["today"] == {"calls": 5, "prompt_tokens": 100, "completion_tokens": 10, "cost_usd": 0.123457}
