"""Relay of the transactional outbox (``trading_outbox``) to the Redis stream ``events.trading``, and
to the pub/sub channel of each event's topic for live fan-out (websocket clients).

Rows are written in the same transaction as the state they describe. The relay takes a batch
under ``FOR UPDATE SKIP LOCKED``, XADDs it (one pipeline), deletes it and commits. If Redis is
down the transaction rolls back and the rows wait: nothing is lost. Delivery is at-least-once
(a crash between XADD and commit re-sends); each event carries ``event_id`` (a UUIDv7 made when the
event was, unique across database resets) so consumers de-duplicate.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import orjson

from backend.bus import Bus
from backend.bus.envelope import encode
from backend.bus.redis_bus import DEFAULT_STREAM_MAXLEN, FIELD

log = logging.getLogger(__name__)


class OutboxRelay:
    def __init__(self, pool: asyncpg.Pool, bus: Bus, wake: asyncio.Event, *, batch: int = 500,
                 poll_s: float = 0.5, max_backoff_s: float = 2.0) -> None:
        self.pool, self.bus, self.wake = pool, bus, wake
        self.batch, self.poll_s, self.max_backoff_s = batch, poll_s, max_backoff_s
        self.relayed = 0
        self.failures = 0
        self.last_error: str | None = None
        self._task: asyncio.Task | None = None
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="trading-outbox-relay")

    async def stop(self, timeout_s: float = 3.0) -> None:
        """Flush what is pending (bounded by ``timeout_s``), then stop."""
        if self._task is None:
            return
        self._stopping = True
        self.wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout_s)
        except TimeoutError:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    async def pending(self) -> int:
        return await self.pool.fetchval("SELECT count(*) FROM trading_outbox")

    async def relay_once(self) -> int:
        """Move one batch to Redis; returns how many rows moved."""
        async with self.pool.acquire() as conn, conn.transaction():
            # Losing this commit in a crash only re-sends the batch (at-least-once, de-duplicated by
            # event_id), so it need not wait for the WAL flush: one fsync per order batch, not two.
            await conn.execute("SET LOCAL synchronous_commit TO OFF")
            rows = await conn.fetch(
                "SELECT id, event_id, stream, topic, type, payload FROM trading_outbox ORDER BY id LIMIT $1 "
                "FOR UPDATE SKIP LOCKED", self.batch)
            if not rows:
                return 0
            pipe = self.bus.redis.pipeline(transaction=False)
            for r in rows:
                payload = orjson.loads(r["payload"])
                payload["event_id"] = str(r["event_id"])
                envelope = encode(r["topic"], r["type"], payload)
                pipe.xadd(self.bus.key(r["stream"]), {FIELD: envelope}, maxlen=DEFAULT_STREAM_MAXLEN, approximate=True)
                # live fan-out on the topic's channel (the websocket engine forwards it to the dashboard);
                # not durable: the stream above is the record, a re-sent batch is published again
                pipe.publish(self.bus.key(r["topic"]), envelope)
            await asyncio.wait_for(pipe.execute(), 5.0)
            await conn.execute("DELETE FROM trading_outbox WHERE id = ANY($1::bigint[])", [r["id"] for r in rows])
        self.relayed += len(rows)
        return len(rows)

    async def _run(self) -> None:
        backoff = 0.05
        while True:
            try:
                moved = await self.relay_once()
                backoff = 0.05
                self.last_error = None
                if moved:
                    continue
                if self._stopping:
                    return
                self.wake.clear()
                try:
                    await asyncio.wait_for(self.wake.wait(), self.poll_s)
                except TimeoutError:
                    pass
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - Redis or DB down: keep rows, back off, retry
                self.failures += 1
                self.last_error = f"{type(e).__name__}: {e}"
                if self._stopping:
                    log.warning("outbox relay stopping with events pending: %s", self.last_error)
                    return
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
