"""Batched publishing of market data envelopes onto Redis streams (and pub/sub topics).

One server-side script call XADDs a whole batch (and PUBLISHes each message on its
topic channel when fan-out is on), so a batch costs one round trip; the three
market data streams are sent together in one pipeline. Envelopes are the bus's
own (``backend.bus.envelope.encode``), each stamped with its publish time in ns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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
    """Publishes (topic, payload) batches to the market data streams."""

    def __init__(self, bus: Bus, *, fanout: bool = True, maxlen: int = DEFAULT_STREAM_MAXLEN) -> None:
        self.bus = bus
        self.fanout = fanout
        self.maxlen = maxlen
        self._script = bus.redis.register_script(_BATCH_XADD)

    async def publish(self, batches: dict[str, Sequence[tuple[str, dict[str, Any]]]]) -> dict[str, int]:
        """{stream: [(topic, payload), ...]} -> messages written per stream (one pipeline round trip)."""
        pipe = self.bus.redis.pipeline(transaction=False)
        sent: dict[str, int] = {}
        for stream, items in batches.items():
            type_ = MESSAGE_TYPE[stream]
            for lo in range(0, len(items), MAX_BATCH):
                args: list[Any] = [self.maxlen, "1" if self.fanout else "0", FIELD]
                for topic, payload in items[lo:lo + MAX_BATCH]:
                    args.append(topic)
                    args.append(encode(topic, type_, payload))
                await self._script(keys=[stream], args=args, client=pipe)
            sent[stream] = len(items)
        if any(sent.values()):
            await pipe.execute()
        return sent

