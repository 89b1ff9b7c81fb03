"""A consumer-group reader of the market data streams for other engines and the trading core.

    consumer = MarketDataConsumer(bus, group="oms", consumer="oms-1")
    await consumer.start()
    async for entries in consumer:          # lists of StreamEntry, oldest first per stream
        handle(entries)                     # acknowledged when the loop asks for the next batch

A restarted consumer with the same name gets its unacknowledged entries first,
then new ones. Each batch's feed-to-consumer latency (receive time minus the
envelope's publish ``ts_ns``) is recorded in ``nautilus_marketdata_feed_latency_seconds``.

Both stream formats (engines/marketdata/publisher.py) give the same records: one ``StreamEntry``
per tick, whose envelope has the per-message topic, type and payload. A columnar entry expands
to its ticks in order, each carrying that entry's id and publish ``ts_ns``; its ticks always come
in the same list, and acknowledging any of them acknowledges the entry. ``expand`` does the same
for a single envelope (e.g. one received by pub/sub).
"""

from __future__ import annotations

import gc
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
from redis.exceptions import ResponseError

from backend.bus import Bus, StreamEntry
from backend.bus.envelope import Envelope, decode
from backend.bus.redis_bus import FIELD
from engines.marketdata.latency import FEED_LATENCY
from engines.marketdata.publisher import SINGULAR, STREAMS, send_commands


class MarketDataConsumer:
    """Reads md.quotes / md.trades / md.bars (or a subset) through one consumer group.

    ``count`` bounds the stream entries per read, so a read of columnar entries can return up to
    ``count * MAX_COLUMN_TICKS`` ticks.
    """

    def __init__(
        self, bus: Bus, group: str, consumer: str, streams: Sequence[str] = STREAMS, *, start_id: str = "$",
        count: int = 1000, block_ms: int = 500, record_latency: bool = True, auto_ack: bool = True,
    ) -> None:
        self.bus, self.group, self.consumer = bus, group, consumer
        self.streams = tuple(streams)
        self.start_id = start_id  # where a new group starts: "$" = only new entries, "0" = the whole stream
        self.count, self.block_ms = count, block_ms
        self.record_latency, self.auto_ack = record_latency, auto_ack
        self._pending_done = False
        self.received = 0

    async def start(self) -> None:
        for stream in self.streams:
            await self.bus.ensure_group(stream, self.group, self.start_id)  # the bus prefixes the key

    async def read(self) -> list[StreamEntry]:
        """This consumer's unacknowledged entries first (after a restart), then new ones (blocking briefly).

        If the streams or the group vanish (Redis flushed or restarted without persistence), the group is
        created again and an empty batch returned.
        """
        try:
            return await self._read()
        except ResponseError as e:
            if "NOGROUP" not in str(e) and "no longer exists" not in str(e):
                raise
            await self.start()
            return []

    async def _read(self) -> list[StreamEntry]:
        redis = self.bus.redis
        if not self._pending_done:
            resp = await redis.xreadgroup(self.group, self.consumer, {self.bus.key(s): "0" for s in self.streams},
                                          count=self.count)
            entries = _entries(self.bus, resp)
            if entries:
                return self._received(entries)
            self._pending_done = True
        resp = await redis.xreadgroup(self.group, self.consumer, {self.bus.key(s): ">" for s in self.streams},
                                      count=self.count, block=self.block_ms)
        return self._received(_entries(self.bus, resp))

    def _received(self, entries: list[StreamEntry]) -> list[StreamEntry]:
        self.received += len(entries)
        if self.record_latency and entries:
            now = time.time_ns()
            by_stream: dict[str, list[int]] = {}
            for e in entries:
                by_stream.setdefault(e.stream, []).append(e.envelope.ts_ns)
            for stream, stamps in by_stream.items():
                FEED_LATENCY.observe_many((stream, self.group), (now - np.asarray(stamps, dtype=np.int64)) / 1e9)
        return entries

    async def ack(self, entries: Sequence[StreamEntry]) -> None:
        by_stream: dict[str, list[str]] = {}
        for stream, eid in dict.fromkeys((e.stream, e.id) for e in entries):  # a columnar entry's ticks share its id
            by_stream.setdefault(stream, []).append(eid)
        if not by_stream:
            return
        await send_commands(self.bus.redis, [("XACK", self.bus.key(stream), self.group, *ids)
                                             for stream, ids in by_stream.items()])

    async def __aiter__(self) -> AsyncIterator[list[StreamEntry]]:
        while True:
            entries = await self.read()
            if not entries:
                continue
            yield entries
            if self.auto_ack:
                await self.ack(entries)


def expand(env: Envelope) -> list[Envelope]:
    """An envelope -> its per-tick envelopes: itself if per message, its ticks if columnar.

    ValueError if a columnar payload is not a map of equal-length arrays with a ``symbol`` array.
    """
    singular = SINGULAR.get(env.type)
    if singular is None:
        return [env]
    cols = env.payload
    if not isinstance(cols, dict) or not all(isinstance(v, list) for v in cols.values()) or "symbol" not in cols:
        raise ValueError(f"columnar {env.type!r} payload must map keys to arrays, with 'symbol'")
    n = len(cols["symbol"])
    if any(len(v) != n for v in cols.values()):
        raise ValueError(f"columnar {env.type!r} payload has arrays of different lengths")
    keys = tuple(cols)
    at = keys.index("symbol")
    prefix, ts = env.topic + ".", env.ts_ns
    topic = {sym: prefix + str(sym) for sym in set(cols["symbol"])}
    return [  # lengths checked above
        Envelope(topic[values[at]], singular, dict(zip(keys, values)), ts)  # noqa: B905
        for values in zip(*cols.values())  # noqa: B905
    ]


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Defer the cyclic garbage collector while a read's records are built.

    A columnar read creates thousands of records at once (two GC-tracked objects a tick, none in a
    cycle); collections triggered mid-build promote them and then rescan the whole heap, which took
    ~30% of the consumer's time. Pausing defers, never skips, collection; the previous state is restored.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _entries(bus: Bus, resp: object) -> list[StreamEntry]:
    with _gc_paused():
        return _build_entries(bus, resp)


def _build_entries(bus: Bus, resp: object) -> list[StreamEntry]:
    out: list[StreamEntry] = []
    for stream, items in resp or []:  # type: ignore[union-attr]
        name = bus.name(stream)
        for entry_id, fields in items:
            if not fields:  # pending entry trimmed away
                continue
            eid = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
            env = decode(fields[FIELD])
            if env.type in SINGULAR:
                out.extend([StreamEntry(name, eid, e) for e in expand(env)])
            else:
                out.append(StreamEntry(name, eid, env))
    return out
