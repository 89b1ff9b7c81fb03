"""The trading core never acknowledges, and never shows, what is not durable (issue 9's defects 1 and 2).

* Twin submissions with one client order id, fired together, reach the order core once: both get
  the same order, and stored positions and cash equal the replay of stored fills.
* A commit that fails halts intake (503 TRADING_RECOVERING, reads too), memory is rebuilt from the
  database through the restart path, the failure flag clears, and intake resumes.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.test_trading_api import running, setup_market

pytestmark = pytest.mark.timeout(120)
ORDERS = "/api/v1/trading/orders"


async def test_twin_submissions_when_fired_together_then_one_order_and_positions_equal_fills(
        db_pool, redis_url, database_url) -> None:
    async with running(db_pool, redis_url, database_url) as (svc, client, _):
        sym, acct = await setup_market(svc, client, db_pool)
        pairs = 20
        bodies = [{"account_id": acct, "client_order_id": f"dup-{i}", "symbol": sym, "side": "buy",
                   "type": "market", "qty": 10 + i} for i in range(pairs)]
        replies = await asyncio.gather(*(client.post(ORDERS, json=b) for b in bodies for _ in range(2)))
        assert all(r.status_code == 201 for r in replies), [r.text for r in replies if r.status_code != 201]
        for i in range(pairs):
            a, b = replies[2 * i].json(), replies[2 * i + 1].json()
            assert a["id"] == b["id"] and a["filled_qty"] == b["filled_qty"] == 10 + i
        stored = await db_pool.fetchrow(
            "SELECT count(*) n, sum(qty) q FROM trading_fills WHERE account_id = $1", acct)
        assert stored["q"] == sum(10 + i for i in range(pairs))
        orders = await db_pool.fetchval("SELECT count(*) FROM trading_orders WHERE account_id = $1", acct)
        assert orders == pairs
        pos = (await client.get("/api/v1/trading/positions", params={"account_id": acct})).json()["items"]
        assert pos[0]["qty"] == sum(10 + i for i in range(pairs))
        rec = (await client.post("/api/v1/trading/reconciliation")).json()
        assert rec["ok"], rec["mismatches"]


async def test_commit_when_it_fails_then_503_memory_rebuilt_from_database_and_intake_resumes(
        db_pool, redis_url, database_url) -> None:
    async with running(db_pool, redis_url, database_url) as (svc, client, _):
        sym, acct = await setup_market(svc, client, db_pool)
        ok = await client.post(ORDERS, json={"account_id": acct, "symbol": sym, "side": "buy", "type": "market",
                                             "qty": 100})
        assert ok.status_code == 201
        cash_before = (await client.get(f"/api/v1/trading/accounts/{acct}")).json()["cash"]
        # every fill insert now fails inside the transaction: memory moves ahead of the database
        await db_pool.execute("ALTER TABLE trading_fills ADD CONSTRAINT halt_test CHECK (qty < 0) NOT VALID")
        try:
            bad = await client.post(ORDERS, json={"account_id": acct, "symbol": sym, "side": "buy",
                                                  "type": "market", "qty": 50, "client_order_id": "lost-1"})
            assert bad.status_code == 503 and bad.json()["code"] == "TRADING_RECOVERING"
            for _ in range(200):  # the rebuild runs in the background
                if svc.halted is None:
                    break
                await asyncio.sleep(0.02)
            assert svc.halted is None and svc.rebuilds == 1 and svc.writer.failed is None
            pos = (await client.get("/api/v1/trading/positions", params={"account_id": acct})).json()["items"]
            assert pos[0]["qty"] == 100  # the failed fill is not shown
            assert (await client.get(f"/api/v1/trading/accounts/{acct}")).json()["cash"] == cash_before
            assert await db_pool.fetchval("SELECT count(*) FROM trading_orders WHERE client_order_id = 'lost-1'") == 0
        finally:
            await db_pool.execute("ALTER TABLE trading_fills DROP CONSTRAINT halt_test")
        again = await client.post(ORDERS, json={"account_id": acct, "symbol": sym, "side": "buy", "type": "market",
                                                "qty": 50, "client_order_id": "lost-1"})  # the client's retry
        assert again.status_code == 201 and again.json()["filled_qty"] == 50
        health = (await client.get("/api/v1/trading/health")).json()
        assert health["status"] == "ok" and health["halted"] is None and health["writer"]["halts"] == 1
        assert health["last_rebuild"]["reason"].startswith("CheckViolationError")
        rec = (await client.post("/api/v1/trading/reconciliation")).json()
        assert rec["ok"], rec["mismatches"]


async def test_reads_when_core_halted_then_503_not_stale_memory(db_pool, redis_url, database_url) -> None:
    async with running(db_pool, redis_url, database_url) as (svc, client, _):
        sym, acct = await setup_market(svc, client, db_pool)
        svc.halted = "test: rebuilding"
        try:
            for path in ("/api/v1/trading/positions", f"/api/v1/trading/accounts/{acct}", ORDERS):
                r = await client.get(path)
                assert r.status_code == 503 and r.json()["code"] == "TRADING_RECOVERING", path
        finally:
            svc.halted = None


async def test_kill_switch_release_when_reason_holds_nul_then_422_and_switch_unchanged(
        db_pool, redis_url, database_url) -> None:
    async with running(db_pool, redis_url, database_url) as (svc, client, _):
        sym, acct = await setup_market(svc, client, db_pool)
        on = await client.post("/api/v1/trading/kill-switch", json={"active": True, "account_id": acct})
        assert on.status_code == 200
        r = await client.post("/api/v1/trading/kill-switch",
                              json={"active": False, "account_id": acct, "reason": "a\u0000b"})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason"
        assert svc.engine.accounts[acct].risk.killed
        order = await client.post(ORDERS, json={"account_id": acct, "symbol": sym, "side": "buy", "type": "market",
                                                "qty": 1})
        assert order.status_code == 422 and order.json()["denial_code"] == "TRADING_HALTED"  # the kill switch
        assert svc.halted is None and svc.writer.halts == 0
