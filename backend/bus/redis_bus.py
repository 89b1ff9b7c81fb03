"""Redis streams (consumer groups, so a restarted consumer resumes) and pub/sub.

Every stream key and pub/sub channel of one platform instance starts with that instance's
prefix (``<instance id>:``, ``Bus.key``), because Redis pub/sub ignores the database number:
two instances on one Redis never see each other's data. Callers use the plain names
(``md.quotes``, ``events.trading``, topic ``data.quotes.SIM.AAPL``); this class adds and strips
the prefix. Code that talks to ``bus.redis`` directly must wrap names in ``bus.key``.
"""

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


def instance_prefix(instance_id: str) -> str:
    """The key/channel prefix of one platform instance."""
    return f"{instance_id}:"


class Bus:
    """Thin typed layer over one redis.asyncio client, scoped to one instance's ``prefix``."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self.redis = client
        self.prefix = prefix
        self._cut = len(prefix)

    @classmethod
    def from_url(cls, url: str, *, prefix: str) -> Bus:
        return cls(aioredis.from_url(url, socket_connect_timeout=2, socket_timeout=5), prefix)

    @classmethod
    def for_settings(cls, settings: Any) -> Bus:
        """The bus of the instance ``settings`` describe (``settings.redis_url`` must be set)."""
        return cls.from_url(settings.redis_url, prefix=instance_prefix(settings.instance_id))

    def key(self, name: str) -> str:
        """The Redis key (or channel) of a stream or topic name of this instance."""
        return self.prefix + name

    def name(self, key: str | bytes) -> str:
        """The plain stream or topic name of one of this instance's keys."""
        k = key.decode() if isinstance(key, bytes) else key
        return k[self._cut:] if k.startswith(self.prefix) else k

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
            self.key(stream), {FIELD: encode(topic, type_, payload)}, maxlen=maxlen, approximate=True
        )
        return entry_id.decode() if isinstance(entry_id, bytes) else entry_id

    async def ensure_group(self, stream: str, group: str, start_id: str = "0") -> None:
        try:
            await self.redis.xgroup_create(self.key(stream), group, id=start_id, mkstream=True)
        except ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise

    async def read_group(
        self, stream: str, group: str, consumer: str, *, count: int = 100, block_ms: int = 1000,
        pending_first: bool = True,
    ) -> list[StreamEntry]:
        """Entries for this consumer: its own unacknowledged ones first (resume), then new ones."""
        start = "0" if pending_first else ">"
        key = self.key(stream)
        resp = await self.redis.xreadgroup(group, consumer, {key: start}, count=count,
                                           block=None if pending_first else block_ms)
        entries = self.entries(resp)
        if pending_first and not entries:
            resp = await self.redis.xreadgroup(group, consumer, {key: ">"}, count=count, block=block_ms)
            entries = self.entries(resp)
        return entries

    async def ack(self, stream: str, group: str, *ids: str) -> int:
        return await self.redis.xack(self.key(stream), group, *ids) if ids else 0

    def entries(self, resp: Any) -> list[StreamEntry]:
        """An XREAD/XREADGROUP reply -> entries named by plain stream name (deleted ones skipped)."""
        out: list[StreamEntry] = []
        for stream, items in resp or []:
            name = self.name(stream)
            for entry_id, fields in items:
                if not fields:  # deleted (trimmed) pending entry
                    continue
                eid = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                out.append(StreamEntry(name, eid, decode(fields[FIELD])))
        return out

    # ---- pub/sub -------------------------------------------------------
    async def broadcast(self, channel: str, topic: str, type_: str, payload: Any) -> int:
        """Publish for live fan-out (not durable); returns the number of receivers."""
        return await self.redis.publish(self.key(channel), encode(topic, type_, payload))

    async def subscribe(self, *patterns: str) -> AsyncIterator[Envelope]:
        """Yield envelopes published on channels matching the glob patterns."""
        pubsub = self.redis.pubsub()
        await pubsub.psubscribe(*(self.key(p) for p in patterns))
        try:
            async for msg in pubsub.listen():
                if msg["type"] == "pmessage":
                    yield decode(msg["data"])
        finally:
            await pubsub.aclose()
