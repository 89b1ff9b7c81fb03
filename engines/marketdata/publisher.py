"""Batched publishing of market data envelopes onto Redis streams (and pub/sub topics).

One server-side script call (EVALSHA) XADDs a whole batch (and PUBLISHes each message on its
topic channel when fan-out is on), so a batch costs one round trip; the three
market data streams are sent together in one pipeline. Envelopes are the bus's
own (``backend.bus.envelope.encode``), each stamped with its publish time in ns.

Two formats share the md.* streams (streams.md):

* per message (the default, ``publish``): one entry per tick, envelope type ``quote`` / ``trade`` /
  ``bar``, topic ``data.quotes.<venue>.<symbol>`` etc., payload one tick's fields.
* columnar (opt-in, ``publish_columns``): one entry carries up to ``MAX_COLUMN_TICKS`` ticks of one
  stream. Envelope type plural (``quotes`` / ``trades`` / ``bars``), topic without the symbol
  (``data.quotes.<venue>``, ``data.trades.<venue>``, ``data.bars.<timeframe>``), payload a map of the
  per-message payload's keys to equal-length arrays, tick i being ``{k: payload[k][i]}`` with topic
  ``<topic>.<symbol[i]>``; ``ts_ns`` is stamped once, when the batch is encoded. Each tick costs Redis
  and the consumer a slice of one entry instead of a whole one (decoding one envelope took ~5 us, the
  feed's bottleneck at ~50,000 ticks/s). With fan-out, the batch envelope is published on the channel
  equal to its (symbol-less) topic. ``engines.marketdata.consumer`` reads both formats into the same
  per-tick records; a reader that takes one envelope per entry (the trading core's) does not
  understand columnar entries, so a feed uses them only when asked (``StartFeedRequest.batched``).
  Stream trimming counts entries, so a columnar XADD trims to ``maxlen // ticks in the entry``
  entries: about ``maxlen`` ticks are kept in either format.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import hiredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError

from backend.bus import Bus
from backend.bus.envelope import encode
from backend.bus.redis_bus import DEFAULT_STREAM_MAXLEN, FIELD
from backend.bus.streams import MD_BARS, MD_QUOTES, MD_TRADES

#: The market data streams, their message types and topic prefixes (the shared contract).
QUOTES, TRADES, BARS = MD_QUOTES, MD_TRADES, MD_BARS
STREAMS = (QUOTES, TRADES, BARS)
MESSAGE_TYPE = {QUOTES: "quote", TRADES: "trade", BARS: "bar"}
#: Envelope types of columnar entries, and the per-tick type each expands to.
BATCH_TYPE = {QUOTES: "quotes", TRADES: "trades", BARS: "bars"}
SINGULAR = {v: MESSAGE_TYPE[k] for k, v in BATCH_TYPE.items()}
#: The payload keys of each stream's messages (the shared contract), in order.
PAYLOAD_KEYS = {
    QUOTES: ("symbol", "bid", "ask", "bid_size", "ask_size", "ts_ns"),
    TRADES: ("symbol", "price", "size", "ts_ns", "aggressor"),
    BARS: ("symbol", "timeframe", "ts_ns", "open", "high", "low", "close", "volume"),
}
#: Most messages in one script call.
MAX_BATCH = 5000
#: Most ticks in one columnar entry (~50 bytes a quote: ~250 kB).
MAX_COLUMN_TICKS = 5000

Columns = dict[str, list]

# ARGV: maxlen, fan-out flag, field, channel prefix (the instance's), then (topic, envelope) pairs
_BATCH_XADD = """
local maxlen = ARGV[1]
local fanout = ARGV[2] == '1'
local field = ARGV[3]
local prefix = ARGV[4]
local n = 0
for i = 5, #ARGV, 2 do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*', field, ARGV[i + 1])
  if fanout then redis.call('PUBLISH', prefix .. ARGV[i], ARGV[i + 1]) end
  n = n + 1
end
return n
"""


def quote_topic(venue: str, symbol: str) -> str:
    return f"data.quotes.{venue}.{symbol}"


def trade_topic(venue: str, symbol: str) -> str:
    return f"data.trades.{venue}.{symbol}"


def bar_topic(timeframe: str, symbol: str) -> str:
    return f"data.bars.{timeframe}.{symbol}"


def batch_topic(stream: str, venue_or_timeframe: str) -> str:
    """Topic of a columnar entry: the per-tick topic without its ``.<symbol>``."""
    return {QUOTES: "data.quotes", TRADES: "data.trades", BARS: "data.bars"}[stream] + "." + venue_or_timeframe


def column_length(stream: str, columns: Columns) -> int:
    """Ticks in a columnar payload; ValueError unless it has exactly the stream's keys, equally long."""
    keys = PAYLOAD_KEYS[stream]
    if set(columns) != set(keys):
        raise ValueError(f"{stream} columns must be {list(keys)}, got {sorted(columns)}")
    lengths = {k: len(columns[k]) for k in keys}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"{stream} columns differ in length: {lengths}")
    return lengths[keys[0]]


