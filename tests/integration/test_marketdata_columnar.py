"""Columnar (batched) market data entries against real Redis: the consumer yields the per-message records."""

import asyncio
import uuid

import numpy as np
import pandas as pd
import pytest

from backend.bus.envelope import decode
from backend.bus.redis_bus import FIELD
from backend.contract.operation import OpContext
from engines.marketdata import feed as feed_ops
from engines.marketdata import publisher as publisher_mod
from engines.marketdata.consumer import MarketDataConsumer, expand
from engines.marketdata.feed import (
    bar_columns,
    bar_messages,
    quote_columns,
    quote_messages,
    trade_columns,
    trade_messages,
)
from engines.marketdata.ingest import Batch, load_batch
from engines.marketdata.models import FeedRef, Instrument, ModelParams, StartFeedRequest
from engines.marketdata.publisher import BARS, QUOTES, TRADES, StreamPublisher
from engines.marketdata.simulate import BarAggregator, GbmJumpSimulator
from engines.marketdata.store import upsert_instrument
from engines.marketdata.timeframes import parse_timeframe

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def ctx(bus, db_pool):
    return OpContext(engine="marketdata", bus=bus, db=db_pool)


def names(n: int) -> list[str]:
    tag = uuid.uuid4().hex[:6].upper()  # unique: other tests write to the same streams
    return [f"CL{tag}{i}" for i in range(n)]


async def drain(consumer: MarketDataConsumer, symbols: list[str], expected: int, timeout_s: float = 20.0):
    got = []
    deadline = asyncio.get_running_loop().time() + timeout_s
    while len(got) < expected and asyncio.get_running_loop().time() < deadline:
        entries = await consumer.read()
        await consumer.ack(entries)
        got.extend(e for e in entries if e.envelope.payload.get("symbol") in symbols)
    return got


def records(entries) -> list[tuple]:
    return [(e.stream, e.envelope.topic, e.envelope.type, e.envelope.payload) for e in entries]


async def wait_done(fid: str, ctx) -> None:
    for _ in range(1000):
        st = await feed_ops.feed_status(FeedRef(feed_id=fid), ctx)
        if st.state in ("finished", "stopped", "failed"):
            assert st.state == "finished", st.error
            return
        await asyncio.sleep(0.02)
    raise AssertionError("feed did not finish")


async def test_consumer_when_same_ticks_published_per_message_then_columnar_then_yields_identical_records(bus):
    syms = names(3)
    sim = GbmJumpSimulator(ModelParams(step_ms=10_000, trade_probability=0.5), 3, 5,
                           pd.Timestamp("2024-03-04 15:00", tz="UTC"))
    b = sim.steps(60)
    bars = BarAggregator(3, 60 * 10**9).update(b.t_ts, b.t_sym, b.price, b.size)
    c = MarketDataConsumer(bus, "col-" + syms[0], "c", count=100, block_ms=100)
    await c.start()
    pub = StreamPublisher(bus, fanout=False)
    per_message = await pub.publish({QUOTES: quote_messages(b, syms, "SIM"), TRADES: trade_messages(b, syms, "SIM"),
                                     BARS: bar_messages(bars, syms, "1m")})
    columnar = await pub.publish_columns({QUOTES: quote_columns(b, syms, "SIM"), TRADES: trade_columns(b, syms, "SIM"),
                                          BARS: bar_columns(bars, syms, "1m")})
    assert per_message == columnar and min(columnar.values()) > 0
    got = await drain(c, syms, 2 * sum(columnar.values()))
    for stream, n in columnar.items():
        mine = [e for e in got if e.stream == stream]
        assert len(mine) == 2 * n
        first, second = mine[:n], mine[n:]
        assert records(first) == records(second)
        assert len({e.id for e in first}) == n and len({e.id for e in second}) == 1  # one entry holds them all
    pending = await bus.redis.xpending(bus.key(QUOTES), "col-" + syms[0])
    assert pending["pending"] == 0


async def test_publish_columns_when_longer_than_entry_limit_then_split_into_ordered_entries(bus, monkeypatch):
    monkeypatch.setattr(publisher_mod, "MAX_COLUMN_TICKS", 7)
    syms = names(2)
    sim = GbmJumpSimulator(ModelParams(), 2, 1, pd.Timestamp("2024-03-04 15:00", tz="UTC"))
    b = sim.steps(10)  # 20 quotes
    c = MarketDataConsumer(bus, "split-" + syms[0], "c", streams=(QUOTES,), block_ms=100)
    await c.start()
    sent = await StreamPublisher(bus, fanout=False).publish_columns({QUOTES: quote_columns(b, syms, "SIM")})
    assert sent == {QUOTES: 20}
    got = await drain(c, syms, 20)
    assert records(got) == [(QUOTES, t, "quote", p) for t, p in quote_messages(b, syms, "SIM")]
    ids = [e.id for e in got]
    assert [ids.count(i) for i in dict.fromkeys(ids)] == [7, 7, 6]


async def test_publish_columns_when_columns_malformed_then_value_error_and_nothing_written(bus):
    before = await bus.redis.xlen(bus.key(QUOTES))
    topic, cols = quote_columns(GbmJumpSimulator(ModelParams(), 1, 1).steps(3), names(1), "SIM")
    with pytest.raises(ValueError, match="differ in length"):
        await StreamPublisher(bus, fanout=False).publish_columns({QUOTES: (topic, cols | {"bid": cols["bid"][:1]})})
    assert await bus.redis.xlen(bus.key(QUOTES)) == before


