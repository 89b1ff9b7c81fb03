"""The notification engine end to end on real Redis and PostgreSQL: a rule defined through the operations, an
event from the trading core's outbox (a REST order) or the risk stream, a signed webhook delivered to a local
HTTP receiver, de-duplication of re-sent events, aggregation, escalation, acknowledgement, a webhook target
that is down (retries, then the dead-letter list) and invalid rules refused with problem JSON."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import uuid

import httpx
import pytest
from aiohttp import web

from backend.bus.streams import EVENTS_RISK, EVENTS_TRADING
from tests.integration.test_trading_api import running, setup_market
from tests.support.access import ADMIN_HEADERS
from tests.support.procs import free_port
from tests.support.realtime import serve_websocket_engine

pytestmark = pytest.mark.timeout(120)
SECRET = "s3cret-for-the-webhook-hmac"


class Receiver:
    """A local HTTP server recording webhook posts (``fail_first`` answers 503 that many times)."""

    def __init__(self, fail_first: int = 0) -> None:
        self.posts: list[dict] = []
        self.signatures_ok: list[bool] = []
        self.fail_first = fail_first
        self.arrived = asyncio.Event()
        self.port = free_port()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.fail_first > 0:
            self.fail_first -= 1
            return web.Response(status=503)
        want = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        self.signatures_ok.append(hmac.compare_digest(request.headers.get("X-Nautilus-Signature", ""), want))
        self.posts.append(await request.json())
        self.arrived.set()
        return web.Response(status=204)

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def wait_for(self, n: int, timeout_s: float = 30.0) -> list[dict]:
        async with asyncio.timeout(timeout_s):
            while len(self.posts) < n:
                self.arrived.clear()
                await self.arrived.wait()
        return self.posts


async def call(http: httpx.AsyncClient, op: str, body: dict) -> httpx.Response:
    return await http.post(f"/api/v1/websocket/{op}", json=body)


async def until(fn, timeout_s: float = 30.0):  # noqa: ANN001, ANN201
    """Poll ``fn`` (async, returns a value or None) until it returns a value."""
    async with asyncio.timeout(timeout_s):
        while (v := await fn()) is None:
            await asyncio.sleep(0.05)
    return v


def engine_http(app) -> httpx.AsyncClient:  # noqa: ANN001
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver",
                             headers=ADMIN_HEADERS)


async def test_rule_when_rest_order_fills_then_signed_webhook_once_even_if_outbox_resends(
        db_pool, redis_url, database_url, bus, admin_key) -> None:
    async with running(db_pool, redis_url, database_url) as (svc, client, _), Receiver() as rx, \
            serve_websocket_engine(redis_url=redis_url, database_url=database_url) as (_, app), \
            engine_http(app) as http:
        sym, acct = await setup_market(svc, client, db_pool)
        r = await call(http, "create_notification_rule", {
            "name": "big fills", "event": "order_filled", "priority": "high", "window_s": 0,  # each fill its own
            "conditions": [{"field": "account_id", "op": "eq", "value": acct},
                           {"field": "filled_qty", "op": "gte", "value": 5}],
            "channels": [{"type": "webhook", "url": rx.url, "secret": SECRET}, {"type": "websocket"}]})
        assert r.status_code == 200, r.text
        rule = r.json()
        assert rule["channels"][0]["secret"] == "***"
        small = await client.post("/api/v1/trading/orders", json={"account_id": acct, "symbol": sym, "side": "buy",
                                                                   "type": "market", "qty": 2})
        big = await client.post("/api/v1/trading/orders", json={"account_id": acct, "symbol": sym, "side": "buy",
                                                                 "type": "market", "qty": 7})
        posts = await rx.wait_for(1)
        assert posts[0]["event"]["id"] == big.json()["id"] and small.json()["status"] == "filled"
        assert posts[0]["event_kind"] == "order_filled" and posts[0]["priority"] == "high"
        assert rx.signatures_ok == [True]
        # the outbox re-sends the same event (same event_id): no second notification
        row = await bus.redis.xrevrange(bus.key(EVENTS_TRADING), count=50)
        resent = next(f[b"e"] for _, f in row if b"order.filled" in f[b"e"] and big.json()["id"].encode() in f[b"e"])
        await bus.redis.xadd(bus.key(EVENTS_TRADING), {b"e": resent})
        third = await client.post("/api/v1/trading/orders", json={"account_id": acct, "symbol": sym, "side": "sell",
                                                                   "type": "market", "qty": 6})
        posts = await rx.wait_for(2)
        assert [p["event"]["id"] for p in posts] == [big.json()["id"], third.json()["id"]]
        notes = (await call(http, "list_notifications", {"rule_id": rule["id"]})).json()["items"]
        assert [n["count"] for n in notes] == [1, 1]
        n1 = notes[-1]
        deliveries = (await call(http, "list_notification_deliveries", {"notification_id": n1["id"]})).json()["items"]
        assert sorted((d["channel"], d["status"]) for d in deliveries) == [("webhook", "delivered"),
                                                                           ("websocket", "delivered")]
        assert all(d["latency_ms"] is not None and d["latency_ms"] >= 0 for d in deliveries)
        acked = (await call(http, "acknowledge_notification", {"id": n1["id"], "by": "ops"})).json()
        assert acked["acknowledged_at"] is not None and acked["acknowledged_by"] == "ops"


async def test_rule_when_ten_identical_breaches_then_one_notification_with_count_and_escalation_unless_acked(
        db_pool, redis_url, database_url, bus, admin_key) -> None:
    async with Receiver() as rx, Receiver() as pager, \
            serve_websocket_engine(redis_url=redis_url, database_url=database_url) as (_, app), \
            engine_http(app) as http:
        set_id = uuid.uuid4().hex[:8]
        r = await call(http, "create_notification_rule", {
            "name": "breaches", "event": "limit_breach", "priority": "critical", "group_by": ["limit_id"],
            "conditions": [{"field": "set_id", "op": "eq", "value": set_id}], "window_s": 600,
            "channels": [{"type": "webhook", "url": rx.url, "secret": SECRET}],
            "escalate_after_s": 0.5, "escalate_to": [{"type": "webhook", "url": pager.url, "secret": SECRET}]})
        assert r.status_code == 200, r.text
        rule_id = r.json()["id"]
        for i in range(10):  # as engines/risk/limit_store.py writes them
            await bus.append(EVENTS_RISK, f"events.risk.limits.{set_id}", "limit_breach",
                             {"breach_id": i, "set_id": set_id, "set_name": "desk", "limit_id": "gross",
                              "value": 11.0 + i, "threshold": 10.0})

        async def counted():  # noqa: ANN202
            items = (await call(http, "list_notifications", {"rule_id": rule_id})).json()["items"]
            return items if items and items[0]["count"] == 10 else None

        items = await until(counted)
        assert len(items) == 1
        await rx.wait_for(1)
        escalated = await pager.wait_for(1)
        assert escalated[0]["escalation"] is True and escalated[0]["id"] == items[0]["id"]
        assert len(rx.posts) == 1 and rx.signatures_ok == [True]
        # acknowledged: the next breach is a new notification, and it is not escalated once acked
        await call(http, "acknowledge_notification", {"id": items[0]["id"]})
        await bus.append(EVENTS_RISK, f"events.risk.limits.{set_id}", "limit_breach",
                         {"breach_id": 99, "set_id": set_id, "set_name": "desk", "limit_id": "gross", "value": 12.0,
                          "threshold": 10.0})
        second = (await rx.wait_for(2))[1]
        assert second["id"] != items[0]["id"] and second["count"] == 1


async def test_webhook_when_target_down_then_retried_then_dead_letter_and_others_still_delivered(
        db_pool, redis_url, database_url, bus, admin_key) -> None:
    async with Receiver(fail_first=1) as flaky, Receiver() as ok, \
            serve_websocket_engine(redis_url=redis_url, database_url=database_url,
                                   webhook_max_attempts=3) as (_, app), engine_http(app) as http:
        set_id = uuid.uuid4().hex[:8]
        dead_url = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
        for url in (dead_url, flaky.url, ok.url):
            r = await call(http, "create_notification_rule", {
                "name": "down", "event": "limit_breach", "conditions": [{"field": "set_id", "op": "eq",
                                                                         "value": set_id}],
                "channels": [{"type": "webhook", "url": url, "secret": SECRET}]})
            assert r.status_code == 200, r.text
        await bus.append(EVENTS_RISK, f"events.risk.limits.{set_id}", "limit_breach",
                         {"breach_id": 1, "set_id": set_id, "limit_id": "x", "value": 2.0, "threshold": 1.0})
        await ok.wait_for(1)
        await flaky.wait_for(1)  # the first attempt got 503, the retry went through

        async def dead():  # noqa: ANN202
            items = (await call(http, "list_notification_deliveries", {"status": "dead"})).json()["items"]
            mine = [d for d in items if d["target"] == dead_url]
            return mine or None

        dead_letters = await until(dead)
        assert dead_letters[0]["attempt"] == 3 and "ClientConnectorError" in dead_letters[0]["error"]
        tried = (await call(http, "list_notification_deliveries",
                            {"notification_id": dead_letters[0]["notification_id"]})).json()["items"]
        assert sorted(d["status"] for d in tried) == ["dead", "failed", "failed"]
        flaky_rows = [d for d in (await call(http, "list_notification_deliveries", {})).json()["items"]
                      if d["target"] == flaky.url]
        assert sorted((d["attempt"], d["status"], d["http_status"]) for d in flaky_rows) == [
            (1, "failed", 503), (2, "delivered", 204)]


async def test_rule_when_invalid_then_422_problem_naming_the_field(db_pool, redis_url, database_url,
                                                                   admin_key) -> None:
    async with serve_websocket_engine(redis_url=redis_url, database_url=database_url) as (_, app), \
            engine_http(app) as http:
        base = {"name": "x", "event": "order_filled", "channels": [{"type": "websocket"}]}
        cases = [({**base, "event": "moon_landing"}, "event"),
                 ({**base, "conditions": [{"field": "colour", "op": "eq", "value": "red"}]}, "conditions.0.field"),
                 ({**base, "conditions": [{"field": "qty", "op": "gt", "value": "big"}]}, "conditions.0.value"),
                 ({**base, "conditions": [{"field": "qty", "op": "between", "value": 1}]}, "conditions.0.op"),
                 ({**base, "channels": [{"type": "carrier-pigeon"}]}, "channels.0"),
                 ({**base, "channels": [{"type": "webhook", "url": "ftp://x/y"}]}, "channels.0.webhook.url"),
                 ({**base, "escalate_after_s": 5}, "escalate_to"),
                 ({**base, "group_by": ["nope"]}, "group_by.0")]
        for body, field in cases:
            r = await call(http, "create_notification_rule", body)
            assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), body
            p = r.json()
            fields = [e["field"] for e in p.get("errors", [])] or [p.get("field")]
            assert any(f == field or f.startswith(field) for f in fields), (field, p)
        r = await http.post("/api/v1/websocket/create_notification_rule", json=base,
                            headers={"X-API-Key": "ntk_unknown"})
        assert r.status_code == 401
