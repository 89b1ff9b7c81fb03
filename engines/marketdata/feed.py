"""The simulated live feed: a background asyncio task in the engine process.

Two sources: ``model`` (``simulate.GbmJumpSimulator``, seeded) and ``replay``
(stored bars, trades and quotes in time order from PostgreSQL). Both publish
quotes, trades and bars to the md.* streams in the shared format, paced at
``speed`` simulated seconds per wall second (or as fast as possible). An
in-engine probe consumer reads the streams through its own consumer group and
records feed-to-consumer latency. Lifecycle as a table:

    starting --started--> running --finished--> finished
    starting|running --stop--> stopping --stopped--> stopped
    starting|running|stopping --failed--> failed
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import pandas as pd
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from backend.contract.operation import OpContext
from backend.core import metrics
from backend.core.errors import Conflict, InvalidInput, NotFound
from engines.marketdata.consumer import MarketDataConsumer
from engines.marketdata.latency import FEED_LATENCY
from engines.marketdata.models import (
    FeedList,
    FeedRef,
    FeedStatus,
    LatencySummary,
    ListFeedsRequest,
    StartFeedRequest,
)
from engines.marketdata.publisher import (
    BARS,
    QUOTES,
    STREAMS,
    TRADES,
    Columns,
    StreamPublisher,
    bar_topic,
    batch_topic,
    columns_from_messages,
    quote_topic,
    trade_topic,
)
from engines.marketdata.simulate import BarAggregator, GbmJumpSimulator, TickBatch
from engines.marketdata.timeframes import parse_timeframe

log = logging.getLogger(__name__)

PROBE_GROUP = "marketdata-latency-probe"
#: Messages per publish round trip when running as fast as possible.
TARGET_BATCH_MESSAGES = 5000
STOP_TIMEOUT_S = 3.0  # a stop answers within this, whatever the feed was doing
MAX_OUTAGE_S = 300.0
MAX_SLEEP_S = 0.05  # pacing sleeps are short so a stop is seen promptly
REPLAY_FETCH_ROWS = 5000


class FeedState(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FINISHED = "finished"
    FAILED = "failed"


TRANSITIONS: dict[tuple[FeedState, str], FeedState] = {
    (FeedState.STARTING, "started"): FeedState.RUNNING,
    (FeedState.STARTING, "stop"): FeedState.STOPPING,
    (FeedState.RUNNING, "stop"): FeedState.STOPPING,
    (FeedState.RUNNING, "finished"): FeedState.FINISHED,
    (FeedState.STOPPING, "stopped"): FeedState.STOPPED,
    (FeedState.STOPPING, "finished"): FeedState.STOPPED,
    (FeedState.STARTING, "failed"): FeedState.FAILED,
    (FeedState.RUNNING, "failed"): FeedState.FAILED,
    (FeedState.STOPPING, "failed"): FeedState.FAILED,
}
ACTIVE = {FeedState.STARTING, FeedState.RUNNING, FeedState.STOPPING}


@dataclass
class Feed:
    req: StartFeedRequest
    state: FeedState = FeedState.STARTING
    published: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STREAMS, 0))
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    stopped_at: dt.datetime | None = None
    sim_time_ns: int | None = None
    error: str | None = None
    task: asyncio.Task | None = None
    probe: asyncio.Task | None = None
    stop_event: asyncio.Event = field(default_factory=asyncio.Event)
    t0: float = field(default_factory=time.monotonic)
    t_end: float | None = None
    max_rate: float = 250_000.0  # messages per second (the instance's cap)

    def fire(self, trigger: str) -> None:
        nxt = TRANSITIONS.get((self.state, trigger))
        if nxt is None:
            raise Conflict(f"feed {self.req.feed_id!r} cannot {trigger} while {self.state.value}", field="feed_id")
        self.state = nxt
        if nxt not in ACTIVE:
            self.stopped_at = dt.datetime.now(dt.UTC)
            self.t_end = time.monotonic()

    @property
    def total(self) -> int:
        return sum(self.published.values())

    def count(self, sent: dict[str, int]) -> None:
        for stream, n in sent.items():
            if n:
                self.published[stream] += n
                metrics.FEED_MESSAGES.labels(stream).inc(n)

    def status(self) -> FeedStatus:
        elapsed = (self.t_end or time.monotonic()) - self.t0
        lat = FEED_LATENCY.summary({"group": f"{PROBE_GROUP}.{self.req.feed_id}"})
        return FeedStatus(
            feed_id=self.req.feed_id, state=self.state.value, mode=self.req.mode, symbols=list(self.req.symbols),
            published=dict(self.published), messages_per_second=self.total / elapsed if elapsed > 0 else 0.0,
            sim_time=None if self.sim_time_ns is None else pd.Timestamp(self.sim_time_ns, tz="UTC").to_pydatetime(),
            started_at=self.started_at, stopped_at=self.stopped_at, error=self.error,
            latency=LatencySummary(**lat),
        )


FEEDS: dict[str, Feed] = {}


def _active_feeds() -> list:
    fam = metrics.FEEDS_ACTIVE.metric()
    metrics.FEEDS_ACTIVE.add(fam, sum(1 for f in FEEDS.values() if f.state in ACTIVE))
    return [fam]


metrics.set_source("marketdata-feeds", _active_feeds)


def quote_messages(b: TickBatch, symbols: list[str], venue: str) -> list[tuple[str, dict[str, Any]]]:
    topics = [quote_topic(venue, s) for s in symbols]
    return [
        (topics[i], {"symbol": symbols[i], "bid": bid, "ask": ask, "bid_size": bs, "ask_size": az, "ts_ns": t})
        for i, bid, ask, bs, az, t in zip(b.q_sym.tolist(), b.bid.tolist(), b.ask.tolist(), b.bid_size.tolist(),
                                          b.ask_size.tolist(), b.q_ts.tolist(), strict=False)
    ]


def trade_messages(b: TickBatch, symbols: list[str], venue: str) -> list[tuple[str, dict[str, Any]]]:
    topics = [trade_topic(venue, s) for s in symbols]
    return [
        (topics[i], {"symbol": symbols[i], "price": p, "size": z, "ts_ns": t, "aggressor": "buy" if a > 0 else "sell"})
        for i, p, z, t, a in zip(b.t_sym.tolist(), b.price.tolist(), b.size.tolist(), b.t_ts.tolist(),
                                 b.aggressor.tolist(), strict=False)
    ]


def bar_messages(bars: pd.DataFrame, symbols: list[str], timeframe: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (bar_topic(timeframe, symbols[i]), {"symbol": symbols[i], "timeframe": timeframe, "ts_ns": t, "open": o,
                                             "high": h, "low": lo, "close": c, "volume": v})
        for i, t, o, h, lo, c, v in zip(bars["sym"].tolist(), bars["ts_ns"].tolist(), bars["open"].tolist(),
                                        bars["high"].tolist(), bars["low"].tolist(), bars["close"].tolist(),
                                        bars["volume"].tolist(), strict=False)
    ]


def quote_columns(b: TickBatch, symbols: list[str], venue: str) -> tuple[str, Columns]:
    """The quotes of ``b`` as one columnar payload (the values ``quote_messages`` gives, column by column)."""
    return batch_topic(QUOTES, venue), {
        "symbol": [symbols[i] for i in b.q_sym.tolist()], "bid": b.bid.tolist(), "ask": b.ask.tolist(),
        "bid_size": b.bid_size.tolist(), "ask_size": b.ask_size.tolist(), "ts_ns": b.q_ts.tolist()}


def trade_columns(b: TickBatch, symbols: list[str], venue: str) -> tuple[str, Columns]:
    return batch_topic(TRADES, venue), {
        "symbol": [symbols[i] for i in b.t_sym.tolist()], "price": b.price.tolist(), "size": b.size.tolist(),
        "ts_ns": b.t_ts.tolist(), "aggressor": ["buy" if a > 0 else "sell" for a in b.aggressor.tolist()]}


def bar_columns(bars: pd.DataFrame, symbols: list[str], timeframe: str) -> tuple[str, Columns]:
    return batch_topic(BARS, timeframe), {
        "symbol": [symbols[i] for i in bars["sym"].tolist()], "timeframe": [timeframe] * len(bars),
        "ts_ns": bars["ts_ns"].tolist(), "open": bars["open"].tolist(), "high": bars["high"].tolist(),
        "low": bars["low"].tolist(), "close": bars["close"].tolist(), "volume": bars["volume"].tolist()}


def _cap_columns(batches: dict[str, tuple[str, Columns]], left: int) -> dict[str, tuple[str, Columns]]:
    """``_cap`` for columnar batches: the ``left`` earliest ticks (by ts_ns) across streams."""
    if sum(len(cols["ts_ns"]) for _, cols in batches.values()) <= left:
        return batches
    keyed = sorted((t, i, stream) for stream, (_, cols) in batches.items() for i, t in
                   enumerate(cols["ts_ns"]))[: max(left, 0)]
    keep: dict[str, list[int]] = {stream: [] for stream in batches}
    for _, i, stream in keyed:
        keep[stream].append(i)
    return {stream: (topic, {k: [v[i] for i in sorted(keep[stream])] for k, v in cols.items()})
            for stream, (topic, cols) in batches.items()}


async def _publish(feed: Feed, publisher: StreamPublisher, batches: dict[str, Any], columnar: bool) -> None:
    """Publish per-message or columnar batches (capped at the feed's max_messages) and count them.

    While Redis is away the feed keeps its state and retries with back-off (``error`` says so) for up
    to ``MAX_OUTAGE_S``; then it fails. The instance's rate cap paces it (``feed_max_messages_per_s``)."""
    left = None if feed.req.max_messages is None else feed.req.max_messages - feed.total
    if left is not None:
        batches = _cap_columns(batches, left) if columnar else _cap(batches, left)
    backoff, outage_t0 = 0.1, None
    while True:
        try:
            sent = await (publisher.publish_columns(batches) if columnar else publisher.publish(batches))
            break
        except (RedisConnectionError, RedisTimeoutError, OSError) as e:
            now = time.monotonic()
            outage_t0 = outage_t0 or now
            if feed.stop_event.is_set() or now - outage_t0 > MAX_OUTAGE_S:
                raise
            feed.error = f"Redis unavailable for {now - outage_t0:.1f}s, retrying: {type(e).__name__}"
            await _sleep_or_stop(feed, backoff)
            backoff = min(backoff * 2, 2.0)
    if outage_t0 is not None:
        feed.error = None
    feed.count(sent)
    ahead = feed.total / feed.max_rate - (time.monotonic() - feed.t0)  # seconds early against the rate cap
    while ahead > 0 and not feed.stop_event.is_set():
        await _sleep_or_stop(feed, ahead)
        ahead = feed.total / feed.max_rate - (time.monotonic() - feed.t0)


async def _sleep_or_stop(feed: Feed, seconds: float) -> None:
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(feed.stop_event.wait(), max(0.0, min(seconds, MAX_SLEEP_S)))


async def run_model(feed: Feed, publisher: StreamPublisher) -> None:
    req = feed.req
    p = req.model
    symbols = list(req.symbols)
    start = pd.Timestamp(req.start) if req.start is not None else None
    sim = GbmJumpSimulator(p, len(symbols), req.seed, start)
    tf = parse_timeframe(req.timeframe)
    agg = BarAggregator(len(symbols), tf.ns)
    msgs_per_step = len(symbols) * (1 + p.trade_probability)
    # a batch is at most 1/20 s of the rate cap, so the cap holds over short windows too
    batch_steps = max(1, int(min(TARGET_BATCH_MESSAGES, feed.max_rate / 20) / msgs_per_step))
    steps_per_wall_s = None if req.speed is None else req.speed * 1000.0 / p.step_ms
    wall0 = time.monotonic()
    done = 0
    while not feed.stop_event.is_set():
        if steps_per_wall_s is None:
            n = batch_steps
        else:
            due = int((time.monotonic() - wall0) * steps_per_wall_s)
            n = min(due - done, batch_steps)
            if n <= 0:
                await _sleep_or_stop(feed, (done + 1) / steps_per_wall_s - (time.monotonic() - wall0))
                continue
        b = sim.steps(n)
        done += n
        bars = agg.update(b.t_ts, b.t_sym, b.price, b.size)
        if req.batched:
            batches: dict[str, Any] = {
                QUOTES: quote_columns(b, symbols, req.venue), TRADES: trade_columns(b, symbols, req.venue),
                BARS: bar_columns(bars, symbols, req.timeframe)}
        else:
            batches = {QUOTES: quote_messages(b, symbols, req.venue), TRADES: trade_messages(b, symbols, req.venue),
                       BARS: bar_messages(bars, symbols, req.timeframe)}
        await _publish(feed, publisher, batches, req.batched)
        feed.sim_time_ns = int(b.q_ts[-1])
        if req.max_messages is not None and feed.total >= req.max_messages:
            return
        await asyncio.sleep(0)


def _cap(batches: dict[str, list], left: int) -> dict[str, list]:
    """Keep the ``left`` earliest messages (by exchange ts_ns) across streams, so a cap never starves one."""
    if sum(len(v) for v in batches.values()) <= left:
        return batches
    keyed = sorted((item[1]["ts_ns"], i, stream) for stream, items in batches.items() for i, item in
                   enumerate(items))[: max(left, 0)]
    keep: dict[str, list[int]] = {stream: [] for stream in batches}
    for _, i, stream in keyed:
        keep[stream].append(i)
    return {stream: [batches[stream][i] for i in sorted(idx)] for stream, idx in keep.items()}


REPLAY_SQL = """
SELECT 0 AS k, symbol, ts, 0 AS seq, open AS a, high AS b, low AS c, close AS d, volume AS e, NULL AS agg
  FROM bars WHERE symbol = ANY($1::text[]) AND timeframe = $2 AND ts >= $3 AND ts < $4
UNION ALL
SELECT 1, symbol, ts, seq, price, size, NULL, NULL, NULL, aggressor
  FROM trades WHERE symbol = ANY($1::text[]) AND ts >= $3 AND ts < $4
UNION ALL
SELECT 2, symbol, ts, seq, bid, ask, bid_size, ask_size, NULL, NULL
  FROM quotes WHERE symbol = ANY($1::text[]) AND ts >= $3 AND ts < $4
ORDER BY ts, k, symbol, seq
"""


def _ns(t: dt.datetime) -> int:
    return int(pd.Timestamp(t).value)


async def run_replay(feed: Feed, publisher: StreamPublisher, pool: Any) -> None:
    req = feed.req
    start = req.start or dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    end = req.end or dt.datetime(2200, 1, 1, tzinfo=dt.UTC)
    start = start if start.tzinfo else start.replace(tzinfo=dt.UTC)
    end = end if end.tzinfo else end.replace(tzinfo=dt.UTC)
    last_price: dict[str, float] = {}
    t_first: int | None = None
    wall0 = time.monotonic()
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        cursor = await conn.cursor(REPLAY_SQL, list(req.symbols), req.timeframe, start, end)
        while not feed.stop_event.is_set():
            rows = await cursor.fetch(max(1, int(min(REPLAY_FETCH_ROWS, feed.max_rate / 20))))
            if not rows:
                return
            i = 0
            while i < len(rows) and not feed.stop_event.is_set():
                if t_first is None:
                    t_first = _ns(rows[0]["ts"])
                if req.speed is None:
                    j = len(rows)
                else:
                    sim_now = t_first + (time.monotonic() - wall0) * req.speed * 1e9
                    j = i
                    while j < len(rows) and _ns(rows[j]["ts"]) <= sim_now:
                        j += 1
                    if j == i:
                        wait = (_ns(rows[i]["ts"]) - t_first) / (req.speed * 1e9) - (time.monotonic() - wall0)
                        await _sleep_or_stop(feed, wait)
                        continue
                batches: dict[str, Any] = _replay_batches(rows[i:j], req, last_price)
                if req.batched:
                    batches = {stream: (batch_topic(stream, req.timeframe if stream == BARS else req.venue),
                                        columns_from_messages(stream, items)) for stream, items in batches.items()}
                await _publish(feed, publisher, batches, req.batched)
                feed.sim_time_ns = _ns(rows[j - 1]["ts"])
                if req.max_messages is not None and feed.total >= req.max_messages:
                    return
                i = j


def _replay_batches(rows: list, req: StartFeedRequest, last_price: dict[str, float]) -> dict[str, list]:
    out: dict[str, list] = {QUOTES: [], TRADES: [], BARS: []}
    for r in rows:
        sym, t = r["symbol"], _ns(r["ts"])
        if r["k"] == 0:
            out[BARS].append((bar_topic(req.timeframe, sym), {
                "symbol": sym, "timeframe": req.timeframe, "ts_ns": t, "open": r["a"], "high": r["b"],
                "low": r["c"], "close": r["d"], "volume": r["e"]}))
        elif r["k"] == 1:
            agg = r["agg"]
            if agg is None:  # tick rule: an uptick is buyer-initiated
                agg = "sell" if r["a"] < last_price.get(sym, r["a"]) else "buy"
            last_price[sym] = r["a"]
            out[TRADES].append((trade_topic(req.venue, sym), {
                "symbol": sym, "price": r["a"], "size": r["b"], "ts_ns": t, "aggressor": agg}))
        else:
            out[QUOTES].append((quote_topic(req.venue, sym), {
                "symbol": sym, "bid": r["a"], "ask": r["b"], "bid_size": r["c"], "ask_size": r["d"], "ts_ns": t}))
    return out


#: How long the latency probe keeps draining after its feed stopped (other feeds may keep publishing
#: on the same streams, so "until empty" could be never).
PROBE_DRAIN_S = 0.5


async def _probe(feed: Feed, consumer: MarketDataConsumer) -> None:
    """Read and acknowledge everything the feed publishes, recording latency; drains briefly after a stop."""
    stopped_at = None
    while True:
        entries = await consumer.read()
        if entries:
            await consumer.ack(entries)
        if feed.state not in ACTIVE or feed.stop_event.is_set():
            stopped_at = stopped_at or time.monotonic()
            if not entries or time.monotonic() - stopped_at > PROBE_DRAIN_S:
                return


async def _run(feed: Feed, ctx: OpContext) -> None:
    publisher = StreamPublisher(ctx.bus, fanout=feed.req.fanout)
    try:
        feed.fire("started")
        if feed.req.mode == "model":
            await run_model(feed, publisher)
        else:
            await run_replay(feed, publisher, ctx.db)
        feed.fire("stopped" if feed.state == FeedState.STOPPING else "finished")
    except asyncio.CancelledError:
        if feed.state in ACTIVE:
            feed.state = FeedState.STOPPING
            feed.fire("stopped")
        raise
    except Exception as e:  # noqa: BLE001 - a failed feed reports its error through status
        log.exception("feed %s failed", feed.req.feed_id)
        feed.error = f"{type(e).__name__}: {e}"
        feed.fire("failed")


async def start_feed(req: StartFeedRequest, ctx: OpContext) -> FeedStatus:
    """Start a simulated feed (model or replay) as a background task; 409 if that feed id is running."""
    ctx.require_bus()
    existing = FEEDS.get(req.feed_id)
    if existing is not None and existing.state in ACTIVE:
        raise Conflict(f"feed {req.feed_id!r} is {existing.state.value}; stop it first", field="feed_id")
    limits = ctx.settings
    active = [f for f in FEEDS.values() if f.state in ACTIVE]
    if limits is not None and len(active) >= limits.feed_max_active:
        raise Conflict(f"{len(active)} feeds are running, the most this instance allows "
                       f"(NAUTILUS_FEED_MAX_ACTIVE={limits.feed_max_active}); stop one first", field="feed_id")
    held = sum(len(f.req.symbols) for f in active)
    if limits is not None and held + len(req.symbols) > limits.feed_max_symbols:
        raise InvalidInput(f"running feeds cover {held} symbols; {len(req.symbols)} more exceeds this instance's "
                           f"{limits.feed_max_symbols} (NAUTILUS_FEED_MAX_SYMBOLS)", field="symbols")
    parse_timeframe(req.timeframe)
    if req.mode == "replay":
        ctx.require_db()
        if req.start and req.end and req.end <= req.start:
            raise InvalidInput("'end' must be after 'start'", field="end")
        from engines.marketdata.store import known_symbols

        unknown = sorted(set(req.symbols) - await known_symbols(ctx.db, req.symbols))
        if unknown:
            raise NotFound(f"unknown symbols {unknown[:10]}", field="symbols")
    feed = Feed(req)
    if limits is not None:
        feed.max_rate = limits.feed_max_messages_per_s
    FEEDS[req.feed_id] = feed
    if req.measure_latency:
        consumer = MarketDataConsumer(ctx.bus, f"{PROBE_GROUP}.{req.feed_id}", "probe", start_id="$",
                                      count=5000, block_ms=100)
        await consumer.start()
        feed.probe = asyncio.create_task(_probe(feed, consumer), name=f"feed-probe-{req.feed_id}")
    feed.task = asyncio.create_task(_run(feed, ctx), name=f"feed-{req.feed_id}")
    await asyncio.sleep(0)
    return feed.status()


async def stop_feed(req: FeedRef, ctx: OpContext) -> FeedStatus:
    """Stop a feed and wait (bounded) for its task and latency probe to finish."""
    feed = FEEDS.get(req.feed_id)
    if feed is None:
        raise NotFound(f"no feed {req.feed_id!r}", field="feed_id")
    if feed.state in (FeedState.STARTING, FeedState.RUNNING):
        feed.fire("stop")
    feed.stop_event.set()
    tasks = [t for t in (feed.task, feed.probe) if t is not None and not t.done()]
    if tasks:  # one bound for both: the probe's drain is a courtesy to the latency figures
        _, late = await asyncio.wait(tasks, timeout=STOP_TIMEOUT_S)
        for task in late:
            task.cancel()
        if late:  # a Redis client can swallow a cancellation: never wait on it unbounded
            _, stuck = await asyncio.wait(late, timeout=1.0)
            for task in stuck:
                log.warning("feed %s: task %s did not stop; abandoned", req.feed_id, task.get_name())
    return feed.status()


async def feed_status(req: FeedRef, ctx: OpContext) -> FeedStatus:
    feed = FEEDS.get(req.feed_id)
    if feed is None:
        raise NotFound(f"no feed {req.feed_id!r}", field="feed_id")
    return feed.status()


async def list_feeds(req: ListFeedsRequest, ctx: OpContext) -> FeedList:
    return FeedList(feeds=[f.status() for f in FEEDS.values()])

