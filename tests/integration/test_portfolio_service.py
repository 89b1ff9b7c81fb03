"""The portfolio and analytics engines over HTTP with real PostgreSQL: market data by reference from
stored bars, sectors from instruments, scopes, and problem-JSON for bad input (never a 500)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import asyncpg
import numpy as np
import pytest
from fastapi.testclient import TestClient

from backend.auth import keys
from backend.contract.operation import load_engine
from backend.service.app import make_engine_app
from tests.support.access import INTERNAL_HEADERS, instance_settings

pytestmark = pytest.mark.timeout(120)
SYMS = ["PFA", "PFB", "PFC", "PFD"]
DAY0 = dt.datetime(2023, 1, 2, tzinfo=dt.UTC)
COMPUTE_KEY = "ntk_test-portfolio-compute-only-0123456789abcdef"


def closes() -> np.ndarray:
    rng = np.random.default_rng(21)
    r = rng.normal(3e-4, [0.01, 0.015, 0.02, 0.012], size=(300, 4))
    return 50 * np.cumprod(np.vstack([np.ones(4), 1 + r]), axis=0)


@pytest.fixture(scope="module")
def seeded(database_url: str) -> np.ndarray:
    P = closes()

    async def seed() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("DELETE FROM bars WHERE symbol = ANY($1::text[])", SYMS)
            await conn.executemany("INSERT INTO bars VALUES ($1,$2,$3,$4,$5,$6,$7,$8)", [
                (s, "1d", DAY0 + dt.timedelta(days=t), P[t, j], P[t, j], P[t, j], P[t, j], 1e4)
                for t in range(P.shape[0]) for j, s in enumerate(SYMS)])
            await conn.executemany(
                "INSERT INTO instruments (symbol, sector) VALUES ($1, $2) ON CONFLICT (symbol) DO UPDATE "
                "SET sector = excluded.sector", [("PFA", "tech"), ("PFB", "tech"), ("PFC", "energy"), ("PFD", "util")])
            await keys.create_key(conn, "compute-only", ["compute"], key=COMPUTE_KEY)
        finally:
            await conn.close()

    asyncio.run(seed())
    return P


def app(name: str, database_url: str, redis_url: str):  # noqa: ANN201
    return make_engine_app(load_engine(name), instance_settings(database_url=database_url, redis_url=redis_url))


@pytest.fixture(scope="module")
def client(database_url: str, redis_url: str):  # noqa: ANN201
    with TestClient(app("portfolio", database_url, redis_url), headers=INTERNAL_HEADERS) as c:
        yield c


@pytest.fixture(scope="module")
def analytics(database_url: str, redis_url: str):  # noqa: ANN201
    with TestClient(app("analytics", database_url, redis_url), headers=INTERNAL_HEADERS) as c:
        yield c


def post(c: TestClient, route: str, body: dict, **kw):  # noqa: ANN003, ANN201
    # json.dumps writes NaN literally, as a careless client would
    headers = {"content-type": "application/json", **kw.pop("headers", {})}
    return c.post(route, content=json.dumps(body), headers=headers, **kw)


def test_operations_when_listed_then_declared_with_scopes(client, analytics):
    ops = {o["name"]: o for o in client.get("/operations").json()["operations"]}
    assert ops["optimize_portfolio"]["scope"] == "compute" and ops["plan_rebalance"]["scope"] == "read"
    assert ops["execute_rebalance"]["scope"] == "trade" and not ops["execute_rebalance"]["idempotent"]
    a = {o["name"]: o["scope"] for o in analytics.get("/operations").json()["operations"]}
    assert a["compute_pnl"] == "read" and a["render_tear_sheet"] == "compute" and len(a) == 9


def test_optimize_when_by_reference_then_equals_inline_on_stored_closes(client, seeded):
    ref = post(client, "/api/v1/portfolio/optimize_portfolio",
               {"market": {"symbols": SYMS, "lookback_days": 250}, "objective": "max_sharpe"})
    assert ref.status_code == 200, ref.text
    P = seeded[-251:]
    inline = post(client, "/api/v1/portfolio/optimize_portfolio",
                  {"market": {"symbols": SYMS, "returns": (P[1:] / P[:-1] - 1).tolist()}, "objective": "max_sharpe"})
    assert ref.json()["n_observations"] == 250
    assert ref.json()["weights"] == pytest.approx(inline.json()["weights"], abs=1e-12)
    assert ref.json()["solver"]["engine"] == "fast"


def test_optimize_when_sector_limits_without_groups_then_sectors_from_instruments(client, seeded):
    r = post(client, "/api/v1/portfolio/optimize_portfolio", {
        "market": {"symbols": SYMS, "lookback_days": 250}, "objective": "max_sharpe",
        "constraints": {"group_limits": [{"group": "tech", "max": 0.2}]}})
    assert r.status_code == 200, r.text
    assert sum(r.json()["weights"][:2]) <= 0.2 + 1e-7 and r.json()["solver"]["engine"] == "skfolio"


@pytest.mark.parametrize("body,status,field", [
    ({"market": {"symbols": ["A", "B"], "returns": [[float("nan"), 0.1]] + [[0.0, 0.01]] * 30}}, 422,
     "market.returns.0.0"),
    ({"market": {"symbols": ["A", "B"], "covariance": [[1.0, 2.0], [2.0, 1.0]]}}, 422, "market.covariance"),
    ({"market": {"symbols": SYMS, "lookback_days": 10}}, 422, "market.returns"),
    ({"market": {"symbols": SYMS, "lookback_days": 250}, "constraints": {"max_weight": 0.1}}, 422,
     "constraints.max_weight"),
    ({"market": {"lookback_days": 250}, "account": {"account_id": "NO-SUCH-ACCOUNT"}}, 404, "account.account_id"),
    ({"market": {"symbols": ["NOPE9"], "lookback_days": 50}}, 404, "market.symbols"),
])
def test_optimize_when_bad_input_then_problem_json_naming_field(client, seeded, body, status, field):
    r = post(client, "/api/v1/portfolio/optimize_portfolio", body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in r.json()["errors"]]


def test_optimize_when_infeasible_then_422_with_solver_status(client, seeded):
    r = post(client, "/api/v1/portfolio/optimize_portfolio", {
        "market": {"symbols": SYMS, "lookback_days": 250}, "risk_measure": "cvar",
        "constraints": {"group_limits": [{"group": "tech", "min": 0.6}, {"group": "energy", "min": 0.6}]}})
    assert r.status_code == 422 and r.json()["solver_status"] == "infeasible"
    assert r.json()["errors"][0]["field"] == "constraints.group_limits"


def test_execute_rebalance_when_key_lacks_trade_scope_then_403(database_url, redis_url, seeded):
    with TestClient(app("portfolio", database_url, redis_url), headers={"X-API-Key": COMPUTE_KEY}) as c:
        body = {"account": {"account_id": "X"}, "target_weights": {"PFA": 1.0}, "tag": "t"}
        r = post(c, "/api/v1/portfolio/execute_rebalance", body)
        assert r.status_code == 403 and r.json()["needed_scope"] == "trade"
        ok = post(c, "/api/v1/portfolio/optimize_portfolio", {"market": {"symbols": SYMS, "lookback_days": 100}})
        assert ok.status_code == 200


def test_walkforward_when_by_reference_then_three_strategies(client, seeded):
    r = post(client, "/api/v1/portfolio/evaluate_allocation_policy", {
        "market": {"symbols": SYMS, "start": "2023-01-01"}, "lookback_days": 100, "rebalance_every_days": 50,
        "sixty_forty": {"equity": "PFA", "bond": "PFD"}, "cost_bps": 10})
    assert r.status_code == 200, r.text
    assert [s["name"] for s in r.json()["strategies"]] == ["policy", "equal_weight", "sixty_forty"]
    assert len(r.json()["dates"]) == 300 - 100


def test_plan_rebalance_when_targets_off_budget_then_422_naming_target_weights(client):
    r = post(client, "/api/v1/portfolio/plan_rebalance", {
        "holdings": [], "cash": 1000, "prices": {"PFA": 10.0}, "target_weights": {"PFA": 0.7}})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "target_weights"


def test_analytics_when_unknown_account_or_bad_series_then_problem_json(analytics):
    r = post(analytics, "/api/v1/analytics/compute_pnl", {"account": {"account_id": "NO-SUCH-ACCOUNT"}})
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "account.account_id"
    r = post(analytics, "/api/v1/analytics/render_tear_sheet", {"returns": [0.01, float("nan"), 0.0]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "returns.1"
    r = post(analytics, "/api/v1/analytics/compute_rolling_metrics", {"returns": [0.01, 0.02], "window": 5})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "window"
