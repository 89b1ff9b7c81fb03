"""Consumer of the market data streams (``md.quotes`` / ``md.trades``) through a consumer group.

Payloads follow the shared stream format: quote {symbol, bid, ask, bid_size, ask_size, ts_ns};
trade {symbol, price, size, ts_ns, aggressor}. Each entry is handed to ``on_quote`` /
``on_trade`` (the service applies it to the engine and persists the effects), then acked.
Malformed entries are counted, logged and acked (never block the stream). After each read, the
wall time and the lag of its newest entry (now minus the publisher's envelope timestamp: the time
through Redis and this loop) are kept for the metrics.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from backend.bus import Bus
from backend.bus.streams import MD_QUOTES, MD_TRADES

log = logging.getLogger(__name__)



class MarketFeed:
    def __init__(self, bus: Bus, group: str, consumer: str,
                 on_quote: Callable[[dict[str, Any]], Awaitable[None]],
                 on_trade: Callable[[dict[str, Any]], Awaitable[None]], *, block_ms: int = 200) -> None:
        self.bus, self.group, self.consumer = bus, group, consumer
        self.handlers = {MD_QUOTES: on_quote, MD_TRADES: on_trade}
        self.block_ms = block_ms
        self.received = 0
        self.malformed = 0
        self.last_error: str | None = None
        #: wall time (s) of the last read that brought entries, and the lag of its newest entry (s)
        self.last_message_at: float | None = None
        self.last_lag_s: float | None = None
        self._task: asyncio.Task | None = None
        self._stopping = False

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="trading-market-feed")

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Stop reading. Bounded: redis-py can swallow a cancellation that lands while a reply is
        being read (the task then sees a plain error instead), so the loop also watches a flag."""
        if self._task is None:
            return
        self._stopping = True
        self._task.cancel()
        done, _ = await asyncio.wait([self._task], timeout=timeout_s)
        if not done:
            log.warning("market feed did not stop within %.1fs", timeout_s)
        self._task = None

    async def _run(self) -> None:
        streams = {self.bus.key(s): ">" for s in self.handlers}
        ready = False
        while not self._stopping:
            try:
                if not ready:
                    for s in self.handlers:
                        await self.bus.ensure_group(s, self.group, start_id="$")
                    ready = True
                resp = await self.bus.redis.xreadgroup(self.group, self.consumer, streams, count=500,
                                                       block=self.block_ms)
                for stream, entries in _by_stream(self.bus, resp):
                    handler = self.handlers[stream]
                    ids = []
                    for e in entries:
                        ids.append(e.id)
                        try:
                            await handler(e.envelope.payload)
                            self.received += 1
                        except (KeyError, TypeError, ValueError) as err:
                            self.malformed += 1
                            log.warning("malformed %s entry %s: %s", stream, e.id, err)
                    await self.bus.ack(stream, self.group, *ids)
                    if entries:
                        now = time.time()
                        self.last_message_at = now
                        if entries[-1].envelope.ts_ns:
                            self.last_lag_s = max(0.0, now - entries[-1].envelope.ts_ns / 1e9)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - Redis away: report and retry
                self.last_error = f"{type(e).__name__}: {e}"
                if self._stopping:
                    return
                ready = False
                await asyncio.sleep(0.5)


def _by_stream(bus: Bus, resp: Any) -> list[tuple[str, list]]:
    by: dict[str, list] = {}
    for e in bus.entries(resp):
        by.setdefault(e.stream, []).append(e)
    return list(by.items())
