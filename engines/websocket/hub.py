"""The hub: one bus reader per process, fanned out in memory to the subscribed clients.

Two readers share the process's Redis client:

* pub/sub: a single pattern subscription ``<instance prefix>*`` (Redis pub/sub ignores the
  database number; the prefix is what keeps instances apart) for live topics: market data (per
  message and columnar, expanded per tick), limit breaches, job progress, engine health and
  notifications. Topics of a stream-sourced family are ignored here (they arrive by the stream).
* streams: XREAD on ``events.trading`` (the trading core's outbox: order, fill, position and
  kill-switch events) from the tail at start, then from the last entry read, so a Redis restart
  loses nothing that reached the stream. Each entry carries its stream id, by which a client
  resumes (``replay``). The outbox is at-least-once: events seen again (same ``event_id``) are
  dropped before fan-out.

Each message is encoded to JSON once and the same text is queued for every matching client; the
set of clients per topic is cached until a subscription changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from prometheus_client import Counter, Gauge

from backend.bus import Bus
from backend.bus.envelope import Envelope, decode
from engines.marketdata.consumer import expand
from engines.websocket.topics import PUBSUB, STREAM_SOURCES, Family, family_of_topic

log = logging.getLogger(__name__)

RECEIVED = Counter("nautilus_ws_bus_messages_total", "Bus messages read by the websocket hub", ["source"])
DISCARDED = Counter("nautilus_ws_bus_discarded_total", "Bus messages the hub did not fan out", ["reason"])
DELIVERIES = Counter("nautilus_ws_deliveries_total", "Messages queued to websocket clients")
READER_UP = Gauge("nautilus_ws_reader_connected", "Whether the hub's bus reader is connected", ["source"])

#: Event ids remembered to drop outbox re-sends.
SEEN_EVENTS_MAX = 100_000
XREAD_COUNT = 500
XREAD_BLOCK_MS = 1000
REPLAY_CHUNK = 500
#: Most entries one resume may replay (older gaps: read the REST history instead).
REPLAY_MAX = 50_000
MAX_BACKOFF_S = 2.0

EntryId = tuple[int, int]


def parse_entry_id(value: str) -> EntryId:
    """A stream entry id ``<ms>-<seq>`` as a comparable tuple; ValueError if malformed."""
    ms, _, seq = value.partition("-")
    return int(ms), int(seq or 0)


@dataclass(slots=True)
class Message:
    topic: str
    text: str  # the JSON sent to clients
    family: Family
    stream: str | None = None
    entry_id: EntryId | None = None
    account: str | None = None
    event_id: str | None = None


class Subscriber(Protocol):
    def matches(self, topic: str) -> bool: ...

    def deliver(self, msg: Message) -> None: ...


def to_message(env: Envelope, family: Family, stream: str | None = None, entry_id: str | None = None
               ) -> Message:
    body: dict[str, Any] = {"topic": env.topic, "type": env.type, "ts_ns": env.ts_ns, "payload": env.payload}
    if stream is not None:
        body["stream"], body["id"] = stream, entry_id
    payload = env.payload if isinstance(env.payload, dict) else {}
    account = payload.get("account_id")
    event_id = payload.get("event_id")
    return Message(env.topic, orjson.dumps(body, default=str).decode(), family, stream,
                   parse_entry_id(entry_id) if entry_id else None,
                   account if isinstance(account, str) else None, event_id if isinstance(event_id, str) else None)


class Hub:
    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.clients: set[Subscriber] = set()
        self._routes: dict[str, list[Subscriber]] = {}
        self._seen: OrderedDict[str, EntryId] = OrderedDict()  # event id -> the entry that carried it first
        self._tasks: list[asyncio.Task] = []
        self.stream_position: dict[str, str] = {}
        self.connected = {"pubsub": False, "streams": False}
        self.started_monotonic = time.monotonic()

    # ---- clients ---------------------------------------------------------------------------
    def add(self, client: Subscriber) -> None:
        self.clients.add(client)
        self._routes.clear()

    def remove(self, client: Subscriber) -> None:
        self.clients.discard(client)
        self._routes.clear()

    def changed(self) -> None:
        """A client's subscriptions changed: forget the cached routes."""
        self._routes.clear()

    def dispatch(self, msg: Message) -> int:
        """Queue ``msg`` for every client subscribed to its topic; returns how many."""
        targets = self._routes.get(msg.topic)
        if targets is None:
            if len(self._routes) > 100_000:
                self._routes.clear()
            targets = self._routes[msg.topic] = [c for c in self.clients if c.matches(msg.topic)]
        for c in targets:
            c.deliver(msg)
        DELIVERIES.inc(len(targets))
        return len(targets)

    # ---- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        for stream in STREAM_SOURCES:
            self.stream_position[stream] = await self._tail(stream)
        self._tasks = [asyncio.create_task(self._pubsub_loop(), name="ws-hub-pubsub"),
                       asyncio.create_task(self._stream_loop(), name="ws-hub-streams")]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def view(self) -> dict[str, Any]:
        return {"clients": len(self.clients), "connected": dict(self.connected),
                "stream_position": dict(self.stream_position)}

    async def _tail(self, stream: str) -> str:
        try:
            last = await self.bus.redis.xrevrange(self.bus.key(stream), count=1)
        except Exception:  # noqa: BLE001 - Redis down at start: read from the beginning once it is back
            return "0-0"
        return last[0][0].decode() if last else "0-0"

    # ---- readers -------------------------------------------------------------------------------
    async def _pubsub_loop(self) -> None:
        backoff = 0.05
        while True:
            pubsub = self.bus.redis.pubsub()
            try:
                await pubsub.psubscribe(self.bus.key("*"))
                self.connected["pubsub"] = True
                READER_UP.labels("pubsub").set(1)
                backoff = 0.05
                while True:
                    msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if msg is not None and msg.get("type") == "pmessage":
                        self.on_pubsub(msg["data"])
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - Redis gone: reconnect with back-off
                log.warning("websocket hub pub/sub reader: %s: %s", type(e).__name__, e)
            finally:
                self.connected["pubsub"] = False
                READER_UP.labels("pubsub").set(0)
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    def on_pubsub(self, data: bytes) -> None:
        RECEIVED.labels("pubsub").inc()
        try:
            envs = expand(decode(data))
        except Exception:  # noqa: BLE001 - a foreign or malformed message must not stop the reader
            DISCARDED.labels("malformed").inc()
            return
        for env in envs:
            fam = family_of_topic(env.topic)
            if fam is None:
                DISCARDED.labels("unknown_topic").inc()
            elif fam.source != PUBSUB:
                DISCARDED.labels("stream_family").inc()  # delivered from its stream, in order
            else:
                self.dispatch(to_message(env, fam))

    async def _stream_loop(self) -> None:
        backoff = 0.05
        while True:
            try:
                keys = {self.bus.key(s): self.stream_position[s] for s in STREAM_SOURCES}
                resp = await self.bus.redis.xread(keys, count=XREAD_COUNT, block=XREAD_BLOCK_MS)
                self.connected["streams"] = True
                READER_UP.labels("streams").set(1)
                backoff = 0.05
                for stream_key, items in resp or []:
                    stream = self.bus.name(stream_key)
                    for raw_id, fields in items:
                        entry_id = raw_id.decode() if isinstance(raw_id, bytes) else raw_id
                        self.stream_position[stream] = entry_id
                        self.on_stream(stream, entry_id, fields)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - Redis gone: retry from the last entry read
                self.connected["streams"] = False
                READER_UP.labels("streams").set(0)
                log.warning("websocket hub stream reader: %s: %s", type(e).__name__, e)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)

    def on_stream(self, stream: str, entry_id: str, fields: dict[bytes, bytes]) -> None:
        RECEIVED.labels("stream").inc()
        msg = self.stream_message(stream, entry_id, fields)
        if msg is None:
            return
        if msg.event_id is not None:
            if msg.event_id in self._seen:
                DISCARDED.labels("duplicate_event").inc()
                return
            self._seen[msg.event_id] = msg.entry_id  # type: ignore[assignment]
            if len(self._seen) > SEEN_EVENTS_MAX:
                self._seen.popitem(last=False)
        self.dispatch(msg)

    @staticmethod
    def stream_message(stream: str, entry_id: str, fields: dict[bytes, bytes]) -> Message | None:
        try:
            env = decode(fields[b"e"])
        except Exception:  # noqa: BLE001
            DISCARDED.labels("malformed").inc()
            return None
        fam = family_of_topic(env.topic)
        if fam is None:
            DISCARDED.labels("unknown_topic").inc()
            return None
        return to_message(env, fam, stream, entry_id)

    def is_resent(self, msg: Message) -> bool:
        """Whether an earlier entry carried the same event (an outbox re-send), as far as this hub saw."""
        first = self._seen.get(msg.event_id) if msg.event_id is not None else None
        return first is not None and first != msg.entry_id

    async def replay(self, stream: str, after: str) -> Iterable[Message]:
        """Entries of ``stream`` after the id ``after`` (exclusive), oldest first, at most ``REPLAY_MAX``."""
        out: list[Message] = []
        start = "(" + after
        key = self.bus.key(stream)
        while len(out) < REPLAY_MAX:
            items = await self.bus.redis.xrange(key, min=start, max="+", count=REPLAY_CHUNK)
            if not items:
                break
            for raw_id, fields in items:
                entry_id = raw_id.decode() if isinstance(raw_id, bytes) else raw_id
                msg = self.stream_message(stream, entry_id, fields)
                if msg is not None and not self.is_resent(msg):
                    out.append(msg)
            start = "(" + (items[-1][0].decode() if isinstance(items[-1][0], bytes) else items[-1][0])
            if len(items) < REPLAY_CHUNK:
                break
        return out
