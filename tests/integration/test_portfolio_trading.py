"""Rebalancing an account through a real gateway's trading core: dry run by default, submission with
idempotent client order ids, the plan from stored positions afterwards, and the analytics engine's
P&L from the stored fills equal to the trading core's own position ledger."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import uuid

import asyncpg
import httpx
import pytest
from fastapi.testclient import TestClient

from backend.bus import Bus
from backend.bus.redis_bus import instance_prefix
from backend.contract.operation import load_engine
from backend.service.app import make_engine_app
from tests.support.access import ADMIN_HEADERS, INTERNAL_HEADERS, TEST_INSTANCE, instance_settings
from tests.support.procs import Proc, base_env, free_port

pytestmark = pytest.mark.timeout(120)
QUOTES = {"RBA": (99.99, 100.01), "RBB": (49.99, 50.01)}


async def _publish(redis_url: str) -> None:
    bus = Bus.from_url(redis_url, prefix=instance_prefix(TEST_INSTANCE))
    try:
        for sym, (bid, ask) in QUOTES.items():
            await bus.append("md.quotes", f"data.quotes.SIM.{sym}", "quote",
                             {"symbol": sym, "bid": bid, "ask": ask, "bid_size": 50_000, "ask_size": 50_000,
                              "ts_ns": time.time_ns()})
    finally:
        await bus.close()


async def _seed(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.executemany("INSERT INTO instruments (symbol, tick_size, lot_size) VALUES ($1, 0.01, 1) "
                               "ON CONFLICT (symbol) DO NOTHING", [(s,) for s in QUOTES])
        day = dt.datetime.combine(dt.date.today() - dt.timedelta(days=1), dt.time(), dt.UTC)
        await conn.executemany("INSERT INTO bars VALUES ($1,'1d',$2,$3,$3,$3,$3,1e6) ON CONFLICT DO NOTHING",
                               [(s, day, (b + a) / 2) for s, (b, a) in QUOTES.items()])
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, database_url, redis_url, admin_key):  # noqa: ANN001, ANN201
    tmp = tmp_path_factory.mktemp("rebalance")
    port = free_port()
    asyncio.run(_seed(database_url))
    env = base_env(tmp, DATABASE_URL=database_url, REDIS_URL=redis_url, NAUTILUS_PORT_GATEWAY=str(port))
    gw = Proc("gateway", "backend.gateway", env, port, tmp / "gw.log").start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the feed's consumer group exists once the trading core reads
        asyncio.run(_publish(redis_url))
        venues = httpx.get(f"{url}/api/v1/trading/venues", headers=ADMIN_HEADERS).json()["items"]
        if all(any(s in v["instruments"] for v in venues) for s in QUOTES):
            break
        time.sleep(0.2)
    else:
        pytest.fail("the trading core never saw the quotes")
    yield url
    gw.stop()


@pytest.fixture()
def engines(gateway, database_url, redis_url, monkeypatch):  # noqa: ANN001, ANN201
    monkeypatch.setenv("NAUTILUS_PORTFOLIO_TRADING_URL", gateway)
    settings = instance_settings(database_url=database_url, redis_url=redis_url)
    with TestClient(make_engine_app(load_engine("portfolio"), settings), headers=INTERNAL_HEADERS) as p, \
            TestClient(make_engine_app(load_engine("analytics"), settings), headers=INTERNAL_HEADERS) as a:
        yield p, a


def post(c: TestClient, route: str, body: dict):  # noqa: ANN201
    return c.post(route, content=json.dumps(body), headers={"content-type": "application/json"})


def test_rebalance_when_executed_then_dry_run_first_idempotent_submission_and_pnl_equals_ledger(
        gateway, engines, database_url):
    portfolio, analytics = engines
    acct = f"RB{uuid.uuid4().hex[:8]}".upper()
    r = httpx.post(f"{gateway}/api/v1/trading/accounts", headers=ADMIN_HEADERS,
                   json={"id": acct, "name": "rebalance", "starting_cash": 1_000_000})
    assert r.status_code == 201, r.text
    body = {"account": {"account_id": acct}, "target_weights": {"RBA": 0.5, "RBB": 0.3}, "budget": 0.8,
            "costs": {"commission_bps": 1, "half_spread_bps": 1}, "tag": "t1"}

    dry = post(portfolio, "/api/v1/portfolio/execute_rebalance", body)
    assert dry.status_code == 200, dry.text
    plan = dry.json()["plan"]
    assert dry.json()["dry_run"] and dry.json()["submitted"] == []
    assert {(o["symbol"], o["side"], o["qty"]) for o in plan["orders"]} == {("RBA", "buy", 5000), ("RBB", "buy", 6000)}
    count = "SELECT count(*) FROM trading_orders WHERE account_id = $1"
    assert asyncio.run(_fetchval(database_url, count, acct)) == 0  # a dry run places nothing

    live = post(portfolio, "/api/v1/portfolio/execute_rebalance", {**body, "dry_run": False})
    assert live.status_code == 200, live.text
    sub = {s["symbol"]: s for s in live.json()["submitted"]}
    assert {s["http_status"] for s in sub.values()} == {201} and sub["RBA"]["client_order_id"] == "rb-t1-RBA"
    assert {s["status"] for s in sub.values()} == {"filled"}
    again = post(portfolio, "/api/v1/portfolio/execute_rebalance", {**body, "dry_run": False})
    assert {s["symbol"]: s["id"] for s in again.json()["submitted"]} == {k: v["id"] for k, v in sub.items()}
    assert asyncio.run(_fetchval(database_url, count, acct)) == 2  # the same tag placed nothing new

    after = post(portfolio, "/api/v1/portfolio/plan_rebalance", {**{k: body[k] for k in ("account", "target_weights",
                                                                                        "budget")}})
    assert after.status_code == 200, after.text
    assert after.json()["max_drift"] < 1e-3  # marked at the stored closes; filled at the asks

    pnl = post(analytics, "/api/v1/analytics/compute_pnl", {"account": {"account_id": acct}})
    assert pnl.status_code == 200, pnl.text
    ledger = asyncio.run(_fetch(database_url, "SELECT symbol, qty, realised_pnl, fees FROM trading_positions "
                                              "WHERE account_id = $1", acct))
    got = {s["symbol"]: s for s in pnl.json()["symbols"]}
    for row in ledger:
        assert got[row["symbol"]]["qty"] == pytest.approx(row["qty"])
        assert got[row["symbol"]]["realised"] == pytest.approx(row["realised_pnl"], abs=1e-9)
        assert got[row["symbol"]]["fees"] == pytest.approx(row["fees"], abs=1e-9)


async def _fetchval(url: str, sql: str, *args):  # noqa: ANN002, ANN202
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def _fetch(url: str, sql: str, *args):  # noqa: ANN002, ANN202
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()
