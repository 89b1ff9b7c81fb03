"""The outbox relay publishes every trading event live as well as durably: the stream ``events.trading``
keeps the record, and the pub/sub channel of the event's topic carries it to websocket clients (the
dashboard's blotter, fills and positions update from it)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import orjson
import pytest

from backend.bus.envelope import decode
from backend.trading.outbox import OutboxRelay

pytestmark = pytest.mark.timeout(60)


async def test_relay_when_event_relayed_then_on_stream_and_published_on_its_topic(db_pool, bus) -> None:
    account = f"fan-{uuid.uuid4().hex[:8]}"
    topic = f"events.fill.{account}"
    received: asyncio.Queue = asyncio.Queue()

    async def listen() -> None:
        async for env in bus.subscribe(topic):
            await received.put(env)

    listener = asyncio.create_task(listen())
    try:
        for _ in range(100):  # the subscription is live once Redis counts it
            if (await bus.redis.pubsub_numpat()) > 0:
                break
            await asyncio.sleep(0.02)
        event_id = uuid.uuid4()
        await db_pool.execute(
            "INSERT INTO trading_outbox (stream, topic, type, payload, event_id) VALUES ($1, $2, $3, $4::jsonb, $5)",
            "events.trading", topic, "fill", orjson.dumps({"account_id": account, "qty": 5.0}).decode(), event_id)
        relay = OutboxRelay(db_pool, bus, asyncio.Event())
        while await relay.relay_once():
            pass
        env = await asyncio.wait_for(received.get(), 5)
        assert (env.topic, env.type) == (topic, "fill")
        assert env.payload == {"account_id": account, "qty": 5.0, "event_id": str(event_id)}
        entries = await bus.redis.xrange(bus.key("events.trading"), "-", "+")
        on_stream = [decode(f[b"e"]) for _, f in entries]
        assert any(e.payload.get("event_id") == str(event_id) for e in on_stream)
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
