"""Columnar stream entries: built from the same values as per-message ones, and expanded back to them."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.bus.envelope import Envelope, decode, encode
from engines.marketdata.consumer import expand
from engines.marketdata.feed import (
    _cap,
    _cap_columns,
    bar_columns,
    bar_messages,
    quote_columns,
    quote_messages,
    trade_columns,
    trade_messages,
)
from engines.marketdata.models import ModelParams
from engines.marketdata.publisher import (
    BARS,
    BATCH_TYPE,
    MESSAGE_TYPE,
    QUOTES,
    TRADES,
    bar_topic,
    batch_topic,
    column_length,
    columns_from_messages,
    quote_topic,
    trade_topic,
)
from engines.marketdata.simulate import BarAggregator, GbmJumpSimulator

pytestmark = pytest.mark.timeout(60)

SYMBOLS = ["AAA", "BB", "C"]
prices = st.floats(min_value=0.01, max_value=1e6, allow_nan=False)
stamps = st.integers(min_value=0, max_value=2**62)
symbols = st.sampled_from(["AAPL", "MSFT", "X", "BRK.B"])
quote = st.fixed_dictionaries({"symbol": symbols, "bid": prices, "ask": prices, "bid_size": prices,
                               "ask_size": prices, "ts_ns": stamps})
trade = st.fixed_dictionaries({"symbol": symbols, "price": prices, "size": prices, "ts_ns": stamps,
                               "aggressor": st.sampled_from(["buy", "sell"])})
bar = st.fixed_dictionaries({"symbol": symbols, "timeframe": st.just("5m"), "ts_ns": stamps, "open": prices,
                             "high": prices, "low": prices, "close": prices, "volume": prices})
TOPIC = {QUOTES: lambda p: quote_topic("SIM", p["symbol"]), TRADES: lambda p: trade_topic("SIM", p["symbol"]),
         BARS: lambda p: bar_topic("5m", p["symbol"])}


def sim_batch(steps: int = 60):
    sim = GbmJumpSimulator(ModelParams(step_ms=10_000, trade_probability=0.5), len(SYMBOLS), 11,
                           pd.Timestamp("2024-03-04 15:00", tz="UTC"))
    b = sim.steps(steps)
    return b, BarAggregator(len(SYMBOLS), 60 * 10**9).update(b.t_ts, b.t_sym, b.price, b.size)


@settings(max_examples=60, deadline=None)
@given(stream=st.sampled_from([QUOTES, TRADES, BARS]), data=st.data())
def test_expand_when_columnar_entry_of_random_ticks_then_yields_the_per_message_envelopes_in_order(stream, data):
    payloads = data.draw(st.lists({QUOTES: quote, TRADES: trade, BARS: bar}[stream], max_size=40))
    items = [(TOPIC[stream](p), p) for p in payloads]
    venue_or_tf = "5m" if stream == BARS else "SIM"
    env = decode(encode(batch_topic(stream, venue_or_tf), BATCH_TYPE[stream], columns_from_messages(stream, items)))
    ticks = expand(env)
    # what the per-message format carries for the same ticks, through the same msgpack round trip
    want = [decode(encode(topic, MESSAGE_TYPE[stream], p)) for topic, p in items]
    assert [(e.topic, e.type, e.payload) for e in ticks] == [(e.topic, e.type, e.payload) for e in want]
    assert all(e.ts_ns == env.ts_ns for e in ticks)


def test_expand_when_per_message_envelope_then_returned_as_is():
    env = Envelope("data.quotes.SIM.A", "quote", {"symbol": "A", "bid": 1.0}, 5)
    assert expand(env) == [env]


@pytest.mark.parametrize(
    "payload",
    [
        {"symbol": ["A", "B"], "bid": [1.0]},  # unequal lengths
        {"symbol": "A", "bid": 1.0},  # scalars, not arrays
        {"bid": [1.0]},  # no symbol array
        [["A"], [1.0]],  # not a map
    ],
    ids=["unequal-lengths", "scalars", "no-symbol", "not-a-map"],
)
def test_expand_when_columnar_payload_malformed_then_value_error(payload):
    with pytest.raises(ValueError, match="columnar 'quotes' payload"):
        expand(Envelope("data.quotes.SIM", "quotes", payload, 1))


def test_column_length_when_keys_missing_extra_or_lengths_differ_then_value_error_naming_them():
    good = columns_from_messages(QUOTES, quote_messages(sim_batch(3)[0], SYMBOLS, "SIM"))
    assert column_length(QUOTES, good) == 9
    with pytest.raises(ValueError, match="must be"):
        column_length(QUOTES, {k: v for k, v in good.items() if k != "ask"})
    with pytest.raises(ValueError, match="must be"):
        column_length(QUOTES, good | {"mid": good["bid"]})
    with pytest.raises(ValueError, match="differ in length"):
        column_length(QUOTES, good | {"bid": good["bid"][:-1]})


def test_column_builders_when_simulated_batch_then_equal_columns_of_the_per_message_builders():
    b, bars = sim_batch()
    assert len(bars) > 0 and len(b.t_ts) > 0
    assert quote_columns(b, SYMBOLS, "SIM") == (
        "data.quotes.SIM", columns_from_messages(QUOTES, quote_messages(b, SYMBOLS, "SIM")))
    assert trade_columns(b, SYMBOLS, "SIM") == (
        "data.trades.SIM", columns_from_messages(TRADES, trade_messages(b, SYMBOLS, "SIM")))
    assert bar_columns(bars, SYMBOLS, "1m") == (
        "data.bars.1m", columns_from_messages(BARS, bar_messages(bars, SYMBOLS, "1m")))


@pytest.mark.parametrize("left", [0, 1, 17, 60, 10_000])
def test_cap_columns_when_limited_then_keeps_the_same_ticks_as_the_per_message_cap(left):
    b, bars = sim_batch()
    messages = {QUOTES: quote_messages(b, SYMBOLS, "SIM"), TRADES: trade_messages(b, SYMBOLS, "SIM"),
                BARS: bar_messages(bars, SYMBOLS, "1m")}
    columns = {QUOTES: quote_columns(b, SYMBOLS, "SIM"), TRADES: trade_columns(b, SYMBOLS, "SIM"),
               BARS: bar_columns(bars, SYMBOLS, "1m")}
    capped = _cap_columns(columns, left)
    want = _cap(messages, left)
    for stream in messages:
        assert capped[stream] == (columns[stream][0], columns_from_messages(stream, want[stream]))
    assert sum(column_length(s, c) for s, (_, c) in capped.items()) == min(left, sum(map(len, messages.values())))
