"""The simulated feed against real Redis (and PostgreSQL for replay): formats, lifecycle, latency metric."""

import asyncio
import uuid

import numpy as np
import pandas as pd
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from backend.contract.operation import OpContext
from backend.core.errors import Conflict, NotFound
from engines.marketdata import feed as feed_ops
from engines.marketdata.consumer import MarketDataConsumer
from engines.marketdata.ingest import Batch, load_batch
from engines.marketdata.models import FeedRef, Instrument, StartFeedRequest
from engines.marketdata.store import upsert_instrument
from engines.marketdata.timeframes import parse_timeframe

pytestmark = pytest.mark.timeout(60)

QUOTE_KEYS = {"symbol", "bid", "ask", "bid_size", "ask_size", "ts_ns"}
TRADE_KEYS = {"symbol", "price", "size", "ts_ns", "aggressor"}
BAR_KEYS = {"symbol", "timeframe", "ts_ns", "open", "high", "low", "close", "volume"}


@pytest.fixture
def ctx(bus, db_pool):
    return OpContext(engine="marketdata", bus=bus, db=db_pool)


async def wait_state(feed_id: str, ctx, states=("finished", "stopped", "failed"), timeout_s=20.0):
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        st = await feed_ops.feed_status(FeedRef(feed_id=feed_id), ctx)
        if st.state in states or asyncio.get_running_loop().time() > deadline:
            return st
        await asyncio.sleep(0.02)


async def drain(consumer: MarketDataConsumer, expected: int, timeout_s: float = 20.0):
    got = []
    deadline = asyncio.get_running_loop().time() + timeout_s
    while len(got) < expected and asyncio.get_running_loop().time() < deadline:
        entries = await consumer.read()
        await consumer.ack(entries)
        got.extend(entries)
    return got


async def test_model_feed_when_run_to_max_messages_then_consumer_group_gets_all_in_contract_format(ctx, bus):
    fid = "t" + uuid.uuid4().hex[:6]
    consumer = MarketDataConsumer(bus, "test-" + fid, "c1", count=2000, block_ms=100)
    await consumer.start()
    names = [fid.upper() + "A", fid.upper() + "B"]  # unique: other runs may share these streams
    req = StartFeedRequest(feed_id=fid, symbols=names, seed=3, speed=None, max_messages=3000,
                           timeframe="1m", model={"step_ms": 1000, "trade_probability": 0.5})
    await feed_ops.start_feed(req, ctx)
    st = await wait_state(fid, ctx)
    assert st.state == "finished" and sum(st.published.values()) == 3000
    got = [e for e in await drain(consumer, 3000) if e.envelope.payload.get("symbol") in names]
    assert len(got) == 3000
    kinds = {"md.quotes": 0, "md.trades": 0, "md.bars": 0}
    for e in got:
        env, p = e.envelope, e.envelope.payload
        kinds[e.stream] += 1
        if e.stream == "md.quotes":
            assert set(p) == QUOTE_KEYS and env.type == "quote" and env.topic == f"data.quotes.SIM.{p['symbol']}"
            assert p["bid"] < p["ask"]
        elif e.stream == "md.trades":
            assert set(p) == TRADE_KEYS and env.type == "trade" and p["aggressor"] in ("buy", "sell")
            assert env.topic == f"data.trades.SIM.{p['symbol']}"
        else:
            assert set(p) == BAR_KEYS and env.type == "bar" and env.topic == f"data.bars.1m.{p['symbol']}"
            assert p["low"] <= min(p["open"], p["close"]) <= max(p["open"], p["close"]) <= p["high"]
        assert isinstance(p["ts_ns"], int) and env.ts_ns > 0
    assert kinds == st.published and kinds["md.bars"] > 0
    assert st.latency.count > 0 and st.latency.p99_ms is not None


async def test_model_feed_when_same_seed_twice_then_same_prices(ctx, bus):
    async def run(fid):
        c = MarketDataConsumer(bus, "seed-" + fid, "c", streams=("md.quotes",), count=1000, block_ms=100,
                               record_latency=False)
        await c.start()
        await feed_ops.start_feed(StartFeedRequest(feed_id=fid, symbols=[fid.upper()], seed=42, speed=None,
                                                   max_messages=200, measure_latency=False,
                                                   start="2024-05-01T12:00:00Z"), ctx)
        await wait_state(fid, ctx)
        st = await feed_ops.feed_status(FeedRef(feed_id=fid), ctx)
        got = await drain(c, st.published["md.quotes"], 5.0)
        return [(e.envelope.payload["bid"], e.envelope.payload["ts_ns"]) for e in got
                if e.envelope.payload["symbol"] == fid.upper()]

    a, b = await run("s" + uuid.uuid4().hex[:6]), await run("s" + uuid.uuid4().hex[:6])
    assert len(a) > 100 and a == b


