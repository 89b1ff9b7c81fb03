"""The factor engine over HTTP against real PostgreSQL: stored universe, sectors, user factors, bad input."""

from __future__ import annotations

import asyncio
import datetime as dt

import asyncpg
import numpy as np
import pytest
from fastapi.testclient import TestClient
from scipy import stats

from backend.contract.operation import load_engine
from backend.service.app import make_engine_app
from tests.support.access import INTERNAL_HEADERS, instance_settings
from tests.unit.factor.data import closes

pytestmark = pytest.mark.timeout(120)

N_DATES, OFFSET = 400, 7000
SECTORS = {
    "AAPL": "tech",
    "AMD": "tech",
    "MSFT": "tech",
    "BAC": "fin",
    "JPM": "fin",
    "CVX": "energy",
    "XOM": "energy",
    "RRC": "energy",
    "JNJ": "health",
    "LLY": "health",
    "MRK": "health",
    "PFE": "health",
    "UNH": "health",
    "KO": "staples",
    "PEP": "staples",
    "PG": "staples",
    "WMT": "staples",
    "BBY": "disc",
    "HD": "disc",
    "GE": "ind",
}


def sym(s: str) -> str:
    return f"FC_{s}"


@pytest.fixture(scope="module")
def client(database_url: str, redis_url: str):
    names, c = closes()
    c = c[OFFSET : OFFSET + N_DATES]
    t0 = dt.datetime(2020, 1, 1, 21, tzinfo=dt.UTC)

    async def seed() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            syms = [sym(s) for s in names]
            await conn.execute("DELETE FROM bars WHERE symbol = ANY($1::text[])", syms)
            await conn.execute("DELETE FROM factor_definitions WHERE name LIKE 'fc_%'")
            await conn.executemany(
                "INSERT INTO instruments(symbol, sector) VALUES ($1, $2) "
                "ON CONFLICT (symbol) DO UPDATE SET sector = $2",
                [(sym(s), SECTORS[s]) for s in names],
            )
            rows = [
                (sym(s), t0 + dt.timedelta(days=i), *(float(c[i, j]),) * 4, 1e6 + 1e3 * j)
                for j, s in enumerate(names)
                for i in range(N_DATES)
            ]
            await conn.executemany(
                "INSERT INTO bars(symbol, timeframe, ts, open, high, low, close, volume) "
                "VALUES ($1, '1d', $2, $3, $4, $5, $6, $7)",
                rows,
            )
        finally:
            await conn.close()

    asyncio.run(seed())
    app = make_engine_app(load_engine("factor"), instance_settings(database_url=database_url, redis_url=redis_url))
    with TestClient(app, headers=INTERNAL_HEADERS) as cl:
        yield cl, [sym(s) for s in names], c


def post(c: TestClient, op: str, body: dict):
    return c.post(f"/api/v1/factor/{op}", json=body)


def _arr(rows: list) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in r] for r in rows], dtype=float)


def test_compute_factors_when_library_factor_then_equals_hand_formula_on_stored_bars(client):
    cl, syms, c = client
    r = post(
        cl,
        "compute_factors",
        {"symbols": syms, "factors": [{"name": "momentum", "params": {"lookback": 100, "skip": 10}}]},
    )
    assert r.status_code == 200, r.text
    f = _arr(r.json()["factors"][0]["values"])
    np.testing.assert_allclose(f[150], c[140] / c[50] - 1.0)
    assert len(r.json()["dates"]) == N_DATES


def test_compute_factors_when_neutralize_with_stored_sectors_then_sector_means_zero(client):
    cl, syms, _ = client
    r = post(
        cl,
        "compute_factors",
        {
            "symbols": syms,
            "factors": [{"name": "reversal"}],
            "processing": {"steps": ["winsorize", "neutralize"]},
            "last_n": 50,
        },
    )
    assert r.status_code == 200, r.text
    f = _arr(r.json()["factors"][0]["values"])
    groups = [SECTORS[s[3:]] for s in syms]
    for g in set(groups):
        idx = [i for i, x in enumerate(groups) if x == g]
        np.testing.assert_allclose(f[:, idx].mean(axis=1), 0.0, atol=1e-12)


