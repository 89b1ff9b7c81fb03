"""Batched publishing of market data envelopes onto Redis streams (and pub/sub topics).

One server-side script call (EVALSHA) XADDs a whole batch (and PUBLISHes each message on its
topic channel when fan-out is on), so a batch costs one round trip; the three
market data streams are sent together in one pipeline. Envelopes are the bus's
own (``backend.bus.envelope.encode``), each stamped with its publish time in ns.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import hiredis
from redis.exceptions import NoScriptError

from backend.bus import Bus
from backend.bus.envelope import encode
from backend.bus.redis_bus import DEFAULT_STREAM_MAXLEN, FIELD

#: The market data streams, their message types and topic prefixes (the shared contract).
QUOTES, TRADES, BARS = "md.quotes", "md.trades", "md.bars"
STREAMS = (QUOTES, TRADES, BARS)
MESSAGE_TYPE = {QUOTES: "quote", TRADES: "trade", BARS: "bar"}
#: Most messages in one script call.
MAX_BATCH = 5000

_BATCH_XADD = """
local maxlen = ARGV[1]
local fanout = ARGV[2] == '1'
local field = ARGV[3]
local n = 0
for i = 4, #ARGV, 2 do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*', field, ARGV[i + 1])
  if fanout then redis.call('PUBLISH', ARGV[i], ARGV[i + 1]) end
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
                args: list[Any] = ["EVALSHA", self._sha, 1, stream, self.maxlen, "1" if self.fanout else "0", FIELD]
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

    async def _send(self, commands: list[tuple[Any, ...]]) -> None:
        await send_commands(self.bus.redis, commands)


async def send_commands(redis: Any, commands: list[tuple[Any, ...]]) -> list[Any]:
    """Send commands packed by hiredis on one pooled connection; returns their replies in order."""
    packed = b"".join(hiredis.pack_command(c) for c in commands)
    pool = redis.connection_pool
    conn = await pool.get_connection()
    try:
        await conn.send_packed_command(packed, check_health=False)
        return [await conn.read_response() for _ in commands]
    except BaseException:
        await conn.disconnect()  # replies may be left unread: never reuse this connection
        raise
    finally:
        await pool.release(conn)
