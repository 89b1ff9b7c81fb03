"""The trading API end to end: real PostgreSQL and Redis, the service's lifecycle around the app."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from backend.auth import keys
from backend.bus import Bus
from backend.bus.redis_bus import instance_prefix
from backend.service.app import install_problem_handlers
from backend.trading.config import TradingConfig
from backend.trading.routes import build_router
from backend.trading.service import TradingService
from tests.support.access import ADMIN_HEADERS, ADMIN_KEY, TEST_INSTANCE, instance_settings

pytestmark = pytest.mark.timeout(90)


def uid(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}".upper()


@asynccontextmanager
async def running(db_pool, redis_url, database_url, **cfg):  # noqa: ANN001, ANN201
    bus = Bus.from_url(redis_url, prefix=instance_prefix(TEST_INSTANCE))
    await keys.create_key(db_pool, keys.BOOTSTRAP_NAME, ["admin"], key=ADMIN_KEY)
    svc = TradingService(instance_settings(database_url=database_url, redis_url=redis_url),
                         TradingConfig(relay_poll_s=0.05, algo_tick_s=0.02, **cfg))
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(build_router(svc))
    await svc.start(db_pool, bus)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver",
                                     headers=ADMIN_HEADERS) as client:
            yield svc, client, bus
    finally:
        await svc.stop()
        await bus.close()


async def setup_market(svc: TradingService, client: httpx.AsyncClient, db_pool, lot: float = 1.0,  # noqa: ANN001
                       **limits) -> tuple[str, str]:
    sym, acct = uid("SYM"), uid("ACC")
    await db_pool.execute("INSERT INTO instruments (symbol, tick_size, lot_size) VALUES ($1, 0.01, $2)", sym, lot)
    r = await client.post("/api/v1/trading/accounts", json={"id": acct, "name": "t", "starting_cash": 1_000_000,
                                                            "limits": {"duplicate_window_s": 0, **limits}})
    assert r.status_code == 201, r.text
    await svc.market.on_quote({"symbol": sym, "bid": 100.0, "ask": 100.02, "bid_size": 1000, "ask_size": 1000,
                                 "ts_ns": 1})
    return sym, acct


async def test_submit_market_order_then_filled_persisted_and_positions_reconcile(db_pool, redis_url,
                                                                                 database_url) -> None:
    async with running(db_pool, redis_url, database_url) as (svc, client, _):
        sym, acct = await setup_market(svc, client, db_pool)
        r = await client.post("/api/v1/trading/orders", json={"account_id": acct, "symbol": sym, "side": "buy",
                                                               "type": "market", "qty": 1500})
        assert r.status_code == 201, r.text
        o = r.json()
        assert o["status"] == "filled" and o["filled_qty"] == 1500
        row = await db_pool.fetchrow("SELECT status, filled_qty FROM trading_orders WHERE id = $1", o["id"])
        assert row["status"] == "filled" and row["filled_qty"] == 1500  # durable before the 201
        fills = (await client.get("/api/v1/trading/fills", params={"order_id": o["id"]})).json()["items"]
        assert sum(f["qty"] for f in fills) == 1500 and {f["liquidity"] for f in fills} == {"taker"}
        pos = (await client.get("/api/v1/trading/positions", params={"account_id": acct})).json()["items"]
        assert pos[0]["qty"] == 1500
        assert pos[0]["avg_cost"] == pytest.approx(sum(f["price"] * f["qty"] for f in fills) / 1500)
        dec = (await client.get("/api/v1/trading/router/decisions", params={"order_id": o["id"]})).json()["items"]
        assert dec[0]["quality"]["fill_rate"] == 1.0 and dec[0]["quality"]["shortfall_bps"] > 0
        assert sum(a["qty"] for a in dec[0]["allocations"]) == 1500
        acct_view = (await client.get(f"/api/v1/trading/accounts/{acct}")).json()
        assert acct_view["cash"] == pytest.approx(1_000_000 - sum(f["price"] * f["qty"] + f["fee"] for f in fills))
        rec = (await client.post("/api/v1/trading/reconciliation")).json()
        assert rec["ok"], rec["mismatches"]


async def test_same_client_order_id_twice_then_one_order_returned_twice(db_pool, redis_url, database_url) -> None:
    async with running(db_pool, redis_url, database_url) as (svc, client, _):
        sym, acct = await setup_market(svc, client, db_pool)
        body = {"account_id": acct, "symbol": sym, "side": "buy", "type": "limit", "qty": 5, "limit_price": 99.5,
                "client_order_id": "dup-1"}
        a, b = await asyncio.gather(client.post("/api/v1/trading/orders", json=body),
                                    client.post("/api/v1/trading/orders", json=body))
        assert a.json()["id"] == b.json()["id"]
        c = await client.post("/api/v1/trading/orders", json=body)
        assert c.json()["id"] == a.json()["id"]
        n = await db_pool.fetchval("SELECT count(*) FROM trading_orders WHERE account_id = $1", acct)
        assert n == 1


async def test_denied_order_then_problem_json_with_code_and_values_and_persisted(db_pool, redis_url,
                                                                               database_url) -> None:
    async with running(db_pool, redis_url, database_url) as (svc, client, _):
        sym, acct = await setup_market(svc, client, db_pool, max_order_qty=10)
        body = {"account_id": acct, "symbol": sym, "side": "buy", "type": "limit", "qty": 11, "limit_price": 99.5,
                "client_order_id": "too-big"}
        r = await client.post("/api/v1/trading/orders", json=body)
        assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
        p = r.json()
        assert p["code"] == "DENIED" and p["denial_code"] == "QUANTITY_EXCEEDS_MAXIMUM"
        assert p["values"] == {"qty": 11.0, "max_order_qty": 10.0}
        again = await client.post("/api/v1/trading/orders", json=body)  # idempotent: same refusal, same order
        assert again.status_code == 422 and again.json()["order_id"] == p["order_id"]
        row = await db_pool.fetchrow("SELECT status, denial FROM trading_orders WHERE id = $1", p["order_id"])
        assert row["status"] == "denied"


async def test_bad_input_then_422_naming_the_field(db_pool, redis_url, database_url) -> None:
    async with running(db_pool, redis_url, database_url) as (svc, client, _):
        sym, acct = await setup_market(svc, client, db_pool)
        r = await client.post("/api/v1/trading/orders", json={"account_id": acct, "symbol": sym, "side": "buy",
                                                               "type": "limit", "qty": -1, "limit_price": 1})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "qty"
        r = await client.post("/api/v1/trading/orders", json={"account_id": acct, "symbol": sym, "side": "buy",
                                                               "type": "limit", "qty": 1})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "limit_price"
        r = await client.get("/api/v1/trading/orders", params={"limit": 5000})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "limit"
        assert (await client.get("/api/v1/trading/orders/nope")).status_code == 404


async def test_trading_routes_when_missing_key_wrong_scope_or_foreign_account_then_refused(
        db_pool, redis_url, database_url) -> None:
    async with running(db_pool, redis_url, database_url) as (svc, client, _):
        sym, acct = await setup_market(svc, client, db_pool)
        _, other = await setup_market(svc, client, db_pool)
        body = {"account_id": acct, "symbol": sym, "side": "buy", "type": "limit", "qty": 1, "limit_price": 99.0}
        r = await client.post("/api/v1/trading/orders", json=body, headers={"X-API-Key": ""})
        assert r.status_code == 401
        for path in ("/api/v1/trading/venues", "/api/v1/trading/positions", f"/api/v1/trading/accounts/{acct}"):
            assert (await client.get(path, headers={"X-API-Key": ""})).status_code == 401  # no open reads
        _, reader = await keys.create_key(db_pool, "r", ["read"])
        r = await client.post("/api/v1/trading/orders", json=body, headers={"X-API-Key": reader})
        assert r.status_code == 403 and r.json()["needed_scope"] == "trade"
        trader_id, trader = await keys.create_key(db_pool, "t", ["trade", "read"], [acct])
        r = await client.post("/api/v1/trading/orders", json=body, headers={"X-API-Key": trader})
        assert r.status_code == 201
        r = await client.post("/api/v1/trading/orders", json={**body, "account_id": other},
                              headers={"X-API-Key": trader})
        assert r.status_code == 403 and r.json()["errors"][0]["field"] == "account_id"
        assert (await client.get(f"/api/v1/trading/accounts/{other}", headers={"X-API-Key": trader})).status_code == 403
        listed = (await client.get("/api/v1/trading/accounts", headers={"X-API-Key": trader})).json()["items"]
        assert [a["id"] for a in listed] == [acct]
        for path, payload in (("/api/v1/trading/kill-switch", {"active": True}),
                              (f"/api/v1/trading/accounts/{acct}/limits", None)):
            r = await (client.post(path, json=payload, headers={"X-API-Key": trader}) if payload is not None
                       else client.put(path, json={}, headers={"X-API-Key": trader}))
            assert r.status_code == 403 and r.json()["needed_scope"] == "risk-admin"
        assert (await client.post("/api/v1/trading/accounts", json={"id": "x", "name": "x", "starting_cash": 1},
                                  headers={"X-API-Key": trader})).status_code == 403
        _, risk_admin = await keys.create_key(db_pool, "ra", ["risk-admin"], [acct])
        r = await client.post("/api/v1/trading/kill-switch", json={"active": True},
                              headers={"X-API-Key": risk_admin})
        assert r.status_code == 403 and "global" in r.json()["detail"]  # account-limited: no global switch
        stored = await db_pool.fetchval("SELECT key_hash FROM api_keys WHERE id = $1", trader_id)
        assert trader not in stored and len(stored) == 64
        await keys.revoke(db_pool, trader_id)
        r = await client.post("/api/v1/trading/orders", json=body, headers={"X-API-Key": trader})
        assert r.status_code == 401


async def test_cancel_amend_and_book_top_n(db_pool, redis_url, database_url) -> None:
    async with running(db_pool, redis_url, database_url) as (svc, client, _):
        sym, acct = await setup_market(svc, client, db_pool)
        o = (await client.post("/api/v1/trading/orders", json={
            "account_id": acct, "symbol": sym, "side": "buy", "type": "limit", "qty": 7, "limit_price": 99.5,
            "venue": "CIRRUS"})).json()
        book = (await client.get(f"/api/v1/trading/venues/CIRRUS/books/{sym}", params={"depth": 20})).json()
        assert {"price": 99.5, "qty": 7.0} in book["bids"]
        assert book["bids"][0]["price"] < book["asks"][0]["price"]
        r = await client.patch(f"/api/v1/trading/orders/{o['id']}", json={"qty": 4})
        assert r.status_code == 200 and r.json()["qty"] == 4
        r = await client.post(f"/api/v1/trading/orders/{o['id']}/cancel")
        assert r.json()["status"] == "cancelled"
        r = await client.post(f"/api/v1/trading/orders/{o['id']}/cancel")
        assert r.status_code == 409
        listed = (await client.get("/api/v1/trading/orders", params={"account_id": acct,
                                                                      "status": "cancelled"})).json()
        assert [x["id"] for x in listed["items"]] == [o["id"]]


async def test_kill_switch_via_api_then_open_orders_cancelled_and_new_orders_denied(db_pool, redis_url,
                                                                                   database_url) -> None:
    async with running(db_pool, redis_url, database_url) as (svc, client, _):
        sym, acct = await setup_market(svc, client, db_pool)
        body = {"account_id": acct, "symbol": sym, "side": "buy", "type": "limit", "qty": 1, "limit_price": 99.0}
        o = (await client.post("/api/v1/trading/orders", json=body)).json()
        r = (await client.post("/api/v1/trading/kill-switch", json={"active": True, "account_id": acct,
                                                                     "reason": "test"})).json()
        assert r["orders_cancelled"] == [o["id"]]
        d = await client.post("/api/v1/trading/orders", json={**body, "client_order_id": "k2"})
        assert d.status_code == 422 and d.json()["denial_code"] == "TRADING_HALTED"
        await client.post("/api/v1/trading/kill-switch", json={"active": False, "account_id": acct})
        assert (await client.post("/api/v1/trading/orders", json={**body, "client_order_id": "k3"})).status_code == 201


async def test_market_data_stream_drives_books_and_fills_resting_orders(db_pool, redis_url, database_url) -> None:
    async with running(db_pool, redis_url, database_url) as (svc, client, bus):
        sym, acct = await setup_market(svc, client, db_pool)
        o = (await client.post("/api/v1/trading/orders", json={
            "account_id": acct, "symbol": sym, "side": "buy", "type": "limit", "qty": 3, "limit_price": 99.9})).json()
        await bus.append("md.quotes", f"data.quotes.SIM.{sym}", "quote",
                         {"symbol": sym, "bid": 99.80, "ask": 99.85, "bid_size": 500, "ask_size": 500, "ts_ns": 5})
        for _ in range(100):
            cur = (await client.get(f"/api/v1/trading/orders/{o['id']}")).json()
            if cur["status"] == "filled":
                break
            await asyncio.sleep(0.05)
        assert cur["status"] == "filled" and cur["avg_fill_price"] == pytest.approx(99.9)
        book = (await client.get(f"/api/v1/trading/venues/ATLAS/books/{sym}")).json()
        assert book["asks"][0]["price"] == 99.85
        await bus.append("md.trades", f"data.trades.SIM.{sym}", "trade",
                         {"symbol": sym, "price": 99.83, "size": 10, "ts_ns": 6, "aggressor": "buy"})
        for _ in range(100):
            if svc.engine.marks.get(sym) == 99.83:
                break
            await asyncio.sleep(0.05)
        pos = (await client.get("/api/v1/trading/positions", params={"account_id": acct})).json()["items"][0]
        assert pos["mark_price"] == 99.83 and pos["unrealised_pnl"] == pytest.approx((99.83 - 99.9) * 3)


async def test_twap_via_api_then_children_sum_to_parent_and_pause_resume_works(db_pool, redis_url,
                                                                              database_url) -> None:
    async with running(db_pool, redis_url, database_url) as (svc, client, _):
        sym, acct = await setup_market(svc, client, db_pool)
        r = await client.post("/api/v1/trading/algorithms", json={
            "kind": "twap", "account_id": acct, "symbol": sym, "side": "buy", "qty": 100, "duration_s": 0.6,
            "slices": 4})
        assert r.status_code == 201, r.text
        a = r.json()
        assert a["schedule"] == [25, 25, 25, 25]
        paused = (await client.post(f"/api/v1/trading/algorithms/{a['id']}/pause")).json()
        assert paused["status"] == "paused"
        await asyncio.sleep(0.3)
        done_while_paused = (await client.get(f"/api/v1/trading/algorithms/{a['id']}")).json()["slices_done"]
        await asyncio.sleep(0.3)
        assert (await client.get(f"/api/v1/trading/algorithms/{a['id']}")).json()["slices_done"] == done_while_paused
        await client.post(f"/api/v1/trading/algorithms/{a['id']}/resume")
        for _ in range(100):
            a = (await client.get(f"/api/v1/trading/algorithms/{a['id']}")).json()
            if a["status"] == "completed":
                break
            await asyncio.sleep(0.05)
        children = (await client.get("/api/v1/trading/orders", params={"algo_id": a["id"]})).json()["items"]
        assert a["status"] == "completed" and a["filled_qty"] == 100 and a["progress"] == 1.0, (
            a["filled_qty"], a["last_error"], [(c["client_order_id"][-2:], c["status"], c["qty"], c["filled_qty"],
                                                c["reason"]) for c in children])
        children = (await client.get("/api/v1/trading/orders", params={"algo_id": a["id"]})).json()["items"]
        assert len(children) == 4 and sum(c["filled_qty"] for c in children) == 100


async def test_vwap_via_api_then_schedule_follows_stored_volume_profile(db_pool, redis_url, database_url) -> None:
    async with running(db_pool, redis_url, database_url) as (svc, client, _):
        sym, acct = await setup_market(svc, client, db_pool)
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        rows = []
        for d in (1, 2):  # two past days: minute m has volume (m % 4 + 1) * 100
            for k in range(-5, 10):
                ts = now - timedelta(days=d) + timedelta(minutes=k)
                rows.append((sym, "1m", ts, 100.0, 100.0, 100.0, 100.0, float((ts.minute % 4 + 1) * 100)))
        await db_pool.executemany("INSERT INTO bars VALUES ($1,$2,$3,$4,$5,$6,$7,$8)", rows)
        r = await client.post("/api/v1/trading/algorithms", json={
            "kind": "vwap", "account_id": acct, "symbol": sym, "side": "buy", "qty": 1000, "duration_s": 240,
            "slices": 4})
        assert r.status_code == 201, r.text
        a = r.json()
        start = datetime.fromtimestamp(a["created_ns"] / 1e9, UTC)
        weights = [((start + timedelta(seconds=60 * i + 30)).minute % 4 + 1) for i in range(4)]
        expect = [1000 * w / sum(weights) for w in weights]
        assert a["schedule"] == pytest.approx(expect, abs=1.0)
        await client.post(f"/api/v1/trading/algorithms/{a['id']}/cancel")
        r = await client.post("/api/v1/trading/algorithms", json={
            "kind": "vwap", "account_id": acct, "symbol": uid("NOBARS"), "side": "buy", "qty": 10,
            "duration_s": 60, "slices": 2})
        assert r.status_code == 422


async def test_pov_then_child_sizes_track_market_volume(db_pool, redis_url, database_url) -> None:
    async with running(db_pool, redis_url, database_url) as (svc, client, _):
        sym, acct = await setup_market(svc, client, db_pool)
        a = (await client.post("/api/v1/trading/algorithms", json={
            "kind": "pov", "account_id": acct, "symbol": sym, "side": "buy", "qty": 50, "participation": 0.1,
            "duration_s": 30})).json()
        await svc.market.on_trade({"symbol": sym, "price": 100.01, "size": 200, "ts_ns": 1})
        for _ in range(100):
            cur = (await client.get(f"/api/v1/trading/algorithms/{a['id']}")).json()
            if cur["filled_qty"] >= 20:
                break
            await asyncio.sleep(0.05)
        assert cur["filled_qty"] == 20  # 10% of 200
        await svc.market.on_trade({"symbol": sym, "price": 100.01, "size": 1000, "ts_ns": 2})
        for _ in range(100):
            cur = (await client.get(f"/api/v1/trading/algorithms/{a['id']}")).json()
            if cur["status"] == "completed":
                break
            await asyncio.sleep(0.05)
        assert cur["status"] == "completed" and cur["filled_qty"] == 50  # capped at the parent
