import asyncio
import uuid

import pytest

pytestmark = pytest.mark.timeout(20)


async def test_stream_consumer_group_when_consumer_restarts_then_unacked_entries_are_redelivered(bus):
    stream = f"test.stream.{uuid.uuid4().hex}"
    await bus.ensure_group(stream, "g")
    for i in range(3):
        await bus.append(stream, "events.test", "tick", {"i": i})
    first = await bus.read_group(stream, "g", "c1", count=10, block_ms=100)
    assert [e.envelope.payload["i"] for e in first] == [0, 1, 2]
    await bus.ack(stream, "g", first[0].id)
    # the "restarted" consumer (same name) gets its unacknowledged entries back first
    again = await bus.read_group(stream, "g", "c1", count=10, block_ms=100)
    assert [e.envelope.payload["i"] for e in again] == [1, 2]
    assert again[0].envelope.topic == "events.test" and again[0].envelope.ts_ns > 0


async def test_broadcast_when_subscribed_then_envelope_arrives(bus):
    channel = f"live.{uuid.uuid4().hex}"
    got: list = []

    async def listen() -> None:
        async for env in bus.subscribe(channel):
            got.append(env)
            return

    task = asyncio.create_task(listen())
    for _ in range(50):
        if await bus.broadcast(channel, "data.quotes.X", "quote", {"bid": 1.0}) > 0:
            break
        await asyncio.sleep(0.02)
    await asyncio.wait_for(task, 5)
    assert got[0].payload == {"bid": 1.0} and got[0].type == "quote"
