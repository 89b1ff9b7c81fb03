"""The notification operations (declared in engines/websocket/ops.py): rules, notifications, acknowledgement
and the delivery log (the dead-letter list is its ``status = 'dead'`` rows)."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from backend.contract.operation import OpContext
from backend.core.errors import InvalidInput, NotFound
from engines.websocket.notify import models as m
from engines.websocket.notify.events import KINDS
from engines.websocket.notify.rules import rules_changed

_RULE_COLS = ("id, name, event_kind, conditions, priority, channels, group_by, window_s, escalate_after_s, "
              "escalate_channels, enabled, created_at")
_NOTE_COLS = ("n.id, n.rule_id, n.rule_name, n.event_kind, n.priority, n.title, n.count, n.first_ts, n.last_ts, "
              "n.event, n.acked_at, n.acked_by, n.escalated_at")


def _masked(channels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**c, "secret": "***"} if c.get("secret") else c for c in channels]


def rule_view(r: Any) -> m.Rule:
    return m.Rule(id=r["id"], name=r["name"], event=r["event_kind"], conditions=orjson.loads(r["conditions"]),
                  priority=r["priority"], channels=_masked(orjson.loads(r["channels"])), group_by=list(r["group_by"]),
                  window_s=r["window_s"], escalate_after_s=r["escalate_after_s"],
                  escalate_to=_masked(orjson.loads(r["escalate_channels"])), enabled=r["enabled"],
                  created_at=r["created_at"])


def _check(req: m.CreateRuleRequest) -> None:
    kind = KINDS[req.event]
    for i, c in enumerate(req.conditions):
        if c.field not in kind.fields:
            raise InvalidInput(f"event {req.event!r} has no field {c.field!r}; fields: {sorted(kind.fields)}",
                               field=f"conditions.{i}.field")
        if (c.op == "in") != isinstance(c.value, list) or (isinstance(c.value, list) and len(c.value) > 100):
            raise InvalidInput("op 'in' takes a list of at most 100 values; every other op a single value",
                               field=f"conditions.{i}.value")
        if c.op in ("gt", "gte", "lt", "lte") and (isinstance(c.value, bool) or not isinstance(c.value, float | int)):
            raise InvalidInput(f"op {c.op!r} compares numbers", field=f"conditions.{i}.value")
    for i, f in enumerate(req.group_by):
        if f not in kind.fields:
            raise InvalidInput(f"event {req.event!r} has no field {f!r}", field=f"group_by.{i}")
    if req.escalate_after_s is not None and not req.escalate_to:
        raise InvalidInput("escalate_after_s needs escalate_to channels", field="escalate_to")


async def create_notification_rule(req: m.CreateRuleRequest, ctx: OpContext) -> m.Rule:
    _check(req)
    db = ctx.require_db()
    dump = req.model_dump(mode="json")
    r = await db.fetchrow(
        f"INSERT INTO notification_rules ({_RULE_COLS.replace(', created_at', '')}) "
        f"VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) RETURNING {_RULE_COLS}",
        uuid.uuid4().hex[:16], req.name, req.event, orjson.dumps(dump["conditions"]).decode(), req.priority,
        orjson.dumps(dump["channels"]).decode(), req.group_by, req.window_s, req.escalate_after_s,
        orjson.dumps(dump["escalate_to"]).decode(), req.enabled)
    rules_changed()
    return rule_view(r)


async def list_notification_rules(req: m.ListRulesRequest, ctx: OpContext) -> m.RuleList:
    rows = await ctx.require_db().fetch(f"SELECT {_RULE_COLS} FROM notification_rules ORDER BY created_at, id")
    return m.RuleList(items=[rule_view(r) for r in rows])


async def delete_notification_rule(req: m.RuleRef, ctx: OpContext) -> m.Deleted:
    done = await ctx.require_db().execute("DELETE FROM notification_rules WHERE id = $1", req.id)
    if done.endswith(" 0"):
        raise NotFound(f"no notification rule {req.id!r}", field="id")
    rules_changed()
    return m.Deleted(id=req.id, deleted=True)


async def _notification(db: Any, nid: int) -> m.Notification:
    r = await db.fetchrow(f"SELECT {_NOTE_COLS} FROM notifications n WHERE n.id = $1", nid)
    if r is None:
        raise NotFound(f"no notification {nid}", field="id")
    return (await _with_deliveries(db, [r]))[0]


async def _with_deliveries(db: Any, rows: list[Any]) -> list[m.Notification]:
    ids = [r["id"] for r in rows]
    counts: dict[int, dict[str, int]] = {i: {} for i in ids}
    for c in await db.fetch("SELECT notification_id, status, count(*) AS n FROM notification_deliveries "
                            "WHERE notification_id = ANY($1::bigint[]) GROUP BY 1, 2", ids):
        counts[c["notification_id"]][c["status"]] = c["n"]
    return [m.Notification(id=r["id"], rule_id=r["rule_id"], rule_name=r["rule_name"], event_kind=r["event_kind"],
                           priority=r["priority"], title=r["title"], count=r["count"], first_ts=r["first_ts"],
                           last_ts=r["last_ts"], event=orjson.loads(r["event"]), acknowledged_at=r["acked_at"],
                           acknowledged_by=r["acked_by"], escalated_at=r["escalated_at"], deliveries=counts[r["id"]])
            for r in rows]


async def list_notifications(req: m.ListNotificationsRequest, ctx: OpContext) -> m.NotificationList:
    db = ctx.require_db()
    where, args = ["true"], []
    if req.rule_id is not None:
        args.append(req.rule_id)
        where.append(f"n.rule_id = ${len(args)}")
    if req.unacknowledged_only:
        where.append("n.acked_at IS NULL")
    rows = await db.fetch(f"SELECT {_NOTE_COLS} FROM notifications n WHERE {' AND '.join(where)} "
                          f"ORDER BY n.id DESC LIMIT {int(req.limit)}", *args)
    return m.NotificationList(items=await _with_deliveries(db, rows))


async def acknowledge_notification(req: m.AcknowledgeRequest, ctx: OpContext) -> m.Notification:
    """Stops escalation and closes the aggregation window (the next identical event is a new notification)."""
    db = ctx.require_db()
    await db.execute("UPDATE notifications SET acked_at = now(), acked_by = $2 WHERE id = $1 AND acked_at IS NULL",
                     req.id, req.by)
    return await _notification(db, req.id)


async def list_notification_deliveries(req: m.ListDeliveriesRequest, ctx: OpContext) -> m.DeliveryList:
    where, args = ["true"], []
    if req.notification_id is not None:
        args.append(req.notification_id)
        where.append(f"notification_id = ${len(args)}")
    if req.status is not None:
        args.append(req.status)
        where.append(f"status = ${len(args)}")
    rows = await ctx.require_db().fetch(
        "SELECT id, notification_id, channel, target, escalation, attempt, status, http_status, error, latency_ms, "
        f"created_at FROM notification_deliveries WHERE {' AND '.join(where)} ORDER BY id DESC "
        f"LIMIT {int(req.limit)}", *args)
    return m.DeliveryList(items=[m.Delivery(**dict(r)) for r in rows])