async def test_feed_lifecycle_when_started_twice_then_409_and_stop_then_stopped(ctx, bus):
    fid = "l" + uuid.uuid4().hex[:6]
    req = StartFeedRequest(feed_id=fid, symbols=["L1"], speed=1.0, model={"step_ms": 100})
    st = await feed_ops.start_feed(req, ctx)
    assert st.state in ("starting", "running")
    with pytest.raises(Conflict):
        await feed_ops.start_feed(req, ctx)
    await asyncio.sleep(0.5)
    running = await feed_ops.feed_status(FeedRef(feed_id=fid), ctx)
    assert running.state == "running" and running.published["md.quotes"] >= 2  # paced: ~10 steps per second
    assert running.published["md.quotes"] <= 15
    stopped = await feed_ops.stop_feed(FeedRef(feed_id=fid), ctx)
    assert stopped.state == "stopped" and stopped.stopped_at is not None
    assert fid in [f.feed_id for f in (await feed_ops.list_feeds(None, ctx)).feeds]
    with pytest.raises(NotFound):
        await feed_ops.feed_status(FeedRef(feed_id="nope-" + fid), ctx)


async def test_feed_when_fanout_then_pubsub_subscriber_receives_topic(ctx, bus):
    fid = "f" + uuid.uuid4().hex[:6]
    symbol = "PS" + uuid.uuid4().hex[:4].upper()
    got = []

    async def listen():
        async for env in bus.subscribe(f"data.quotes.SIM.{symbol}"):
            got.append(env)
            return

    task = asyncio.create_task(listen())
    await asyncio.sleep(0.2)
    await feed_ops.start_feed(StartFeedRequest(feed_id=fid, symbols=[symbol], speed=None, max_messages=50,
                                               measure_latency=False), ctx)
    await asyncio.wait_for(task, 10)
    assert got[0].payload["symbol"] == symbol and got[0].type == "quote"


async def test_replay_feed_when_stored_bars_then_published_in_time_order_with_stored_values(ctx, bus, db_pool):
    s = "RP" + uuid.uuid4().hex[:6].upper()
    await upsert_instrument(db_pool, Instrument(symbol=s))
    days = pd.bdate_range("2024-01-02", periods=20, tz="UTC")
    close = np.linspace(10, 12, 20)
    batch = Batch("bars", days.as_unit("ns").asi8, {"open": close, "high": close + 1, "low": close - 1,
                                                   "close": close, "volume": np.arange(20.0)},
                  np.full(20, s, dtype=object), None, [])
    rep = await load_batch(ctx, batch, source="test", timeframe=parse_timeframe("1d"), session=None,
                           spike_threshold=None, max_reject_fraction=0.0, create_instruments=False, dry_run=False)
    assert rep.rows_inserted == 20
    fid = "r" + uuid.uuid4().hex[:6]
    c = MarketDataConsumer(bus, "replay-" + fid, "c", streams=("md.bars",), count=100, block_ms=100)
    await c.start()
    await feed_ops.start_feed(StartFeedRequest(feed_id=fid, mode="replay", symbols=[s], timeframe="1d",
                                               speed=None), ctx)
    st = await wait_state(fid, ctx)
    assert st.state == "finished" and st.published["md.bars"] == 20
    got = await drain(c, 20, 5.0)
    assert [e.envelope.payload["ts_ns"] for e in got] == days.as_unit("ns").asi8.tolist()
    np.testing.assert_allclose([e.envelope.payload["close"] for e in got], close)
    assert {e.envelope.topic for e in got} == {f"data.bars.1d.{s}"}


async def test_replay_when_symbol_unknown_then_404(ctx):
    with pytest.raises(NotFound):
        await feed_ops.start_feed(StartFeedRequest(mode="replay", feed_id="x" + uuid.uuid4().hex[:5],
                                                   symbols=["NOSUCH" + uuid.uuid4().hex[:4]]), ctx)


