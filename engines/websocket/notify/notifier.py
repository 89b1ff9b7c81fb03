"""The notifier: bus events -> rules -> de-duplicated, aggregated notifications -> channels, escalated when
left unacknowledged. Runs in the websocket engine's process (engines/websocket/routes.py).

* Durable events (order, fill, position, kill switch on ``events.trading``; limit breaches on
  ``events.risk``; job ends on ``events.jobs``) are read through the consumer group ``notifier``, so a
  restarted engine resumes where it stopped; an entry is acknowledged once handled.
* Live events (engine health) come from the process's hub (one subscription, ``health.engine.*``).
* De-duplication: an event (its ``event_id``, else its stream entry) makes at most one notification per
  rule, recorded in ``notification_events_seen`` in the same transaction (the outbox may re-send).
* Aggregation: within a rule's ``window_s``, events with the same ``group_by`` values add to the count of
  the open (unacknowledged) notification instead of making a new one and sending again.
* Escalation: a notification still unacknowledged ``escalate_after_s`` after it was made is sent once to
  the rule's ``escalate_to`` channels.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import Any

import aiohttp
import orjson
from prometheus_client import Counter

from backend.bus import Bus
from backend.bus.envelope import Envelope
from engines.websocket.hub import Hub, Message
from engines.websocket.notify.channels import deliver_webhook, deliver_websocket
from engines.websocket.notify.events import KINDS, PUBSUB, STREAMS, EventKind, kinds_for
from engines.websocket.notify.rules import LoadedRule, RuleBook

log = logging.getLogger(__name__)

GROUP = "notifier"
EVENTS = Counter("nautilus_notification_events_total", "Events the notifier handled", ["outcome"])
ESCALATION_POLL_S = 0.5


class Notifier:
    def __init__(self, db: Any, bus: Bus, settings: Any, hub: Hub | None = None) -> None:
        self.db, self.bus, self.settings, self.hub = db, bus, settings, hub
        self.rules = RuleBook(db)
        self.consumer = f"{socket.gethostname()}-{id(self):x}"
        self.max_attempts = settings.webhook_max_attempts
        self._tasks: list[asyncio.Task] = []
        self._deliveries: set[asyncio.Task] = set()
        self.http: aiohttp.ClientSession | None = None
        self._live_prefixes = tuple(k.topic_prefix for k in KINDS.values() if k.source == PUBSUB)

    # ---- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        self.http = aiohttp.ClientSession()
        for stream in STREAMS:
            await self.bus.ensure_group(stream, GROUP, start_id="$")
        self._tasks = [asyncio.create_task(self._consume(s), name=f"notifier-{s}") for s in STREAMS]
        self._tasks.append(asyncio.create_task(self._escalations(), name="notifier-escalations"))
        if self.hub is not None:
            self.hub.add(self)

    async def stop(self) -> None:
        if self.hub is not None:
            self.hub.remove(self)
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._deliveries:  # let webhook retries in flight finish briefly; the rest are cut
            await asyncio.wait(self._deliveries, timeout=2.0)
            for t in self._deliveries:
                t.cancel()
        if self.http is not None:
            await self.http.close()

    # ---- live events (the hub calls these synchronously) ---------------------------------------
    def matches(self, topic: str) -> bool:
        return topic.startswith(self._live_prefixes)

    def deliver(self, msg: Message) -> None:
        try:
            body = orjson.loads(msg.text)
            env = Envelope(body["topic"], body["type"], body["payload"], body["ts_ns"])
        except (orjson.JSONDecodeError, KeyError, TypeError):  # never break the hub's fan-out loop
            EVENTS.labels("malformed").inc()
            return
        self._spawn(self.handle(PUBSUB, env, None))

    def _spawn(self, coro: Any) -> None:
        t = asyncio.create_task(coro)
        self._deliveries.add(t)
        t.add_done_callback(self._done)

    def _done(self, t: asyncio.Task) -> None:
        self._deliveries.discard(t)
        if not t.cancelled() and t.exception() is not None:  # e.g. PostgreSQL down for a live event
            EVENTS.labels("failed").inc()
            log.warning("notifier task failed: %r", t.exception())

    # ---- durable events ------------------------------------------------------------------------
    async def _consume(self, stream: str) -> None:
        backoff = 0.05
        while True:
            try:
                entries = await self.bus.read_group(stream, GROUP, self.consumer, count=200, block_ms=1000)
                for e in entries:
                    key = e.envelope.payload.get("event_id") if isinstance(e.envelope.payload, dict) else None
                    await self.handle(stream, e.envelope, key or f"{stream}:{e.id}")
                    await self.bus.ack(stream, GROUP, e.id)
                backoff = 0.05
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - Redis or PostgreSQL gone: entries stay pending, retried
                log.warning("notifier on %s: %s: %s", stream, type(e).__name__, e)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)

    async def handle(self, source: str, env: Envelope, event_key: str | None) -> int:
        """Notifications made (new ones, not aggregated) for one event."""
        payload = env.payload if isinstance(env.payload, dict) else {}
        made = 0
        rules = await self.rules.current()
        for kind in kinds_for(source, env.type):
            if kind.when is not None and not kind.when(payload):
                continue
            for rule in rules.get(kind.name, ()):
                if rule.matches(payload):
                    made += await self.notify(rule, kind, env, payload, event_key)
        return made

    async def notify(self, rule: LoadedRule, kind: EventKind, env: Envelope, payload: dict[str, Any],
                     event_key: str | None) -> int:
        dedup = rule.dedup_key(payload)
        async with self.db.acquire() as conn, conn.transaction():
            if event_key is not None:
                fresh = await conn.fetchval(
                    "INSERT INTO notification_events_seen (rule_id, event_key) VALUES ($1, $2) "
                    "ON CONFLICT DO NOTHING RETURNING 1", rule.id, event_key)
                if not fresh:
                    EVENTS.labels("duplicate").inc()
                    return 0
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", dedup)
            if rule.window_s > 0:
                open_id = await conn.fetchval(
                    "SELECT id FROM notifications WHERE rule_id = $1 AND dedup_key = $2 AND acked_at IS NULL "
                    "AND first_ts > now() - make_interval(secs => $3) ORDER BY id DESC LIMIT 1",
                    rule.id, dedup, rule.window_s)
                if open_id is not None:
                    await conn.execute("UPDATE notifications SET count = count + 1, last_ts = now(), event = $2 "
                                       "WHERE id = $1", open_id, orjson.dumps(payload, default=str).decode())
                    EVENTS.labels("aggregated").inc()
                    return 0
            row = await conn.fetchrow(
                "INSERT INTO notifications (rule_id, rule_name, dedup_key, event_kind, priority, title, event, "
                "first_ts, last_ts, event_ts_ns) VALUES ($1,$2,$3,$4,$5,$6,$7,now(),now(),$8) "
                "RETURNING id, first_ts",
                rule.id, rule.name, dedup, kind.name, rule.priority, kind.title(payload)[:300],
                orjson.dumps(payload, default=str).decode(), env.ts_ns)
        EVENTS.labels("notified").inc()
        view = {"id": row["id"], "rule_id": rule.id, "rule_name": rule.name, "event_kind": kind.name,
                "priority": rule.priority, "title": kind.title(payload)[:300], "count": 1,
                "first_ts": row["first_ts"].isoformat(), "topic": env.topic, "event": payload}
        self._spawn(self.send(rule.channels, view, False, env.ts_ns))
        return 1

    async def send(self, channels: tuple[dict[str, Any], ...], view: dict[str, Any], escalation: bool,
                   event_ts_ns: int) -> None:
        jobs = []
        for ch in channels:
            if ch["type"] == "websocket":
                jobs.append(deliver_websocket(self.db, self.bus, view, escalation, event_ts_ns))
            elif ch["type"] == "webhook" and self.http is not None:
                jobs.append(deliver_webhook(self.db, self.http, ch, view, escalation, event_ts_ns, self.max_attempts))
        results = await asyncio.gather(*jobs, return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                log.error("notification %s delivery failed: %r", view["id"], r)

    # ---- escalation ----------------------------------------------------------------------------
    async def _escalations(self) -> None:
        while True:
            await asyncio.sleep(ESCALATION_POLL_S)
            with contextlib.suppress(Exception):
                await self.escalate_due()

    async def escalate_due(self) -> int:
        async with self.db.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "UPDATE notifications n SET escalated_at = now() FROM notification_rules r "
                "WHERE r.id = n.rule_id AND n.acked_at IS NULL AND n.escalated_at IS NULL "
                "AND r.escalate_after_s IS NOT NULL AND n.first_ts + make_interval(secs => r.escalate_after_s) < now() "
                "RETURNING n.id, n.rule_id, n.rule_name, n.event_kind, n.priority, n.title, n.count, n.first_ts, "
                "n.event, n.event_ts_ns, r.escalate_channels")
        for r in rows:
            view = {"id": r["id"], "rule_id": r["rule_id"], "rule_name": r["rule_name"], "event_kind": r["event_kind"],
                    "priority": r["priority"], "title": r["title"], "count": r["count"],
                    "first_ts": r["first_ts"].isoformat(), "event": orjson.loads(r["event"])}
            self._spawn(self.send(tuple(orjson.loads(r["escalate_channels"])), view, True, r["event_ts_ns"]))
        return len(rows)
