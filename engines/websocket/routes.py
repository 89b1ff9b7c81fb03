"""The websocket engine's live endpoint: ``GET /ws`` (WebSocket).

A client authenticates with an API key holding the ``read`` scope, in the ``X-API-Key`` header
or as its first message ``{"action": "auth", "api_key": "..."}`` (browsers cannot set headers on
a websocket); without one the socket closes with code 4401 (4403: the key lacks the scope).
Then it sends ``{"action": "subscribe", "topics": ["data.quotes.*", "events.order.*"]}``
(glob patterns over bus topics; ``unsubscribe`` takes the same shape) and receives every
envelope published on the bus's pub/sub channels that match, as JSON
``{"topic", "type", "ts_ns", "payload"}``. Each client has a bounded queue: a slow
client loses the oldest messages (counted, and told in a ``{"type": "dropped"}`` notice)
rather than stalling the publisher or other clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from prometheus_client import Counter, Gauge

from backend.auth.websocket import authenticate
from backend.bus.envelope import decode

log = logging.getLogger(__name__)

CLIENT_QUEUE_MAX = 1000
MAX_PATTERNS = 64
CLIENTS = Gauge("nautilus_ws_clients", "Connected websocket clients")
SENT = Counter("nautilus_ws_messages_sent_total", "Messages pushed to websocket clients")
DROPPED = Counter("nautilus_ws_messages_dropped_total", "Messages dropped for slow websocket clients")


def _valid_patterns(msg: Any) -> list[str] | str:
    topics = msg.get("topics") if isinstance(msg, dict) else None
    if not isinstance(topics, list) or not topics or len(topics) > MAX_PATTERNS:
        return f"'topics' must be a list of 1..{MAX_PATTERNS} topic patterns"
    if not all(isinstance(t, str) and 0 < len(t) <= 200 for t in topics):
        return "each topic pattern must be a string of 1..200 characters"
    return topics


def extend(app: FastAPI) -> None:
    @app.websocket("/ws")
    async def ws(socket: WebSocket) -> None:
        await socket.accept()
        if await authenticate(socket, socket.app.state.auth) is None:
            return
        bus = getattr(socket.app.state, "bus", None)
        if bus is None:
            await socket.send_json({"type": "error", "detail": "message bus not configured"})
            await socket.close(code=1011)
            return
        CLIENTS.inc()
        pubsub = bus.redis.pubsub()
        queue: asyncio.Queue[dict] = asyncio.Queue(CLIENT_QUEUE_MAX)
        dropped = 0
        subscribed = asyncio.Event()  # the pubsub has no connection before its first subscription

        async def pump() -> None:
            nonlocal dropped
            await subscribed.wait()
            while True:
                msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if msg is None or msg.get("type") != "pmessage":
                    continue
                env = decode(msg["data"])
                item = {"topic": env.topic, "type": env.type, "ts_ns": env.ts_ns, "payload": env.payload}
                if queue.full():
                    queue.get_nowait()
                    dropped += 1
                    DROPPED.inc()
                queue.put_nowait(item)

        async def send() -> None:
            nonlocal dropped
            while True:
                item = await queue.get()
                if dropped:
                    await socket.send_json({"type": "dropped", "count": dropped})
                    dropped = 0
                await socket.send_text(json.dumps(item, default=str))
                SENT.inc()

        tasks = [asyncio.create_task(pump()), asyncio.create_task(send())]
        for t in tasks:
            t.add_done_callback(lambda t: t.cancelled() or t.exception() is None
                                or log.error("websocket %s failed: %r", t.get_coro().__name__, t.exception()))
        try:
            while True:
                try:
                    msg = json.loads(await socket.receive_text())
                except json.JSONDecodeError:
                    await socket.send_json({"type": "error", "detail": "messages must be JSON objects"})
                    continue
                action = msg.get("action") if isinstance(msg, dict) else None
                patterns = _valid_patterns(msg)
                if action not in ("subscribe", "unsubscribe"):
                    await socket.send_json({"type": "error", "field": "action",
                                            "detail": "action must be 'subscribe' or 'unsubscribe'"})
                elif isinstance(patterns, str):
                    await socket.send_json({"type": "error", "field": "topics", "detail": patterns})
                elif action == "subscribe":
                    await pubsub.psubscribe(*(bus.key(p) for p in patterns))
                    subscribed.set()
                    await socket.send_json({"type": "subscribed", "topics": patterns})
                elif subscribed.is_set():
                    await pubsub.punsubscribe(*(bus.key(p) for p in patterns))
                    await socket.send_json({"type": "unsubscribed", "topics": patterns})
                else:
                    await socket.send_json({"type": "unsubscribed", "topics": patterns})
        except WebSocketDisconnect:
            pass
        finally:
            CLIENTS.dec()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await pubsub.aclose()
