"""The risk engine over HTTP with real PostgreSQL and Redis: limit sets, breaches on the bus,
market data by reference from the bars table, and problem-JSON for bad input."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math

import asyncpg
import numpy as np
import pytest
import redis
from fastapi.testclient import TestClient

from backend.bus import decode
from backend.service.app import make_engine_app
from engines.risk.ops import ENGINE
from tests.support.access import INTERNAL_HEADERS, TEST_INSTANCE, instance_settings

pytestmark = pytest.mark.timeout(120)
SYMS = ["RSKA", "RSKB", "RSKC"]
DAY0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def closes() -> np.ndarray:
    rng = np.random.default_rng(11)
    r = rng.normal(2e-4, 0.012, size=(300, 3))
    return 100 * np.cumprod(np.vstack([np.ones(3), 1 + r]), axis=0)  # 301 x 3


@pytest.fixture(scope="module")
def seeded(database_url: str) -> np.ndarray:
    P = closes()

    async def seed() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("DELETE FROM bars WHERE symbol = ANY($1::text[])", SYMS)
            rows = [(s, "1d", DAY0 + dt.timedelta(days=t), P[t, j], P[t, j], P[t, j], P[t, j], 1000.0 * (j + 1))
                    for t in range(P.shape[0]) for j, s in enumerate(SYMS)]
            # a bar only RSKA has: dropped by the common-date join
            rows.append(("RSKA", "1d", DAY0 - dt.timedelta(days=1), 99.0, 99.0, 99.0, 99.0, 1.0))
            await conn.executemany("INSERT INTO bars VALUES ($1,$2,$3,$4,$5,$6,$7,$8)", rows)
            await conn.executemany(
                """INSERT INTO instruments (symbol, sector) VALUES ($1, $2)
                   ON CONFLICT (symbol) DO UPDATE SET sector = excluded.sector""",
                [("RSKA", "tech"), ("RSKB", "tech"), ("RSKC", "energy")])
        finally:
            await conn.close()

    asyncio.run(seed())
    return P


@pytest.fixture(scope="module")
def client(database_url: str, redis_url: str):  # noqa: ANN201
    app = make_engine_app(ENGINE, instance_settings(database_url=database_url, redis_url=redis_url))
    with TestClient(app, headers=INTERNAL_HEADERS) as c:
        yield c


def post(client: TestClient, op: str, body: dict):  # noqa: ANN201
    # json.dumps writes NaN literally (allow_nan), as a careless client would
    return client.post(f"/api/v1/risk/{op}", content=json.dumps(body), headers={"content-type": "application/json"})


def test_operations_when_listed_then_all_declared_with_gpu_flags(client):
    ops = {o["name"]: o for o in client.get("/operations").json()["operations"]}
    assert len(ops) == 17
    assert ops["simulate_monte_carlo_var"]["gpu"] and ops["revalue_options"]["gpu"]
    assert not ops["check_limits"]["idempotent"]


def test_historical_var_when_by_reference_then_equals_inline_on_stored_closes(client, seeded):
    P = seeded
    positions = [{"symbol": s, "value": v} for s, v in zip(SYMS, [1e6, -5e5, 2e5], strict=False)]
    ref = post(client, "compute_historical_var", {"positions": positions, "market": {"lookback_days": 250}})
    assert ref.status_code == 200, ref.text
    R = P[-251:][1:] / P[-251:][:-1] - 1
    inline = post(client, "compute_historical_var", {"positions": positions, "market": {
        "symbols": SYMS, "returns": R.tolist()}})
    assert ref.json()["n_observations"] == 250
    for a, b in zip(ref.json()["levels"], inline.json()["levels"], strict=False):
        assert a["var"] == pytest.approx(b["var"], rel=1e-12) and a["cvar"] == pytest.approx(b["cvar"], rel=1e-12)


def test_var_when_by_reference_with_dates_then_window_respected(client, seeded):
    body = {"positions": [{"symbol": "RSKA", "value": 1e6}],
            "market": {"start": "2024-02-01", "end": "2024-03-01"}, "method": "gaussian"}
    r = post(client, "compute_parametric_var", body)
    assert r.status_code == 200, r.text
    # 2023-12-31 has a bar for RSKA only: the common-date join drops it, leaving 301 closes -> 300 returns
    r = post(client, "compute_historical_var", {"positions": [{"symbol": s, "value": 1.0} for s in SYMS],
                                               "market": {"start": "2023-12-01"}})
    assert r.json()["n_observations"] == 300
    r = post(client, "run_historical_stress", {"positions": [{"symbol": "RSKA", "value": 1e6}],
                                              "market": {"start": "2024-01-01"}, "window_days": 5,
                                              "named_windows": [{"name": "feb", "start": "2024-02-01",
                                                                 "end": "2024-02-29"}]})
    assert r.status_code == 200, r.text
    feb = r.json()["named_windows"][0]
    P = seeded[:, 0]
    # returns dated 2024-02-01..02-29 = closes from day 30 (Jan 31) to day 59 (Feb 29)
    assert feb["pnl_total"] == pytest.approx(1e6 * (P[59] / P[30] - 1))


def test_monte_carlo_when_by_reference_then_served_with_standard_error(client, seeded):
    r = post(client, "simulate_monte_carlo_var", {
        "positions": [{"symbol": s, "value": 1e6} for s in SYMS], "market": {"lookback_days": 250},
        "distribution": "student_t", "n_scenarios": 20000, "seed": 3})
    assert r.status_code == 200, r.text
    lv = r.json()["levels"][1]
    assert lv["var_se"] > 0 and lv["var_ci_low"] < lv["var"] < lv["var_ci_high"]
    assert r.json()["dof_estimated"]


def test_reference_when_symbol_unknown_then_404_naming_it(client, seeded):
    r = post(client, "compute_historical_var", {"positions": [{"symbol": "NOPE1", "value": 1.0}],
                                               "market": {"lookback_days": 20}})
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json") and "NOPE1" in r.json()["detail"]


@pytest.mark.parametrize("body,field", [
    ({"positions": [{"symbol": "A", "value": 1.0}], "market": {"symbols": ["A"], "returns": [[float("nan")], [0.1]]}},
     "market.returns.0.0"),
    ({"positions": [{"symbol": "A", "value": 1.0}], "market": {"symbols": ["A"], "returns": [[0.0], [0.1]]},
      "confidence_levels": [1.5]}, "confidence_levels.0"),
    ({"positions": [], "market": {"symbols": ["A"], "returns": [[0.0], [0.1]]}}, "positions"),
])
def test_http_when_request_invalid_then_422_problem_naming_field(client, body, field):
    r = post(client, "compute_historical_var", body)
    assert r.status_code == 422
    assert field in [e["field"] for e in r.json()["errors"]]


def test_http_when_covariance_not_psd_then_422_suggesting_repair(client):
    cov = [[1.0, 2.0], [2.0, 1.0]]
    body = {"positions": [{"symbol": "A", "value": 1.0}], "market": {"symbols": ["A", "B"], "covariance": cov}}
    r = post(client, "compute_parametric_var", body)
    assert r.status_code == 422 and r.json()["code"] == "INVALID_INPUT"
    assert r.json()["errors"][0]["field"] == "market.covariance" and "repair_covariance" in r.json()["detail"]
    body["market"]["repair_covariance"] = True
    assert post(client, "compute_parametric_var", body).status_code == 200


LIMITS = [
    {"limit_type": "gross_exposure", "threshold": 1e6},
    {"limit_type": "net_exposure", "threshold": 2e6},
    {"limit_type": "leverage", "threshold": 2.0},
    {"limit_type": "single_name_concentration", "threshold": 0.5},
    {"limit_type": "sector_concentration", "threshold": 2.0},
    {"limit_type": "var", "threshold": 1e5, "confidence": 0.99},
    {"limit_type": "cvar", "threshold": 1e5, "confidence": 0.975},
    {"limit_type": "max_drawdown", "threshold": 0.2},
    {"limit_type": "daily_loss", "threshold": 5e4},
    {"limit_type": "position_size", "threshold": 1e5},
    {"limit_type": "order_notional", "threshold": 1e5},
    {"limit_type": "liquidity", "threshold": 0.1},
    {"limit_type": "beta_exposure", "threshold": 5e6},
]


def test_limit_sets_when_crud_then_stored_listed_updated_deleted(client):
    r = post(client, "create_limit_set", {"name": "desk-crud", "description": "d", "limits": LIMITS})
    assert r.status_code == 200, r.text
    ls = r.json()
    assert len(ls["limits"]) == 13 and ls["limits"][5]["confidence"] == 0.99
    assert post(client, "create_limit_set", {"name": "desk-crud"}).status_code == 409
    assert post(client, "get_limit_set", {"id": ls["id"]}).json() == ls
    assert ls["id"] in [s["id"] for s in post(client, "list_limit_sets", {}).json()["sets"]]
    up = post(client, "update_limit_set", {"id": ls["id"], "name": "desk-crud-2",
                                           "limits": [{"limit_type": "leverage", "threshold": 3}]}).json()
    assert up["name"] == "desk-crud-2" and [x["limit_type"] for x in up["limits"]] == ["leverage"]
    assert post(client, "delete_limit_set", {"id": ls["id"]}).json()["deleted"]
    r = post(client, "get_limit_set", {"id": ls["id"]})
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "id"
    assert post(client, "delete_limit_set", {"id": ls["id"]}).status_code == 404


def test_check_limits_when_breached_then_stored_and_published_on_bus(client, seeded, redis_url):
    ls = post(client, "create_limit_set", {"name": "desk-check", "limits": LIMITS}).json()
    snapshot = {
        "name": "book1",
        "positions": [{"symbol": "RSKA", "value": 8e5, "quantity": 1000, "beta": 1.1},
                      {"symbol": "RSKB", "value": 4e5, "quantity": 2500, "beta": 0.9},
                      {"symbol": "RSKC", "value": -1e5, "quantity": -100, "beta": 1.0}],
        "equity": 1e6, "daily_pnl": -6e4, "equity_curve": [100, 110, 95, 105], "order": {"symbol": "RSKA",
                                                                                      "notional": 5e4},
        "market": {"lookback_days": 250},
    }
    r = post(client, "check_limits", {"set_id": ls["id"], "portfolio": snapshot})
    assert r.status_code == 200, r.text
    res = {x["limit_type"]: x for x in r.json()["results"]}
    assert res["gross_exposure"]["status"] == "breach" and res["gross_exposure"]["value"] == pytest.approx(1.3e6)
    assert res["single_name_concentration"]["status"] == "breach"  # 0.8 > 0.5
    assert res["daily_loss"]["status"] == "breach"
    assert res["sector_concentration"]["value"] == pytest.approx(1.2)  # tech from instruments: 1.2e6 / 1e6
    # liquidity from bars: RSKB volume 2000/day -> 2500 / 2000
    assert res["liquidity"]["value"] == pytest.approx(1.25) and res["liquidity"]["status"] == "breach"
    assert res["max_drawdown"]["value"] == pytest.approx(1 - 95 / 110)
    assert res["leverage"]["status"] == "ok" and res["order_notional"]["status"] == "ok"
    breached = sorted(k for k, v in res.items() if v["status"] == "breach")
    assert r.json()["n_breaches"] == len(breached) == len(r.json()["breach_ids"])

    stored = post(client, "list_limit_breaches", {"set_id": ls["id"]}).json()["breaches"]
    assert sorted(b["limit_type"] for b in stored) == breached
    assert all(b["portfolio"] == "book1" and b["value"] > b["threshold"] for b in stored)

    rc = redis.from_url(redis_url)
    try:
        events = [decode(f[b"e"]) for _, f in rc.xrange(f"{TEST_INSTANCE}:events.risk")]
    finally:
        rc.close()
    mine = [e for e in events if e.payload["set_id"] == ls["id"]]
    assert sorted(e.payload["limit_type"] for e in mine) == breached
    assert all(e.type == "limit_breach" and e.topic == f"events.risk.limits.{ls['id']}" for e in mine)
    gross = next(e for e in mine if e.payload["limit_type"] == "gross_exposure")
    assert gross.payload["value"] == pytest.approx(1.3e6) and gross.payload["threshold"] == 1e6


def test_check_limits_when_publish_false_then_nothing_stored(client):
    ls = post(client, "create_limit_set", {"name": "desk-quiet", "limits": LIMITS[:1]}).json()
    r = post(client, "check_limits", {"set_id": ls["id"], "publish": False,
                                      "portfolio": {"positions": [{"symbol": "X", "value": 2e6}]}})
    assert r.json()["n_breaches"] == 1 and r.json()["breach_ids"] == []
    assert post(client, "list_limit_breaches", {"set_id": ls["id"]}).json()["breaches"] == []
    assert post(client, "check_limits", {"set_id": 10**12, "portfolio": {
        "positions": [{"symbol": "X", "value": 1}]}}).status_code == 404


def test_hypothetical_stress_when_sectors_missing_then_read_from_instruments(client, seeded):
    r = post(client, "run_hypothetical_stress", {
        "positions": [{"symbol": "RSKA", "value": 100.0}, {"symbol": "RSKC", "value": 200.0}],
        "scenarios": [{"name": "tech crash", "sector_shocks": {"tech": -0.3, "energy": 0.1},
                       "correlation_to_one": True}],
        "market": {"lookback_days": 100}})
    assert r.status_code == 200, r.text
    sc = r.json()["scenarios"][0]
    assert sc["pnl_total"] == pytest.approx(-30.0 + 20.0)
    assert sc["var_stressed"] >= sc["var_base"] - 1e-9 and math.isfinite(sc["var_base"])


@pytest.fixture(scope="module")
def account(database_url: str, seeded: np.ndarray):  # noqa: ANN201
    """A paper account with stored positions in two strategies (the trading core's tables)."""
    qty = {("momo", "RSKA"): 100.0, ("momo", "RSKB"): -40.0, ("carry", "RSKA"): 50.0, ("carry", "RSKC"): 0.0}

    async def seed() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("DELETE FROM trading_positions WHERE account_id = 'risk-acct'")
            await conn.execute("DELETE FROM trading_accounts WHERE id = 'risk-acct'")
            await conn.execute("INSERT INTO trading_accounts (id, name, starting_cash, cash) "
                               "VALUES ('risk-acct', 'risk test', 1e6, 1e6)")
            await conn.executemany(
                "INSERT INTO trading_positions (account_id, strategy, symbol, qty, avg_cost, realised_pnl, fees,"
                " fill_count) VALUES ('risk-acct', $1, $2, $3, 100, 0, 0, 1)",
                [(strategy, sym, q) for (strategy, sym), q in qty.items()])
        finally:
            await conn.close()

    async def clean() -> None:
        # rows written behind the trading core's back must not outlive this module: its
        # reconciliation (positions = replay of fills) runs over the same database later
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("DELETE FROM trading_positions WHERE account_id = 'risk-acct'")
            await conn.execute("DELETE FROM trading_accounts WHERE id = 'risk-acct'")
        finally:
            await conn.close()

    asyncio.run(seed())
    yield {"RSKA": 150.0, "RSKB": -40.0}
    asyncio.run(clean())


def test_var_when_positions_by_account_then_equals_inline_positions_valued_at_last_close(
        client, seeded, account):
    last = dict(zip(SYMS, seeded[-1], strict=True))
    market = {"lookback_days": 250}
    by_ref = client.post("/api/v1/risk/compute_parametric_var",
                         json={"account": {"account_id": "risk-acct"}, "market": market})
    assert by_ref.status_code == 200, by_ref.text
    inline = client.post("/api/v1/risk/compute_parametric_var", json={
        "positions": [{"symbol": s, "value": q * last[s]} for s, q in account.items()], "market": market})
    assert by_ref.json() == inline.json()
    assert by_ref.json()["portfolio_value"] == pytest.approx(150 * last["RSKA"] - 40 * last["RSKB"])
    one = client.post("/api/v1/risk/simulate_monte_carlo_var",
                      json={"account": {"account_id": "risk-acct", "strategy": "carry"}, "market": market,
                            "n_scenarios": 10_000})
    assert one.status_code == 200 and one.json()["portfolio_value"] == pytest.approx(50 * last["RSKA"])


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"account": {"account_id": "nobody"}}, 404, "account.account_id"),
    ({"account": {"account_id": "risk-acct", "strategy": "none-such"}}, 422, "account"),
    ({"account": {"account_id": "risk-acct"}, "positions": [{"symbol": "RSKA", "value": 1.0}]}, 422, "body"),
])
def test_var_when_account_reference_bad_then_4xx_naming_field(client, account, body, status, field):
    r = client.post("/api/v1/risk/compute_parametric_var", json={**body, "market": {"lookback_days": 50}})
    assert r.status_code == status, r.text
    assert r.json()["errors"][0]["field"] == field
