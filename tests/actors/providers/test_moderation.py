"""The moderation gate: the local word list, OpenAI's moderation endpoint through the real
SDK against the fake (``/v1/moderations``), and the chain falling back around it."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from actors.clock import SystemClock
from actors.providers import registry
from actors.providers.base import GenerationRequest, Source
from actors.providers.budget import DailyBudget
from actors.providers.chain import ProviderChain
from actors.providers.gateway import FLAGGED_ALERT_STREAK, Gateways, build_gateways
from actors.providers.moderation import (
    MISSING_LOG_INTERVAL_SECONDS,
    MISSING_RECHECK_SECONDS,
    NOT_OPENAI_API,
    ModerationError,
    ModerationGate,
    ModerationMissing,
    Verdict,
    build_moderation,
    is_openai_api,
)
from actors.providers.moderation_openai import OpenAIModeration
from actors.providers.pricing import PriceTable
from actors.providers.registry import persona_for
from actors.providers.resilience import Backoff, CircuitState
from actors.providers.templates import TemplateWriter
from actors.providers.wordlist import WordList
from settings import ProviderSettings, Settings, SettingsError
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import MARKER, FakeOpenAI, error
from tests.fakes.perplexity_server import FakePerplexity
from tests.fakes.server import Script

KEY = "sk-openai-MODSECRET"
CLEAN = "Night trains trade speed for sleep, and most travellers would take that deal."
FLAGGED = f"Night trains are for {MARKER} people only, and everyone else should walk."


@pytest.fixture
def openai_fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY, model="gpt-5-mini-2025-08-07") as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture
def anthropic_fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(reply=FLAGGED) as fake:
        yield fake  # type: ignore[misc]


# -- the word list -------------------------------------------------------------------------
def test_the_built_in_list_flags_whole_words_in_any_case_with_endings() -> None:
    words = WordList.load()
    assert words.category("What the FUCKING point of that is, I cannot say.") == "profanity"
    assert words.category("Honestly, kill   yourself is not advice.") == "self-harm"
    assert words.category("Scunthorpe's bass players assess classic shiitake dishes.") is None
    assert words.category("A chink in the armour; fire retardant; a fag break.") is None


def test_a_site_list_adds_its_own_terms_and_categories(tmp_path: Path) -> None:
    site = tmp_path / "words.txt"
    site.write_text("# ours\ncompetitors: AcmeCorp\nbrand new phrase\n", encoding="utf-8")
    words = WordList.load(site)
    assert words.category("Have you tried acmecorp instead?") == "competitors"
    assert words.category("A Brand  New  Phrase appears.") == "wordlist"
    assert words.category("fuck") == "profanity"  # the built-in list still applies


# -- OpenAI's endpoint through the SDK -----------------------------------------------------
def test_openai_moderation_flags_the_marker_by_category(openai_fake: FakeOpenAI) -> None:
    remote = OpenAIModeration(openai_fake.base_url, (KEY,))
    try:
        assert remote.flagged_categories(FLAGGED, 5.0) == ("harassment",)
        assert remote.flagged_categories(CLEAN, 5.0) == ()
    finally:
        remote.close()
    sent = openai_fake.moderations[0]
    assert sent.body == {"model": "omni-moderation-latest", "input": FLAGGED}
    assert sent.header("authorization") == f"Bearer {KEY}"
    assert openai_fake.requests == []  # kept apart from chat requests


def test_openai_moderation_failures_are_moderation_errors_within_the_timeout(
    openai_fake: FakeOpenAI,
) -> None:
    remote = OpenAIModeration(openai_fake.base_url, (KEY,))
    try:
        openai_fake.moderation_script = error(500, type="server_error")
        with pytest.raises(ModerationError, match="HTTP 500"):
            remote.flagged_categories(CLEAN, 5.0)
        openai_fake.moderation_script = Script(hang_seconds=30)
        started = time.monotonic()
        with pytest.raises(ModerationError, match="timeout"):
            remote.flagged_categories(CLEAN, 0.3)
        assert time.monotonic() - started < 1.0
    finally:
        remote.close()


def test_a_rejected_key_is_skipped_for_the_next_one(openai_fake: FakeOpenAI) -> None:
    remote = OpenAIModeration(openai_fake.base_url, ("sk-revoked", KEY))
    try:
        assert remote.flagged_categories(FLAGGED, 5.0) == ("harassment",)
        assert remote.flagged_categories(CLEAN, 5.0) == ()
    finally:
        remote.close()
    used = [r.header("authorization") for r in openai_fake.moderations]
    assert used == ["Bearer sk-revoked", f"Bearer {KEY}", f"Bearer {KEY}"]
    lone = OpenAIModeration(openai_fake.base_url, ("sk-revoked",))
    try:
        with pytest.raises(ModerationError, match="HTTP 401"):
            lone.flagged_categories(CLEAN, 5.0)
    finally:
        lone.close()


def test_the_gate_checks_the_word_list_first_and_fails_closed_or_open(openai_fake: FakeOpenAI) -> None:
    remote = OpenAIModeration(openai_fake.base_url, (KEY,))
    gate = ModerationGate(WordList.load(), remote)
    try:
        listed = gate.review("This is bullshit, frankly, and I will say so.", 5.0)
        assert (listed.verdict, listed.detail, listed.by) == (Verdict.FLAGGED, "profanity", "wordlist")
        assert openai_fake.moderations == []  # no remote call for what the list catches
        assert gate.review(FLAGGED, 5.0).verdict is Verdict.FLAGGED
        assert gate.review(CLEAN, 5.0).verdict is Verdict.PASSED
        assert gate.review(CLEAN, 0.0).verdict is Verdict.UNAVAILABLE  # no time left
        openai_fake.moderation_script = error(500)
        down = gate.review(CLEAN, 5.0)
        assert (down.verdict, down.detail) == (Verdict.UNAVAILABLE, "HTTP 500")
        assert gate.fail_open is False
    finally:
        gate.close()


# -- an endpoint that is not there (a compatible server without /moderations) ------------------
class Ticks:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("status", [404, 405])
def test_a_404_or_405_from_moderations_means_the_endpoint_is_not_there(
    openai_fake: FakeOpenAI, status: int
) -> None:
    remote = OpenAIModeration(openai_fake.base_url, (KEY,))
    openai_fake.moderation_script = error(status, code="unknown_url")
    try:
        with pytest.raises(ModerationMissing, match=f"HTTP {status}"):
            remote.flagged_categories(CLEAN, 5.0)
    finally:
        remote.close()


@contextlib.contextmanager
def missing_moderations(fake: FakeOpenAI, mode: str) -> Iterator[tuple[ModerationGate, Ticks]]:
    """A gate in ``mode`` on its own clock, against a fake whose /moderations answers 404
    (until the test says otherwise); closed after."""
    ticks = Ticks()
    gate = ModerationGate(WordList.load(), OpenAIModeration(fake.base_url, (KEY,)), mode=mode, monotonic=ticks)
    fake.moderation_script = error(404, code="unknown_url")
    try:
        yield gate, ticks
    finally:
        gate.close()


def test_auto_uses_the_word_list_alone_where_moderations_is_missing_and_asks_again_later(
    openai_fake: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    with (missing_moderations(openai_fake, "auto") as (gate, ticks),
          caplog.at_level(logging.INFO, logger="roundtable.moderation")):
        reviews = [gate.review(CLEAN, 5.0) for _ in range(3)]
        listed = gate.review("This is bullshit, frankly.", 5.0)
        missing = gate.view()
        ticks.now += MISSING_RECHECK_SECONDS
        openai_fake.moderation_script = None  # the endpoint is back
        rechecked = gate.review(FLAGGED, 5.0)
    assert [(r.verdict, r.by) for r in reviews] == [(Verdict.PASSED, "wordlist")] * 3
    assert (listed.verdict, listed.detail) == (Verdict.FLAGGED, "profanity")  # still the word list
    assert len(openai_fake.moderations) == 2  # the one that found it missing, then the recheck
    assert (missing.mode, missing.checks, missing.fails) == ("auto", "wordlist", "closed")
    assert missing.detail == ("OPENAI_BASE_URL's /moderations answered HTTP 404 (not there); "
                              "asking again every 10 minutes")
    assert (rechecked.verdict, rechecked.by) == (Verdict.FLAGGED, "openai")
    assert gate.view().checks == "wordlist+openai" and gate.view().detail is None
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [f"moderation: wordlist only: {missing.detail}",
                     "moderation: OPENAI_BASE_URL's /moderations answers again: wordlist+openai"]


@pytest.mark.parametrize("failure", ["HTTP 500", "timeout"])
def test_a_failed_recheck_in_auto_keeps_the_word_lists_verdict(
    openai_fake: FakeOpenAI, failure: str
) -> None:
    """With /moderations missing, the word list is in effect (the view says so): the ten-
    minute recheck failing some other way must not withhold the reply it was asked with."""
    with missing_moderations(openai_fake, "auto") as (gate, ticks):
        first = gate.review(CLEAN, 5.0)
        ticks.now += MISSING_RECHECK_SECONDS
        openai_fake.moderation_script = (error(500, code="server_error") if failure == "HTTP 500"
                                         else Script(200, {}, hang_seconds=5.0))
        rechecked = gate.review(CLEAN, 0.3)
        after = gate.review(CLEAN, 5.0)
        view = gate.view()
    assert (first.verdict, first.by) == (Verdict.PASSED, "wordlist")
    assert (rechecked.verdict, rechecked.by) == (Verdict.PASSED, "wordlist")
    assert (after.verdict, after.by) == (Verdict.PASSED, "wordlist")  # next recheck in 10 minutes
    assert len(openai_fake.moderations) == 2
    assert view.checks == "wordlist" and view.detail is not None and "answered HTTP 404" in view.detail


def test_explicit_openai_withholds_where_moderations_is_missing_with_one_error_line_a_minute(
    openai_fake: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    with (missing_moderations(openai_fake, "openai") as (gate, ticks),
          caplog.at_level(logging.INFO, logger="roundtable.moderation")):
        reviews = [gate.review(CLEAN, 5.0) for _ in range(3)]
        ticks.now += MISSING_LOG_INTERVAL_SECONDS
        reviews.append(gate.review(CLEAN, 5.0))
    assert {(r.verdict, r.detail) for r in reviews} == {(Verdict.UNAVAILABLE, "HTTP 404, no /moderations")}
    assert len(openai_fake.moderations) == 4  # asked every time: it may come back
    detail = "OPENAI_BASE_URL's /moderations answered HTTP 404 (not there): every reply is withheld"
    assert gate.view().detail == detail and gate.view().checks == "wordlist+openai"
    line = (f"moderation: {detail} (MODERATION=openai); set MODERATION=auto or local to use "
            "the word list only")
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [("ERROR", line)] * 2
    assert all(r.exc_info is None for r in caplog.records)  # a line, not a traceback


@pytest.mark.parametrize(("url", "official"), [
    ("https://api.openai.com/v1", True),
    ("https://API.openai.com/v1/", True),
    ("https://eu.api.openai.com/v1", True),
    ("http://127.0.0.1:8000/v1", False),
    ("https://gateway.example.com/openai/v1", False),
    ("https://api.openai.com.example.net/v1", False),
    ("https://notapi.openai.com/v1", False),
])
def test_openais_own_api_is_its_default_host_or_a_regional_one(url: str, official: bool) -> None:
    assert is_openai_api(url) is official


def test_auto_on_another_base_url_is_the_word_list_only_and_says_why() -> None:
    local = {"OPENAI_API_KEY": "sk-x", "OPENAI_BASE_URL": "http://127.0.0.1:8000/v1"}
    auto = build_moderation(Settings.from_env(local))
    explicit = build_moderation(Settings.from_env({**local, "MODERATION": "openai"}))
    assert auto is not None and explicit is not None
    assert (auto.checks, auto.view().detail) == ("wordlist", NOT_OPENAI_API)
    assert (explicit.checks, explicit.view().detail) == ("wordlist+openai", None)
    official = build_moderation(Settings.from_env({"OPENAI_API_KEY": "sk-x"}))
    assert official is not None and official.view().detail is None


# -- settings --------------------------------------------------------------------------------
@pytest.mark.parametrize(("env", "line"), [
    ({"MODERATION": "sometimes"}, "invalid setting MODERATION: 'SOMETIMES' is not one of AUTO, OPENAI, LOCAL, OFF"),
    ({"MODERATION": "openai"}, "invalid setting MODERATION: openai needs OPENAI_API_KEY (or use auto or local)"),
    ({"MODERATION_FAIL": "maybe"}, "invalid setting MODERATION_FAIL: 'MAYBE' is not one of CLOSED, OPEN"),
    ({"MODERATION_WORDLIST": "/nonexistent/words.txt"},
     "invalid setting MODERATION_WORDLIST: '/nonexistent/words.txt' is not a readable file"),
])
def test_invalid_moderation_settings_name_the_setting(env: dict[str, str], line: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    assert str(caught.value) == line


def test_auto_uses_openai_only_with_a_key_and_off_builds_no_gate() -> None:
    assert Settings.from_env({}).moderation == "auto"
    without_key = build_moderation(Settings.from_env({}))
    with_key = build_moderation(Settings.from_env({"OPENAI_API_KEY": "sk-x"}))
    assert without_key is not None and without_key.checks == "wordlist"
    assert with_key is not None and with_key.checks == "wordlist+openai"
    local = build_moderation(Settings.from_env({"OPENAI_API_KEY": "sk-x", "MODERATION": "local"}))
    assert local is not None and local.checks == "wordlist"
    assert build_moderation(Settings.from_env({"MODERATION": "off"})) is None
    fail_open = build_moderation(Settings.from_env({"MODERATION_FAIL": "open"}))
    assert fail_open is not None and fail_open.fail_open


# -- the chain around the gate ---------------------------------------------------------------
def _chain(
    openai_fake: FakeOpenAI, anthropic_fake: FakeAnthropic, alert: Callable[[str], None] | None = None,
    **changes: object,
) -> tuple[ProviderChain, Gateways]:
    """The ``anthropic`` agent's chain (fallback: openai only), moderated through the fake
    (``MODERATION=openai``: in ``auto`` a base URL that is not OpenAI's gets the word list only)."""
    changes.setdefault("moderation", "openai")
    urls = {"openai": openai_fake.base_url, "anthropic": anthropic_fake.base_url}
    keys = {"openai": (KEY,), "anthropic": ("sk-ant-MODSECRET",)}
    settings = Settings(
        providers={
            name: ProviderSettings(
                name=name, api_keys=keys.get(name, ()), base_url=urls.get(name, "http://127.0.0.1:9"),
                model=f"{name}-model", requests_per_minute=600, fallbacks=("openai",),
            )
            for name in registry.names()
        },
        **changes,  # type: ignore[arg-type]
    )
    clock = SystemClock()
    gateways = build_gateways(settings, clock, alert=alert)
    chain = ProviderChain(
        "anthropic", ("anthropic", "openai"), gateways, TemplateWriter(), PriceTable.load(),
        DailyBudget(None, clock), clock, 3, backoff=Backoff(rand=lambda: 0.0),
    )
    return chain, gateways


def _request(seq: int = 1) -> GenerationRequest:
    return GenerationRequest(persona_for("anthropic"), "Night trains", (), seq, 16, time.time() + 10.0)


def test_a_flagged_reply_falls_back_and_only_its_category_is_recorded(
    openai_fake: FakeOpenAI, anthropic_fake: FakeAnthropic, caplog: pytest.LogCaptureFixture
) -> None:
    chain, gateways = _chain(openai_fake, anthropic_fake)
    try:
        with caplog.at_level(logging.INFO):
            outcome = chain.generate(_request())
    finally:
        gateways.close()
    assert (outcome.source, outcome.provider) == (Source.FALLBACK, "openai")
    assert outcome.fallback_reason == "anthropic: moderation flagged (harassment)"
    assert MARKER not in outcome.content
    assert [(c.provider, c.ok, c.error_class) for c in outcome.calls] == [
        ("anthropic", False, "moderation"), ("openai", True, None)
    ]
    assert len(anthropic_fake.requests) == 1  # flagged is not retried on the same provider
    assert len(openai_fake.moderations) == 2  # both replies were reviewed
    assert gateways["anthropic"].health().moderation == {"passed": 0, "flagged": 1, "unavailable": 0}
    assert MARKER not in caplog.text


def test_a_provider_that_keeps_being_flagged_raises_an_alert_and_opens_its_circuit(
    openai_fake: FakeOpenAI, anthropic_fake: FakeAnthropic, caplog: pytest.LogCaptureFixture
) -> None:
    alerts: list[str] = []
    chain, gateways = _chain(openai_fake, anthropic_fake, alert=alerts.append)
    try:
        with caplog.at_level(logging.WARNING, logger="roundtable.gateway"):
            outcomes = [chain.generate(_request(seq)) for seq in range(1, FLAGGED_ALERT_STREAK + 2)]
    finally:
        gateways.close()
    assert all(o.source is Source.FALLBACK for o in outcomes)
    assert alerts == ["provider anthropic: 3 flagged replies in a row (latest: harassment)"]
    assert "alert: provider anthropic: 3 flagged replies in a row" in caplog.text
    assert gateways["anthropic"].breaker.state is CircuitState.OPEN
    assert outcomes[-1].fallback_reason == "anthropic: circuit open"


def test_moderation_down_withholds_the_reply_and_a_labelled_template_stands_in(
    openai_fake: FakeOpenAI, anthropic_fake: FakeAnthropic
) -> None:
    anthropic_fake.reply = CLEAN
    openai_fake.moderation_script = error(500, type="server_error")
    chain, gateways = _chain(openai_fake, anthropic_fake)
    try:
        outcome = chain.generate(_request())
    finally:
        gateways.close()
    assert outcome.source is Source.TEMPLATE
    assert outcome.fallback_reason == "anthropic: moderation unavailable (HTTP 500): reply withheld"
    assert CLEAN not in outcome.content
    assert openai_fake.requests == []  # no other provider was paid for a reply it could not show
    # The provider was healthy: its circuit does not pay for the moderation outage.
    assert gateways["anthropic"].breaker.state is CircuitState.CLOSED
    assert gateways["anthropic"].health().moderation["unavailable"] == 1


def test_fail_open_reveals_an_unreviewed_reply_but_the_word_list_still_applies(
    openai_fake: FakeOpenAI, anthropic_fake: FakeAnthropic
) -> None:
    anthropic_fake.reply = CLEAN
    openai_fake.moderation_script = error(500, type="server_error")
    chain, gateways = _chain(openai_fake, anthropic_fake, moderation_fail_open=True)
    try:
        passed = chain.generate(_request(1))
        anthropic_fake.reply = "That plan is bullshit and the numbers say so plainly."
        listed = chain.generate(_request(2))
    finally:
        gateways.close()
    assert (passed.source, passed.content) == (Source.API, CLEAN)
    assert listed.source is Source.FALLBACK
    assert listed.fallback_reason == "anthropic: moderation flagged (profanity)"


def test_moderation_off_lets_the_marker_through(openai_fake: FakeOpenAI, anthropic_fake: FakeAnthropic) -> None:
    chain, gateways = _chain(openai_fake, anthropic_fake, moderation="off")
    try:
        outcome = chain.generate(_request())
    finally:
        gateways.close()
    assert outcome.source is Source.API and MARKER in outcome.content
    assert openai_fake.moderations == []


def test_citation_titles_are_reviewed_with_the_reply(openai_fake: FakeOpenAI) -> None:
    with FakePerplexity() as perplexity:
        results = [{"url": "https://example.org/a", "title": f"The {MARKER} files"}]
        perplexity.enqueue(perplexity.completed(CLEAN, results=results))
        urls = {"openai": openai_fake.base_url, "perplexity": perplexity.url}
        keys = {"openai": (KEY,), "perplexity": ("pplx-MODSECRET",)}
        settings = Settings(providers={
            name: ProviderSettings(
                name=name, api_keys=keys.get(name, ()), base_url=urls.get(name, "http://127.0.0.1:9"),
                model=f"{name}-model", requests_per_minute=600, fallbacks=(),
            )
            for name in registry.names()
        }, moderation="openai")
        gateways = build_gateways(settings, SystemClock())
        try:
            result = gateways["perplexity"].call(
                GenerationRequest(persona_for("perplexity"), "Night trains", (), 3, 16, time.time() + 10),
                api_key="pplx-MODSECRET", timeout=5.0,
            )
        finally:
            gateways.close()
    assert result.error is not None and result.error.kind == "moderation"
    assert str(result.error) == "moderation flagged (harassment)"