def columns_from_messages(stream: str, items: Sequence[tuple[str, dict[str, Any]]]) -> Columns:
    """[(topic, payload), ...] of one stream -> its columnar payload (same values, same order)."""
    return {k: [p[k] for _, p in items] for k in PAYLOAD_KEYS[stream]}


class StreamPublisher:
    """Publishes (topic, payload) batches to the market data streams.

    Commands are packed by hiredis (C) and written on one pooled connection as a single
    pipeline; redis-py's pure-Python packer is quadratic in a command's argument count.
    """

    def __init__(self, bus: Bus, *, fanout: bool = True, maxlen: int = DEFAULT_STREAM_MAXLEN) -> None:
        self.bus = bus
        self.fanout = fanout
        self.maxlen = maxlen
        self._sha = hashlib.sha1(_BATCH_XADD.encode()).hexdigest()

    async def publish(self, batches: dict[str, Sequence[tuple[str, dict[str, Any]]]]) -> dict[str, int]:
        """{stream: [(topic, payload), ...]} -> messages written per stream (one pipeline round trip)."""
        commands: list[tuple[Any, ...]] = []
        sent: dict[str, int] = {}
        for stream, items in batches.items():
            type_ = MESSAGE_TYPE[stream]
            for lo in range(0, len(items), MAX_BATCH):
                args: list[Any] = ["EVALSHA", self._sha, 1, self.bus.key(stream), self.maxlen,
                                   "1" if self.fanout else "0", FIELD, self.bus.prefix]
                for topic, payload in items[lo:lo + MAX_BATCH]:
                    args.append(topic)
                    args.append(encode(topic, type_, payload))
                commands.append(tuple(args))
            sent[stream] = len(items)
        if commands:
            try:
                await self._send(commands)
            except NoScriptError:  # first use on this server (or after a flush): load, then send again
                await self.bus.redis.script_load(_BATCH_XADD)
                await self._send(commands)
        return sent

    async def publish_columns(self, batches: dict[str, tuple[str, Columns]]) -> dict[str, int]:
        """{stream: (batch topic, columns)} -> ticks written per stream, as columnar entries of at most
        ``MAX_COLUMN_TICKS`` ticks (one pipeline round trip). ValueError on malformed columns."""
        commands: list[tuple[Any, ...]] = []
        sent: dict[str, int] = {}
        for stream, (topic, columns) in batches.items():
            n = column_length(stream, columns)
            sent[stream] = n
            if n == 0:
                continue
            type_ = BATCH_TYPE[stream]
            per = min(n, MAX_COLUMN_TICKS)
            args: list[Any] = ["EVALSHA", self._sha, 1, self.bus.key(stream), max(1, self.maxlen // per),
                               "1" if self.fanout else "0", FIELD, self.bus.prefix]
            for lo in range(0, n, per):
                args.append(topic)
                args.append(encode(topic, type_, {k: v[lo:lo + per] for k, v in columns.items()}))
            commands.append(tuple(args))
        if commands:
            try:
                await self._send(commands)
            except NoScriptError:
                await self.bus.redis.script_load(_BATCH_XADD)
                await self._send(commands)
        return sent

    async def _send(self, commands: list[tuple[Any, ...]]) -> None:
        await send_commands(self.bus.redis, commands)


async def send_commands(redis: Any, commands: list[tuple[Any, ...]]) -> list[Any]:
    """Send commands packed by hiredis on one pooled connection; returns their replies in order.

    A pooled connection that died while idle (Redis restarted) fails on send, before the server saw
    anything: that send is retried once on a fresh connection. A failure while reading replies is
    not retried (some commands may have run)."""
    packed = b"".join(hiredis.pack_command(c) for c in commands)
    pool = redis.connection_pool
    conn = await pool.get_connection()
    try:
        try:
            await conn.send_packed_command(packed, check_health=False)
        except (RedisConnectionError, OSError):
            await conn.disconnect()
            await conn.connect()
            await conn.send_packed_command(packed, check_health=False)
        return [await conn.read_response() for _ in commands]
    except BaseException:
        await conn.disconnect()  # replies may be left unread: never reuse this connection
        raise
    finally:
        await pool.release(conn)