async def test_consumer_when_restarted_before_ack_then_whole_columnar_entry_redelivered_then_ack_clears_it(bus):
    syms = names(1)
    group = "colrestart-" + syms[0]
    c1 = MarketDataConsumer(bus, group, "worker", streams=(QUOTES,), block_ms=100)
    await c1.start()
    b = GbmJumpSimulator(ModelParams(), 1, 2).steps(30)
    await StreamPublisher(bus, fanout=False).publish_columns({QUOTES: quote_columns(b, syms, "SIM")})
    first = await c1.read()  # read, not acknowledged: the consumer "crashes"
    assert len(first) == 30 and len({e.id for e in first}) == 1
    c2 = MarketDataConsumer(bus, group, "worker", streams=(QUOTES,), block_ms=100)
    again = await c2.read()
    assert records(again) == records(first) and [e.id for e in again] == [e.id for e in first]
    await c2.ack(again)
    assert (await bus.redis.xpending(bus.key(QUOTES), group))["pending"] == 0
    assert await MarketDataConsumer(bus, group, "worker", streams=(QUOTES,), block_ms=50).read() == []


async def test_model_feed_when_batched_then_consumer_records_equal_the_per_message_feed_with_the_same_seed(ctx, bus):
    syms = names(2)

    async def run(batched: bool):
        fid = ("b" if batched else "m") + uuid.uuid4().hex[:6]
        c = MarketDataConsumer(bus, "same-" + fid, "c", count=50, block_ms=100)
        await c.start()
        req = StartFeedRequest(feed_id=fid, symbols=syms, seed=9, speed=None, max_messages=2500, batched=batched,
                               start="2024-05-01T12:00:00Z", model={"step_ms": 1000, "trade_probability": 0.5})
        await feed_ops.start_feed(req, ctx)
        await wait_done(fid, ctx)
        probe = feed_ops.FEEDS[fid].probe  # the latency probe drains what the feed published, then stops
        if probe is not None:
            await asyncio.wait_for(probe, 30)
        st = await feed_ops.feed_status(FeedRef(feed_id=fid), ctx)
        return st, await drain(c, syms, 2500)

    st_m, per_message = await run(False)
    st_b, columnar = await run(True)
    assert st_m.published == st_b.published and sum(st_b.published.values()) == 2500
    assert len(per_message) == 2500
    for stream in (QUOTES, TRADES, BARS):  # reads interleave streams differently; within a stream, same order
        mine = [e for e in columnar if e.stream == stream]
        assert records(mine) == records(e for e in per_message if e.stream == stream)
    assert {e.envelope.type for e in columnar} == {"quote", "trade", "bar"}
    assert len({e.id for e in columnar}) < len(columnar) / 50  # thousands of ticks in a handful of entries
    assert st_b.latency.count > 0 and st_b.latency.p99_ms is not None  # the engine's probe read them too


async def test_batched_feed_when_fanout_then_subscriber_gets_columnar_envelopes_that_expand_to_ticks(ctx, bus):
    syms = names(1)
    got = []

    async def listen():
        async for env in bus.subscribe("data.quotes.SIMX"):
            got.append(env)
            return

    task = asyncio.create_task(listen())
    await asyncio.sleep(0.2)
    fid = "bf" + uuid.uuid4().hex[:6]
    await feed_ops.start_feed(StartFeedRequest(feed_id=fid, symbols=syms, venue="SIMX", speed=None, max_messages=50,
                                               batched=True, measure_latency=False), ctx)
    await asyncio.wait_for(task, 10)
    assert got[0].type == "quotes" and got[0].topic == "data.quotes.SIMX"
    ticks = expand(got[0])
    assert ticks and {(t.type, t.topic) for t in ticks} == {("quote", f"data.quotes.SIMX.{syms[0]}")}


async def test_replay_feed_when_batched_then_same_bars_as_per_message_replay(ctx, bus, db_pool):
    s = names(1)[0]
    await upsert_instrument(db_pool, Instrument(symbol=s))
    days = pd.bdate_range("2024-01-02", periods=15, tz="UTC")
    close = np.linspace(10, 12, 15)
    batch = Batch("bars", days.as_unit("ns").asi8, {"open": close, "high": close + 1, "low": close - 1,
                                                   "close": close, "volume": np.arange(15.0)},
                  np.full(15, s, dtype=object), None, [])
    await load_batch(ctx, batch, source="test", timeframe=parse_timeframe("1d"), session=None,
                     spike_threshold=None, max_reject_fraction=0.0, create_instruments=False, dry_run=False)

    async def run(batched: bool):
        fid = ("rb" if batched else "rm") + uuid.uuid4().hex[:6]
        c = MarketDataConsumer(bus, "rep-" + fid, "c", streams=(BARS,), block_ms=100)
        await c.start()
        await feed_ops.start_feed(StartFeedRequest(feed_id=fid, mode="replay", symbols=[s], timeframe="1d",
                                                   speed=None, batched=batched, measure_latency=False), ctx)
        await wait_done(fid, ctx)
        return await drain(c, [s], 15)

    per_message, columnar = await run(False), await run(True)
    assert len(per_message) == 15 and records(columnar) == records(per_message)
    raw = await bus.redis.xrevrange(bus.key(BARS), count=1)
    assert decode(raw[0][1][FIELD]).type == "bars"
