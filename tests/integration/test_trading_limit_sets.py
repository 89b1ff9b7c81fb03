"""Pre-trade limits from the risk engine's limit sets: sets created, edited and deleted through the risk
engine's own store functions (real PostgreSQL), enforced by the trading API."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from backend.contract.operation import OpContext
from engines.risk import limit_store
from engines.risk.models.limits import CreateLimitSetRequest, LimitSetRef, LimitSpec, UpdateLimitSetRequest
from tests.integration.test_trading_api import running, setup_market

pytestmark = pytest.mark.timeout(90)
ACCOUNTS = "/api/v1/trading/accounts"
ORDERS = "/api/v1/trading/orders"


async def make_set(db_pool, *limits: LimitSpec) -> int:  # noqa: ANN001
    ls = await limit_store.create_limit_set(
        CreateLimitSetRequest(name=f"pretrade-{uuid.uuid4().hex[:8]}", limits=list(limits)),
        OpContext(engine="risk", db=db_pool))
    return ls.id


def buy(acct: str, sym: str, qty: float, **kw) -> dict:  # noqa: ANN003
    return {"account_id": acct, "symbol": sym, "side": "buy", "type": "market", "qty": qty, **kw}


async def test_assigned_set_then_its_position_notional_and_gross_limits_override_the_accounts(
        db_pool, redis_url, database_url) -> None:
    async with running(db_pool, redis_url, database_url) as (svc, client, _):
        sym, acct = await setup_market(svc, client, db_pool)  # own limits: the defaults (1e6 shares, 5e6 notional)
        other = f"OTHER{uuid.uuid4().hex[:6]}".upper()
        set_id = await make_set(db_pool, LimitSpec(limit_type="position_size", threshold=100),
                                LimitSpec(limit_type="position_size", threshold=30, scope=other),
                                LimitSpec(limit_type="order_notional", threshold=50_000),
                                LimitSpec(limit_type="var", threshold=1e6, confidence=0.99))
        r = await client.put(f"{ACCOUNTS}/{acct}/risk-limit-set", json={"set_id": set_id})
        assert r.status_code == 200, r.text
        view = r.json()
        assert view["risk_limit_set"]["limits"] == {"max_position_qty": 100, "max_order_notional": 50_000}
        assert view["risk_limit_set"]["by_symbol"] == {other: {"max_position_qty": 30}}
        assert view["risk_limit_set"]["not_enforced"] == ["var"]
        assert view["limits"]["max_position_qty"] == 1_000_000  # the account's own limits are kept
        assert view["effective_limits"]["max_position_qty"] == 100

        assert (await client.post(ORDERS, json=buy(acct, sym, 60))).status_code == 201
        r = await client.post(ORDERS, json=buy(acct, sym, 41))  # 60 + 41 > 100 (the set), << 1e6 (own)
        assert r.status_code == 422, r.text
        den = r.json()["denial_code"], r.json()["values"]
        assert den[0] == "POSITION_LIMIT_EXCEEDED"
        assert den[1]["max_position_qty"] == 100 and den[1]["limit_source"] == f"risk_limit_set:{set_id}"
        assert (await client.post(ORDERS, json=buy(acct, sym, 40))).status_code == 201  # exactly 100 is allowed

        # the risk engine edits the set: no position limit any more, a notional and a gross exposure limit
        await limit_store.update_limit_set(UpdateLimitSetRequest(id=set_id, limits=[
            LimitSpec(limit_type="order_notional", threshold=50_000),
            LimitSpec(limit_type="gross_exposure", threshold=80_000)]), OpContext(engine="risk", db=db_pool))
        assert await svc.accounts.refresh_limit_sets() == 1
        r = await client.post(ORDERS, json=buy(acct, sym, 600))  # 600 * ~100 = ~60,000 > 50,000
        assert r.status_code == 422 and r.json()["denial_code"] == "NOTIONAL_EXCEEDS_MAX_PER_ORDER", r.text
        assert r.json()["values"]["max_order_notional"] == 50_000
        # gross exposure: 100 held (~10,000) + 450 * ~100 (~45,000) fits 80,000; another 450 does not
        assert (await client.post(ORDERS, json=buy(acct, sym, 450))).status_code == 201
        r = await client.post(ORDERS, json=buy(acct, sym, 300))
        assert r.status_code == 422 and r.json()["denial_code"] == "GROSS_EXPOSURE_EXCEEDED", r.text
        vals = r.json()["values"]
        assert vals["max_gross_exposure"] == 80_000 and vals["projected"] > 80_000
        mark = svc.engine.marks[sym]  # a market order is valued at the mark, like the held position
        assert vals["projected"] == pytest.approx((550 + 300) * mark, rel=1e-12)


async def test_symbol_scoped_position_limit_then_only_that_symbol_is_bound(db_pool, redis_url,
                                                                           database_url) -> None:
    async with running(db_pool, redis_url, database_url) as (svc, client, _):
        sym, acct = await setup_market(svc, client, db_pool)
        sym2, _ = await setup_market(svc, client, db_pool)
        set_id = await make_set(db_pool, LimitSpec(limit_type="position_size", threshold=500),
                                LimitSpec(limit_type="position_size", threshold=20, scope=sym),
                                LimitSpec(limit_type="position_size", threshold=25, scope=sym))
        assert (await client.put(f"{ACCOUNTS}/{acct}/risk-limit-set", json={"set_id": set_id})).status_code == 200
        r = await client.post(ORDERS, json=buy(acct, sym, 21))  # the stricter of the two scoped limits: 20
        assert r.status_code == 422 and r.json()["values"]["max_position_qty"] == 20, r.text
        assert (await client.post(ORDERS, json=buy(acct, sym, 20))).status_code == 201
        assert (await client.post(ORDERS, json=buy(acct, sym2, 400))).status_code == 201  # unscoped 500 applies
        r = await client.post(ORDERS, json=buy(acct, sym2, 101))
        assert r.status_code == 422 and r.json()["values"]["max_position_qty"] == 500, r.text


async def test_set_deleted_or_unassigned_then_account_limits_apply_again(db_pool, redis_url, database_url) -> None:
    async with running(db_pool, redis_url, database_url) as (svc, client, _):
        sym, acct = await setup_market(svc, client, db_pool, max_position_qty=50)
        set_id = await make_set(db_pool, LimitSpec(limit_type="position_size", threshold=10))
        assert (await client.put(f"{ACCOUNTS}/{acct}/risk-limit-set", json={"set_id": set_id})).status_code == 200
        r = await client.post(ORDERS, json=buy(acct, sym, 11))
        assert r.status_code == 422 and r.json()["values"]["max_position_qty"] == 10
        assert (await client.put(f"{ACCOUNTS}/{acct}/risk-limit-set", json={"set_id": None})).status_code == 200
        assert await db_pool.fetchval("SELECT risk_limit_set_id FROM trading_accounts WHERE id = $1", acct) is None
        r = await client.post(ORDERS, json=buy(acct, sym, 51))
        assert r.status_code == 422 and r.json()["values"] == {**r.json()["values"], "max_position_qty": 50,
                                                                "limit_source": "account"}

        assert (await client.put(f"{ACCOUNTS}/{acct}/risk-limit-set", json={"set_id": set_id})).status_code == 200
        await limit_store.delete_limit_set(LimitSetRef(id=set_id), OpContext(engine="risk", db=db_pool))
        for _ in range(100):  # the refresh loop notices the deletion (config: every 1 s)
            if svc.engine.accounts[acct].risk.limit_set is None:
                break
            await asyncio.sleep(0.05)
        assert svc.engine.accounts[acct].risk.limit_set is None
        assert await db_pool.fetchval("SELECT risk_limit_set_id FROM trading_accounts WHERE id = $1", acct) is None
        assert (await client.post(ORDERS, json=buy(acct, sym, 40))).status_code == 201  # 40 <= own 50


async def test_unknown_set_then_422_naming_the_field_and_nothing_changed(db_pool, redis_url, database_url) -> None:
    async with running(db_pool, redis_url, database_url) as (svc, client, _):
        _, acct = await setup_market(svc, client, db_pool)
        missing = 2**62
        r = await client.put(f"{ACCOUNTS}/{acct}/risk-limit-set", json={"set_id": missing})
        assert r.status_code == 422 and "risk_limit_set_id" in r.text, r.text
        r = await client.post(ACCOUNTS, json={"id": f"N{uuid.uuid4().hex[:8]}", "name": "n", "starting_cash": 1,
                                              "risk_limit_set_id": missing})
        assert r.status_code == 422 and "risk_limit_set_id" in r.text, r.text
        r = await client.put(f"{ACCOUNTS}/{acct}/risk-limit-set", json={"set_id": 0})
        assert r.status_code == 422 and "set_id" in r.text
        assert svc.engine.accounts[acct].risk.limit_set is None


async def test_restart_then_assignment_restored_from_the_database(db_pool, redis_url, database_url) -> None:
    async with running(db_pool, redis_url, database_url) as (svc, client, _):
        set_id = await make_set(db_pool, LimitSpec(limit_type="order_notional", threshold=1_000))
        acct = f"R{uuid.uuid4().hex[:8]}".upper()
        r = await client.post(ACCOUNTS, json={"id": acct, "name": "r", "starting_cash": 1e6,
                                              "risk_limit_set_id": set_id})
        assert r.status_code == 201 and r.json()["risk_limit_set"]["id"] == set_id, r.text
    async with running(db_pool, redis_url, database_url) as (svc2, client2, _):
        ls = svc2.engine.accounts[acct].risk.limit_set
        assert ls is not None and ls.id == set_id and ls.limits == {"max_order_notional": 1_000}


async def test_migration_when_stored_limits_hold_zero_then_they_become_off(db_pool) -> None:
    """0305: a stored 0 meant "off" before; after the migration it is null (off), not a zero limit."""
    from backend.storage.migrate import MIGRATIONS_DIR

    acct = "MIG" + uuid.uuid4().hex[:6]
    await db_pool.execute("INSERT INTO trading_accounts (id, name, starting_cash, cash, limits) VALUES "
                          "($1, 'm', 1, 1, $2::jsonb)", acct,
                          '{"max_order_qty": 0, "max_gross_exposure": 5, "rate_window_s": 1, "margin_rate": 0.5}')
    await db_pool.execute((MIGRATIONS_DIR / "0305_limits_off_is_null.sql").read_text())
    import json

    limits = json.loads(await db_pool.fetchval("SELECT limits FROM trading_accounts WHERE id = $1", acct))
    assert limits == {"max_order_qty": None, "max_gross_exposure": 5, "rate_window_s": 1, "margin_rate": 0.5}
