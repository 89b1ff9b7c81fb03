"""The trading core's market feed stops within a bound even when the Redis client swallows the
cancellation (observed: redis-py surfaced NOGROUP instead of CancelledError and the loop retried forever)."""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import ResponseError

from backend.bus import Bus
from backend.bus.redis_bus import instance_prefix
from backend.trading.feed import MarketFeed
from tests.support.access import TEST_INSTANCE

pytestmark = pytest.mark.timeout(30)


async def test_feed_stop_when_client_swallows_cancel_then_returns_promptly(redis_url) -> None:
    bus = Bus.from_url(redis_url, prefix=instance_prefix(TEST_INSTANCE))
    real = bus.redis.xreadgroup
    swallowed = 0
    reading = asyncio.Event()  # set while the feed's task is suspended inside a read

    async def swallowing(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - the real call, cancel turned into an error
        nonlocal swallowed
        try:
            reading.set()
            return await real(*args, **kwargs)
        except asyncio.CancelledError:
            swallowed += 1
            raise ResponseError("NOGROUP No such key 'md.quotes' or consumer group") from None

    bus.redis.xreadgroup = swallowing
    seen: list[dict] = []

    async def on_quote(p: dict) -> None:
        seen.append(p)

    feed = MarketFeed(bus, "stop-test", "c", on_quote, on_quote, block_ms=100)
    feed.start()
    try:
        for _ in range(50):  # the group is created by the feed's task: publish until it reads
            await bus.append("md.quotes", "data.quotes.SIM.X", "quote", {"symbol": "X"})
            await asyncio.sleep(0.05)
            if seen:
                break
        assert seen, "the feed reads before it is stopped"
        reading.clear()  # the next read: the feed's task sets it and suspends in the same step, so the
        await asyncio.wait_for(reading.wait(), 5.0)  # stop below lands inside a blocking read, however loaded
        await asyncio.wait_for(feed.stop(), 3.0)  # the bound is 5 s; the flag makes it prompt
        assert swallowed >= 1 and feed._task is None
    finally:
        await bus.close()