def test_user_factor_when_stored_then_computed_by_name_and_crud_works(client):
    cl, syms, c = client
    body = {"name": "fc_mom_vol", "expression": "pct_change(close, 20) / ts_std(returns, 20)"}
    assert post(cl, "create_factor", body).status_code == 200
    assert post(cl, "create_factor", body).status_code == 409
    r = post(cl, "compute_factors", {"symbols": syms, "factors": [{"name": "fc_mom_vol"}]})
    f = _arr(r.json()["factors"][0]["values"])
    ret = c[1:] / c[:-1] - 1
    assert f[100, 2] == pytest.approx((c[100, 2] / c[80, 2] - 1) / np.std(ret[80:100, 2], ddof=1))
    assert post(cl, "update_factor", {**body, "expression": "-returns"}).json()["version"] == 2
    assert "fc_mom_vol" in [u["name"] for u in post(cl, "list_factors", {}).json()["user"]]
    assert post(cl, "delete_factor", {"name": "fc_mom_vol"}).status_code == 200
    assert post(cl, "get_factor", {"name": "fc_mom_vol"}).status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"name": "fc_bad", "expression": "__import__('os')"}, 422, "expression"),
        ({"name": "fc_bad", "expression": "ts_mean(close, 0)"}, 422, "expression"),
        ({"name": "momentum", "expression": "close"}, 409, "name"),
    ],
)
def test_create_factor_when_bad_definition_then_4xx_naming_field(client, body, status, field):
    r = post(client[0], "create_factor", body)
    assert r.status_code == status and r.json()["errors"][0]["field"] == field


@pytest.mark.parametrize(
    ("factor", "field"),
    [
        ({"name": "momentum", "params": {"lookback": 0}}, "factors.0.params.lookback"),
        ({"name": "low_volatility", "params": {"window": 1000}}, "factors.0.params.window"),
        ({"name": "no_such_factor"}, "factors.0.name"),
        ({"expression": "sma(close, 500)"}, "factors.0.expression"),
    ],
)
def test_compute_factors_when_impossible_params_then_422_naming_field(client, factor, field):
    cl, syms, _ = client
    r = post(cl, "compute_factors", {"symbols": syms, "factors": [factor]})
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == field


def test_compute_factors_when_unknown_symbol_then_404_naming_it(client):
    cl, syms, _ = client
    r = post(cl, "compute_factors", {"symbols": [syms[0], "FC_NOPE"], "factors": [{"name": "reversal"}]})
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "symbols.1"


def test_evaluate_stored_when_two_factors_then_ic_matches_scipy(client):
    cl, syms, c = client
    r = post(
        cl,
        "evaluate_stored_factors",
        {
            "symbols": syms,
            "factors": [
                {"name": "reversal", "params": {"window": 5}},
                {"expression": "-ts_std(returns, 20)", "alias": "lowvol"},
            ],
            "options": {"horizons": [1, 5], "quantiles": 5},
        },
    )
    assert r.status_code == 200, r.text
    res = r.json()
    f = np.full_like(c, np.nan)
    f[5:] = -(c[5:] / c[:-5] - 1)
    fwd = np.full_like(c, np.nan)
    fwd[:-1] = c[1:] / c[:-1] - 1
    ics = [stats.spearmanr(f[t], fwd[t]).statistic for t in range(5, N_DATES - 1)]
    got = res["factors"][0]["decay"][0]["rank_ic"]
    assert got["mean"] == pytest.approx(np.mean(ics), rel=1e-9)
    assert got["t_stat"] == pytest.approx(np.mean(ics) / np.std(ics, ddof=1) * np.sqrt(len(ics)), rel=1e-9)
    assert res["names"] == ["reversal", "lowvol"] and len(res["correlation"]) == 2


def test_evaluate_inline_when_horizon_too_long_then_422(client):
    r = post(
        client[0],
        "evaluate_factors",
        {"factors": {"a": [[1.0, 2.0, 3.0]] * 3}, "close": [[1.0, 2.0, 3.0]] * 3, "options": {"horizons": [5]}},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "options.horizons"


def test_process_cross_section_when_neutralize_without_sector_then_422_naming_symbol(client):
    r = post(
        client[0],
        "process_cross_section",
        {
            "values": [[1.0, 2.0], [3.0, None]],
            "symbols": ["A", "B"],
            "sectors": {"A": "x"},
            "processing": {"steps": ["neutralize"]},
        },
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "sectors.B"
