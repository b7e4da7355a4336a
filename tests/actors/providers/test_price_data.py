"""The genai-prices entries that a child process trims: the same figures as the whole
dataset, never the whole dataset resident, and the bundled dataset when the child fails."""

from __future__ import annotations

import datetime as dt
import json
import logging
import subprocess
import sys

import pytest
from genai_prices import Usage, calc_price

from actors.providers import registry
from actors.providers.price_data import TrimmedDataset
from tests.registry_views import DEFAULT_MODELS
from tests.service import ROOT, unreachable_providers_env

NOV_30 = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
MARCH_1 = dt.datetime(2027, 3, 1, tzinfo=dt.UTC)  # past Gemini 3.8 Flash's introductory rates
PRICE_KEYS = sorted(spec.price_key for spec in registry.BUILT_IN if spec.price_key)
USAGE = Usage(input_tokens=1234, output_tokens=567)

CASES = [
    *[(registry.get(name).price_key, model, NOV_30) for name, model in sorted(DEFAULT_MODELS.items())],
    ("anthropic", "claude-sonnet-5-5-20261001", NOV_30),  # a dated name
    ("google", "gemini-3.8-flash", MARCH_1),  # a date-bound rate, after the change
    ("google", "claude-mythos-5-2-20261101", NOV_30),  # google borrows anthropic's prices
]


@pytest.fixture(scope="module")
def trimmed() -> TrimmedDataset:
    dataset = TrimmedDataset(PRICE_KEYS)
    snapshot = dataset.snapshot()
    assert snapshot is not None, "the child failed: see the warning logged"
    assert [p.id for p in snapshot.providers] == ["anthropic", "google", "openai", "perplexity"]
    assert snapshot.from_auto_update is False
    return dataset


@pytest.mark.parametrize(("provider_id", "model", "when"), CASES, ids=[f"{c[0]}/{c[1]}@{c[2]:%Y-%m}" for c in CASES])
def test_the_trimmed_entries_price_as_the_whole_dataset(
    trimmed: TrimmedDataset, provider_id: str, model: str, when: dt.datetime
) -> None:
    mine = trimmed.calc(USAGE, model, provider_id, when)
    whole = calc_price(USAGE, model, provider_id=provider_id, genai_request_timestamp=when)
    assert (mine.total_price, mine.input_price, mine.output_price) == (
        whole.total_price, whole.input_price, whole.output_price,
    )
    assert (mine.model.id, mine.provider.id) == (whole.model.id, whole.provider.id)
    assert mine.auto_update_timestamp is None and mine.total_price > 0


def test_the_date_bound_rate_changes_in_the_trimmed_entries_too(trimmed: TrimmedDataset) -> None:
    million = Usage(input_tokens=1_000_000, output_tokens=0)
    before = trimmed.calc(million, "gemini-3.8-flash", "google", NOV_30).total_price
    after = trimmed.calc(million, "gemini-3.8-flash", "google", MARCH_1).total_price
    assert (float(before), float(after)) == (0.75, 1.5)


def test_a_model_the_dataset_does_not_know_is_a_lookup_error(trimmed: TrimmedDataset) -> None:
    with pytest.raises(LookupError):
        trimmed.calc(USAGE, "llama-3-local", "openai", NOV_30)


PROBE = """
import json, sys
from actors.providers.base import Reply
from actors.providers.pricing import PriceTable
from settings import Settings
import quart, openai, anthropic, google.genai  # the service's imports, before any price
if sys.argv[1] == "load_sdks":
    from actors.providers.lazy import load_sdks
    load_sdks(Settings.from_env(json.loads(sys.argv[2])))
table = PriceTable.load()
costs = {name: table.reply_cost(name, Reply("hi", model, 1000, 500)).source
         for name, model in json.loads(sys.argv[3]).items()}
print(json.dumps({"costs": costs, "whole_dataset": "genai_prices.data" in sys.modules}))
"""


@pytest.mark.parametrize("first", ["load_sdks", "first_reply"])
def test_pricing_replies_never_imports_the_whole_dataset(first: str) -> None:
    """In a fresh interpreter: after ``load_sdks`` (as the service does in the background),
    or with the first priced reply loading the entries itself."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, first, json.dumps(unreachable_providers_env()), json.dumps(DEFAULT_MODELS)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["costs"] == dict.fromkeys(DEFAULT_MODELS, "genai-prices")
    assert found["whole_dataset"] is False, "genai_prices.data was imported"
    assert "child failed" not in done.stderr


FAILING_CHILDREN = {
    "exit status": [sys.executable, "-c", "import sys; sys.exit('no dataset here')"],
    "timeout": [sys.executable, "-c", "import signal; signal.pause()"],  # hangs: killed
    "not a pickle": [sys.executable, "-c", "print('hello')"],
    "not providers": [sys.executable, "-c", "import pickle, sys; sys.stdout.buffer.write(pickle.dumps([1, 2]))"],
}
REASONS = {
    "exit status": "exit status 1: no dataset here",
    "timeout": "no answer within 1 s",
    "not a pickle": "6 bytes that are not a list of providers",
    "not providers": "bytes that are not a list of providers",
}


@pytest.mark.parametrize("kind", sorted(FAILING_CHILDREN))
def test_a_failed_child_falls_back_to_the_bundled_dataset_once(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    dataset = TrimmedDataset(PRICE_KEYS, timeout=1.0, argv=FAILING_CHILDREN[kind])
    with caplog.at_level(logging.DEBUG, logger="roundtable.prices"):
        dataset.load()
        assert dataset.snapshot() is None
        for provider_id, model, when in CASES:  # the same figures, and no second child
            priced = dataset.calc(USAGE, model, provider_id, when)
            assert priced.total_price == calc_price(
                USAGE, model, provider_id=provider_id, genai_request_timestamp=when
            ).total_price
    [record] = [r for r in caplog.records if r.levelno >= logging.INFO]  # one line, once
    assert (record.name, record.levelno, record.exc_info) == ("roundtable.prices", logging.WARNING, None)
    message = record.getMessage()
    assert REASONS[kind] in message and "bundled dataset" in message and "\n" not in message


def test_a_provider_outside_the_trimmed_entries_is_priced_from_the_bundled_dataset() -> None:
    only_openai = TrimmedDataset(["openai"])
    assert only_openai.snapshot() is not None
    priced = only_openai.calc(USAGE, "claude-sonnet-5-5", "anthropic", NOV_30)
    assert priced.total_price == calc_price(
        USAGE, "claude-sonnet-5-5", provider_id="anthropic", genai_request_timestamp=NOV_30
    ).total_price


def test_a_provider_keeps_the_entries_it_borrows_prices_from() -> None:
    """Google's entry lists some Claude models; for the others genai-prices reads
    Anthropic's (``fallback_model_providers``), so trimming to Google keeps Anthropic."""
    only_google = TrimmedDataset(["google"])
    model = "claude-mythos-5-2-20261101"  # listed by Anthropic only
    priced = only_google.calc(USAGE, model, "google", NOV_30)
    whole = calc_price(USAGE, model, provider_id="google", genai_request_timestamp=NOV_30)
    assert (priced.total_price, priced.model.id) == (whole.total_price, whole.model.id)