async def test_consumer_when_restarted_then_unacked_entries_redelivered(bus, ctx):
    fid = "c" + uuid.uuid4().hex[:6]
    group = "restart-" + fid
    c1 = MarketDataConsumer(bus, group, "worker", streams=("md.quotes",), count=10, block_ms=100)
    await c1.start()
    await feed_ops.start_feed(StartFeedRequest(feed_id=fid, symbols=["R1"], speed=None, max_messages=30,
                                               measure_latency=False, model={"trade_probability": 0.0}), ctx)
    await wait_state(fid, ctx)
    first = await c1.read()  # read but not acknowledged: the consumer "crashes"
    c2 = MarketDataConsumer(bus, group, "worker", streams=("md.quotes",), count=10, block_ms=100)
    again = await c2.read()
    assert [e.id for e in again] == [e.id for e in first]


def test_metrics_when_latency_recorded_then_histogram_exposed_in_default_registry():
    text = generate_latest().decode()
    fam = [f for f in text_string_to_metric_families(text) if f.name == "nautilus_marketdata_feed_latency_seconds"]
    assert fam and fam[0].type == "histogram"
    counts = [s.value for s in fam[0].samples if s.name.endswith("_count")]
    assert counts and max(counts) > 0


# ---- caps and outages (issue 9): a feed cannot take the machine, and survives Redis restarting ----
async def test_feeds_when_over_the_instance_caps_then_409_or_422_and_rate_paced(bus, db_pool):
    from tests.support.access import instance_settings

    settings = instance_settings(feed_max_active=2, feed_max_symbols=5, feed_max_messages_per_s=4000)
    ctx = OpContext(engine="marketdata", bus=bus, db=db_pool, settings=settings)
    ids = ["cap" + uuid.uuid4().hex[:6] for _ in range(3)]
    try:
        for fid in ids[:2]:
            await feed_ops.start_feed(StartFeedRequest(feed_id=fid, symbols=[fid.upper()], speed=None,
                                                       measure_latency=False), ctx)
        with pytest.raises(Conflict) as too_many:
            await feed_ops.start_feed(StartFeedRequest(feed_id=ids[2], symbols=["X"], measure_latency=False), ctx)
        assert "NAUTILUS_FEED_MAX_ACTIVE" in too_many.value.detail
        await feed_ops.stop_feed(FeedRef(feed_id=ids[1]), ctx)
        from backend.core.errors import InvalidInput

        with pytest.raises(InvalidInput) as too_wide:
            await feed_ops.start_feed(StartFeedRequest(feed_id=ids[2], symbols=[f"W{i}" for i in range(5)],
                                                       measure_latency=False), ctx)
        assert too_wide.value.field == "symbols"
        await asyncio.sleep(1.0)
        st = await feed_ops.feed_status(FeedRef(feed_id=ids[0]), ctx)
        assert 0 < st.messages_per_second <= 4000 * 1.1  # as fast as possible, yet paced by the cap
    finally:
        for fid in ids:
            if fid in feed_ops.FEEDS:
                await feed_ops.stop_feed(FeedRef(feed_id=fid), ctx)


@pytest.mark.slow
async def test_feed_when_redis_restarts_then_keeps_running_and_new_feeds_start(tmp_path):
    import socket

    from backend.bus import Bus
    from backend.launcher import infra

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url, pid = infra.start_embedded_redis(tmp_path / "a", port=port)
    bus = Bus.from_url(url, prefix="outage:")
    ctx = OpContext(engine="marketdata", bus=bus)
    fid = "out" + uuid.uuid4().hex[:6]
    try:
        await feed_ops.start_feed(StartFeedRequest(feed_id=fid, symbols=["OUTA"], speed=50.0,
                                                   measure_latency=False), ctx)
        await asyncio.sleep(0.3)
        infra.stop_pid(pid)  # Redis goes away under a running feed
        await asyncio.sleep(1.0)
        during = await feed_ops.feed_status(FeedRef(feed_id=fid), ctx)
        assert during.state == "running" and "Redis unavailable" in (during.error or "")
        url, pid = infra.start_embedded_redis(tmp_path / "b", port=port)
        before = during.published["md.quotes"]
        for _ in range(100):
            st = await feed_ops.feed_status(FeedRef(feed_id=fid), ctx)
            if st.error is None and st.published["md.quotes"] > before:
                break
            await asyncio.sleep(0.05)
        assert st.state == "running" and st.error is None and st.published["md.quotes"] > before
        second = await feed_ops.start_feed(StartFeedRequest(feed_id=fid + "b", symbols=["OUTB"], speed=50.0,
                                                            measure_latency=False), ctx)
        assert second.state in ("starting", "running")
    finally:
        for f in (fid, fid + "b"):
            if f in feed_ops.FEEDS:
                await feed_ops.stop_feed(FeedRef(feed_id=f), ctx)
        await bus.close()
        infra.stop_pid(pid)
