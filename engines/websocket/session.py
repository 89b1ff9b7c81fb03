"""One websocket client: its protocol, subscriptions, heartbeats and send queue.

Client -> server (JSON objects, at most ``MAX_CLIENT_MESSAGE_BYTES``):
  {"action": "auth", "api_key": "..."}                  first message, when no X-API-Key header
  {"action": "subscribe", "topics": [...], "since": "<id>"}   ``since``: resume order/fill/position events
                                                        after that ``events.trading`` entry id
  {"action": "unsubscribe", "topics": [...]}
  {"action": "ping"}  -> {"type": "pong"}
  {"action": "pong"}  answers the server's {"type": "ping"}
Server -> client: data messages {"topic", "type", "ts_ns", "payload"[, "stream", "id"]} (one per frame, or a
JSON array of them when several wait), and control messages {"type": "subscribed" | "unsubscribed" |
"ping" | "pong" | "error", ...}. A bad message gets an error frame naming the field; the stream goes on.

Close codes: 4401 no or unknown key, 4403 key lacks the scope for connecting, 4008 slow consumer (the
send queue overflowed; order events are never dropped, so the client must reconnect and resume),
4002 heartbeat timeout (nothing received for ``heartbeat_timeout_s``), 1013 the bus is not configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import orjson
from prometheus_client import Counter, Gauge, Histogram
from starlette.websockets import WebSocket, WebSocketDisconnect

from backend.auth.keys import Principal
from engines.websocket.hub import EntryId, Hub, Message, parse_entry_id
from engines.websocket.send_queue import SendQueue, frame
from engines.websocket.topics import MAX_PATTERNS, Family, check_pattern, glob_regex

log = logging.getLogger(__name__)

CLIENTS = Gauge("nautilus_ws_clients", "Connected websocket clients")
SENT = Counter("nautilus_ws_frames_sent_total", "Frames sent to websocket clients")
CONFLATED = Counter("nautilus_ws_messages_conflated_total", "Quotes replaced by a newer one for a slow client")
DISCONNECTED = Counter("nautilus_ws_disconnects_total", "Clients closed by the server", ["reason"])
SEND_DELAY = Histogram("nautilus_ws_send_delay_seconds",
                       "From a message queued for a client to its frame written to the socket (the server's part "
                       "of fan-out latency; the oldest message of each frame)",
                       buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30))
CLIENT_ERRORS = Counter("nautilus_ws_client_errors_total", "Malformed or refused client messages")

MAX_CLIENT_MESSAGE_BYTES = 4096
CLOSE_SLOW_CONSUMER = 4008
CLOSE_HEARTBEAT = 4002
CLOSE_NO_BUS = 1013
SEEN_PER_CLIENT = 4096


@dataclass(frozen=True)
class SessionLimits:
    """Per-client resilience settings (units in the names)."""

    max_queue_items: int = 5000
    heartbeat_s: float = 20.0
    heartbeat_timeout_s: float = 60.0


class Session:
    def __init__(self, socket: WebSocket, hub: Hub, principal: Principal, limits: SessionLimits) -> None:
        self.socket, self.hub, self.principal, self.limits = socket, hub, principal, limits
        self.queue = SendQueue(limits.max_queue_items)
        self.patterns: dict[str, Family] = {}
        self._regex = None
        self.cursor: dict[str, EntryId] = {}
        self.held: list[Message] | None = None  # stream messages arriving while a resume replays
        self._seen: OrderedDict[str, None] = OrderedDict()
        self.last_heard = time.monotonic()
        self.stop = asyncio.Event()
        self.close_code = 1000
        self.close_reason = ""
        self._conflated_told = 0

    # ---- hub side (synchronous, on the hub's reader) -------------------------------------------
    def matches(self, topic: str) -> bool:
        return self._regex is not None and self._regex.match(topic) is not None

    def deliver(self, msg: Message) -> None:
        if self.stop.is_set():
            return
        if msg.family.per_account and msg.account is not None and not self.principal.may_use(msg.account):
            return
        if msg.stream is not None:
            if self.held is not None:
                self.held.append(msg)
                return
            if not self._fresh(msg):
                return
        before = self.queue.conflated
        if not self.queue.put(msg.text, msg.topic if msg.family.conflate else None):
            self.kick(CLOSE_SLOW_CONSUMER, f"slow consumer: more than {self.queue.max_items} messages waiting")
        CONFLATED.inc(self.queue.conflated - before)

    def _fresh(self, msg: Message) -> bool:
        """In stream order and not seen in this session (exactly once per session)."""
        assert msg.stream is not None and msg.entry_id is not None
        if msg.entry_id <= self.cursor.get(msg.stream, (0, 0)):
            return False
        self.cursor[msg.stream] = msg.entry_id
        if msg.event_id is not None:
            if msg.event_id in self._seen:
                return False
            self._seen[msg.event_id] = None
            if len(self._seen) > SEEN_PER_CLIENT:
                self._seen.popitem(last=False)
        return True

    def kick(self, code: int, reason: str) -> None:
        if not self.stop.is_set():
            self.close_code, self.close_reason = code, reason
            DISCONNECTED.labels({CLOSE_SLOW_CONSUMER: "slow_consumer", CLOSE_HEARTBEAT: "heartbeat"}
                                .get(code, str(code))).inc()
            self.stop.set()

    # ---- the connection ------------------------------------------------------------------------
    async def run(self) -> None:
        CLIENTS.inc()
        self.hub.add(self)
        tasks = [asyncio.create_task(self._receive()), asyncio.create_task(self._send()),
                 asyncio.create_task(self._heartbeat())]
        for t in tasks:
            t.add_done_callback(lambda _t: self.stop.set())
        try:
            await self.stop.wait()
        finally:
            self.hub.remove(self)
            CLIENTS.dec()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for t in tasks:
                if not t.cancelled() and t.exception() is not None and not isinstance(
                        t.exception(), WebSocketDisconnect | OSError):
                    log.error("websocket session task failed: %r", t.exception())
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.socket.close(self.close_code, self.close_reason[:120]), 2.0)

    async def _send(self) -> None:
        while True:
            texts, queued_at = await self.queue.take_timed()
            await self.socket.send_text(frame(texts))
            SENT.inc()
            SEND_DELAY.observe(time.monotonic() - queued_at)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.limits.heartbeat_s)
            if time.monotonic() - self.last_heard > self.limits.heartbeat_timeout_s:
                self.kick(CLOSE_HEARTBEAT, f"heartbeat timeout: nothing received for "
                                           f"{self.limits.heartbeat_timeout_s:g} s (answer pings with pong)")
                return
            self.control({"type": "ping", "ts_ns": time.time_ns()})

    def control(self, body: dict[str, Any]) -> None:
        """Queue a control message (never conflated; counts toward the bound like any other)."""
        if not self.queue.put(orjson.dumps(body).decode()):
            self.kick(CLOSE_SLOW_CONSUMER, f"slow consumer: more than {self.queue.max_items} messages waiting")

    def error(self, detail: str, field: str | None = None, code: str = "BAD_MESSAGE") -> None:
        CLIENT_ERRORS.inc()
        self.control({"type": "error", "code": code, **({"field": field} if field else {}), "detail": detail})

    async def _receive(self) -> None:
        while True:
            raw = await self.socket.receive()
            if raw["type"] == "websocket.disconnect":
                return
            self.last_heard = time.monotonic()
            text = raw.get("text")
            if text is None:
                self.error("messages must be JSON text frames, not binary")
                continue
            if len(text) > MAX_CLIENT_MESSAGE_BYTES:
                self.error(f"message of {len(text)} characters exceeds {MAX_CLIENT_MESSAGE_BYTES}",
                           code="MESSAGE_TOO_LARGE")
                continue
            try:
                msg = orjson.loads(text)
            except orjson.JSONDecodeError:
                self.error("messages must be JSON objects")
                continue
            await self.handle(msg)

    async def handle(self, msg: Any) -> None:
        action = msg.get("action") if isinstance(msg, dict) else None
        if action == "ping":
            self.control({"type": "pong", "ts_ns": time.time_ns()})
        elif action == "pong":
            pass
        elif action in ("subscribe", "unsubscribe"):
            await self._subscription(action, msg)
        elif action == "auth":
            self.error("already authenticated", field="action")
        else:
            self.error("action must be one of 'subscribe', 'unsubscribe', 'ping', 'pong'", field="action")

    async def _subscription(self, action: str, msg: dict[str, Any]) -> None:
        topics = msg.get("topics")
        if not isinstance(topics, list) or not 0 < len(topics) <= MAX_PATTERNS:
            self.error(f"'topics' must be a list of 1..{MAX_PATTERNS} topic patterns", field="topics")
            return
        checked: list[tuple[str, Family]] = []
        for t in topics:
            res = check_pattern(t)
            if isinstance(res, str):
                self.error(res, field="topics", code="UNKNOWN_TOPIC")
                return
            checked.append(res)
        if action == "unsubscribe":
            for p, _ in checked:
                self.patterns.pop(p, None)
            self._rebuild()
            self.control({"type": "unsubscribed", "topics": [p for p, _ in checked]})
            return
        for p, fam in checked:
            if not self.principal.allows(fam.scope):
                self.error(f"topic {p!r} ({fam.name}) needs the {str(fam.scope)!r} scope", field="topics",
                           code="FORBIDDEN")
                return
        if len(set(self.patterns) | {p for p, _ in checked}) > MAX_PATTERNS:
            self.error(f"at most {MAX_PATTERNS} patterns per connection", field="topics")
            return
        since = msg.get("since")
        streams = {fam.source for _, fam in checked if fam.source != "pubsub"}
        after: EntryId | None = None
        if since is not None:
            try:
                if not isinstance(since, str) or len(since) > 40:
                    raise ValueError
                after = parse_entry_id(since)
            except ValueError:
                self.error("'since' must be a stream entry id such as '1733000000000-0'", field="since")
                return
            if not streams:
                self.error("'since' resumes order, fill and position events: subscribe to one of their topics",
                           field="since")
                return
        for p, fam in checked:
            self.patterns[p] = fam
        self.held = [] if after is not None else self.held
        self._rebuild()
        self.control({"type": "subscribed", "topics": [p for p, _ in checked]})
        if after is not None:
            await self._resume(streams, after)

    async def _resume(self, streams: set[str], after: EntryId) -> None:
        """Replay what the client missed, then release the live messages held meanwhile, in order."""
        replayed = 0
        try:
            for stream in sorted(streams):
                self.cursor[stream] = max(self.cursor.get(stream, (0, 0)), after)
                for m in await self.hub.replay(stream, f"{after[0]}-{after[1]}"):
                    if self.matches(m.topic) and not (m.family.per_account and m.account is not None
                                                      and not self.principal.may_use(m.account)):
                        if self._fresh(m):
                            replayed += 1
                            if not self.queue.put(m.text):
                                self.kick(CLOSE_SLOW_CONSUMER, "slow consumer: the replay overflowed the queue")
                                return
        except Exception as e:  # noqa: BLE001 - Redis unavailable: say so, keep the live stream
            self.error(f"could not replay missed events: {type(e).__name__}", field="since", code="RESUME_FAILED")
        finally:
            held, self.held = self.held or [], None
            for m in held:
                self.deliver(m)
        self.control({"type": "resumed", "replayed": replayed})

    def _rebuild(self) -> None:
        self._regex = glob_regex(list(self.patterns)) if self.patterns else None
        self.hub.changed()
