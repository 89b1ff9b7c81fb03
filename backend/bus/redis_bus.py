"""Redis streams (consumer groups, so a restarted consumer resumes) and pub/sub."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from backend.bus.envelope import Envelope, decode, encode

#: Streams are trimmed approximately to this many entries.
DEFAULT_STREAM_MAXLEN = 100_000
FIELD = b"e"


@dataclass(frozen=True)
class StreamEntry:
    stream: str
    id: str
    envelope: Envelope


class Bus:
    """Thin typed layer over one redis.asyncio client."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.redis = client

    @classmethod
    def from_url(cls, url: str) -> "Bus":
        return cls(aioredis.from_url(url, socket_connect_timeout=2, socket_timeout=5))

    async def close(self) -> None:
        await self.redis.aclose()

    async def ping(self, timeout_s: float = 1.0) -> dict[str, Any]:
        t0 = time.perf_counter()
        try:
            await asyncio.wait_for(self.redis.ping(), timeout_s)
            return {"ok": True, "latency_ms": round((time.perf_counter() - t0) * 1e3, 3)}
        except Exception as e:  # noqa: BLE001 - a health probe reports any failure
            return {"ok": False, "error": f"{type(e).__name__}: {e}"}

    # ---- streams -------------------------------------------------------
    async def append(
        self, stream: str, topic: str, type_: str, payload: Any, *, maxlen: int = DEFAULT_STREAM_MAXLEN
    ) -> str:
        """XADD one envelope; returns the entry id."""
        entry_id = await self.redis.xadd(
            stream, {FIELD: encode(topic, type_, payload)}, maxlen=maxlen, approximate=True
        )
        return entry_id.decode() if isinstance(entry_id, bytes) else entry_id

    async def ensure_group(self, stream: str, group: str, start_id: str = "0") -> None:
        try:
            await self.redis.xgroup_create(stream, group, id=start_id, mkstream=True)
        except ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise

    async def read_group(
        self, stream: str, group: str, consumer: str, *, count: int = 100, block_ms: int = 1000,
        pending_first: bool = True,
    ) -> list[StreamEntry]:
        """Entries for this consumer: its own unacknowledged ones first (resume), then new ones."""
        start = "0" if pending_first else ">"
        resp = await self.redis.xreadgroup(group, consumer, {stream: start}, count=count,
                                           block=None if pending_first else block_ms)
        entries = self._entries(resp)
        if pending_first and not entries:
            resp = await self.redis.xreadgroup(group, consumer, {stream: ">"}, count=count, block=block_ms)
            entries = self._entries(resp)
        return entries

    async def ack(self, stream: str, group: str, *ids: str) -> int:
        return await self.redis.xack(stream, group, *ids) if ids else 0

    @staticmethod
    def _entries(resp: Any) -> list[StreamEntry]:
        out: list[StreamEntry] = []
        for stream, items in resp or []:
            name = stream.decode() if isinstance(stream, bytes) else stream
            for entry_id, fields in items:
                if not fields:  # deleted (trimmed) pending entry
                    continue
                eid = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                out.append(StreamEntry(name, eid, decode(fields[FIELD])))
        return out

    # ---- pub/sub -------------------------------------------------------
    async def broadcast(self, channel: str, topic: str, type_: str, payload: Any) -> int:
        """Publish for live fan-out (not durable); returns the number of receivers."""
        return await self.redis.publish(channel, encode(topic, type_, payload))

    async def subscribe(self, *patterns: str) -> AsyncIterator[Envelope]:
        """Yield envelopes published on channels matching the glob patterns."""
        pubsub = self.redis.pubsub()
        await pubsub.psubscribe(*patterns)
        try:
            async for msg in pubsub.listen():
                if msg["type"] == "pmessage":
                    yield decode(msg["data"])
        finally:
            await pubsub.aclose()
