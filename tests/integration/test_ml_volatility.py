"""The ML engine's volatility operations over HTTP against real PostgreSQL: arch's NASDAQ sample loaded by
the market data engine's ``load_samples``, referenced by symbol, equal to the same returns sent inline and to
arch's own fit; scoped keys; problem-JSON naming the field for bad input."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import numpy as np
import pytest
from arch import arch_model
from fastapi.testclient import TestClient

from backend.auth import keys
from backend.contract.operation import load_engine
from backend.service.app import make_engine_app
from tests.support.access import INTERNAL_HEADERS, instance_settings
from tests.unit.ml.data import nasdaq_returns

pytestmark = pytest.mark.timeout(180)
COMPUTE_KEY = "ntk_test-ml-compute-only-0123456789abcdef0123"
READ_KEY = "ntk_test-ml-read-only-0123456789abcdef012345"
FC = "/api/v1/ml/forecast_volatility"
EV = "/api/v1/ml/evaluate_volatility"


@pytest.fixture(scope="module")
def samples(database_url: str, redis_url: str) -> None:
    settings = instance_settings(database_url=database_url, redis_url=redis_url)
    with TestClient(make_engine_app(load_engine("marketdata"), settings), headers=INTERNAL_HEADERS) as md:
        r = md.post("/api/v1/marketdata/load_samples", json={"datasets": ["arch_nasdaq"]})
        assert r.status_code == 200, r.text

    async def make_keys() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            for name, scopes, key in (("ml-compute", ["compute"], COMPUTE_KEY), ("ml-read", ["read"], READ_KEY)):
                if not await conn.fetchval("SELECT 1 FROM api_keys WHERE name = $1", name):
                    await keys.create_key(conn, name, scopes, key=key)
        finally:
            await conn.close()

    asyncio.run(make_keys())


@pytest.fixture(scope="module")
def client(samples, database_url: str, redis_url: str):  # noqa: ANN201
    app = make_engine_app(load_engine("ml"), instance_settings(database_url=database_url, redis_url=redis_url))
    with TestClient(app, headers=INTERNAL_HEADERS) as c:
        yield c


def post(c: TestClient, route: str, body: dict, **kw):  # noqa: ANN003, ANN201
    headers = {"content-type": "application/json", **kw.pop("headers", {})}
    return c.post(route, content=json.dumps(body), headers=headers, **kw)


def test_forecast_when_stored_nasdaq_by_reference_then_equals_inline_and_arch_own_fit(client):
    ref = post(client, FC, {"data": {"symbol": "^IXIC", "start": "2010-01-01"}, "model": {"model_type": "garch"},
                            "horizon_days": 5})
    assert ref.status_code == 200, ref.text
    body = ref.json()
    import pandas as pd
    from arch.data import nasdaq

    close = nasdaq.load()["Close"]
    r = np.diff(np.log(close[close.index >= pd.Timestamp("2010-01-01")].to_numpy()))
    assert body["n_observations"] == r.size and body["last_date"] == "2018-12-31" and body["in_sample"]
    inline = post(client, FC, {"data": {"returns": r.tolist()}, "model": {"model_type": "garch"}, "horizon_days": 5})
    assert inline.json()["variance"] == pytest.approx(body["variance"], rel=1e-9)
    own = arch_model(100 * r, vol="GARCH", p=1, q=1, dist="t").fit(disp="off")
    assert list(body["params"].values()) == pytest.approx(own.params.to_list(), rel=1e-6)
    want = own.forecast(horizon=5, reindex=False).variance.to_numpy()[-1] / 1e4
    assert body["variance"] == pytest.approx(want.tolist(), rel=1e-9)


def test_evaluate_when_stored_nasdaq_then_out_of_sample_window_and_baseline_side_by_side(client):
    r = post(client, EV, {"data": {"symbol": "^IXIC"}, "model": {"model_type": "gjr_garch"}, "refit_every": 250,
                          "min_train": 1000, "include_series": True})
    assert r.status_code == 200, r.text
    b = r.json()
    n = nasdaq_returns().size
    assert b["window"]["n_forecasts"] == n - 1000 and b["window"]["first_date"] is not None
    assert len(b["forecasts"]) == len(b["baseline_forecasts"]) == len(b["realised"]) == n - 1000
    assert {d["loss"] for d in b["diebold_mariano"]} == {"qlike", "mse"}
    assert b["model"]["qlike"] != b["baseline"]["qlike"] and b["verdict"]


def test_operations_when_key_has_compute_scope_then_served_and_read_only_key_403(client):
    body = {"data": {"symbol": "^IXIC", "start": "2017-01-01"}, "model": {"model_type": "ewma"}}
    ok = post(client, FC, body, headers={"X-API-Key": COMPUTE_KEY, "X-Nautilus-Internal": ""})
    assert ok.status_code == 200, ok.text
    denied = post(client, FC, body, headers={"X-API-Key": READ_KEY, "X-Nautilus-Internal": ""})
    assert denied.status_code == 403 and denied.json()["needed_scope"] == "compute"


@pytest.mark.parametrize("body,status,field", [
    ({"data": {"symbol": "NOPE_ML"}, "model": {"model_type": "garch"}}, 404, "data.symbol"),
    ({"data": {"symbol": "^IXIC"}, "model": {"model_type": "lstm"}}, 422, "model"),
    ({"data": {"symbol": "^IXIC"}, "model": {"model_type": "ewma", "lam": 1.5}}, 422, "model.ewma.lam"),
    ({"data": {"symbol": "^IXIC"}, "model": {"model_type": "garch", "p": 9}}, 422, "model.garch.p"),
    ({"data": {"returns": [0.01] * 10}, "model": {"model_type": "garch"}}, 422, "data.returns"),
    ({"data": {"symbol": "^IXIC", "start": "2018-10-01"}, "model": {"model_type": "garch"}}, 422, "data.returns"),
    ({"data": {"symbol": "^IXIC"}, "model": {"model_type": "garch"}, "horizon_days": 500}, 422, "horizon_days"),
])
def test_forecast_when_bad_input_then_problem_json_naming_field(client, body, status, field):
    r = post(client, FC, body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in r.json()["errors"]], r.json()


def test_detect_regimes_when_stored_nasdaq_then_paths_transitions_and_baseline(client):
    r = post(client, "/api/v1/ml/detect_regimes", {"data": {"symbol": "^IXIC", "start": "2005-01-01"},
                                                  "model": {"model_type": "hmm", "n_regimes": 2}})
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["first_test_date"] > "2005-01-01" and len(b["path_out_of_sample"]) == b["n_test"]
    assert len(b["transition_matrix"]) == 2 and b["out_of_sample"]["regimes"][0]["regime"] == 0
    assert b["baseline_out_of_sample"]["persistence"] > 0
    bad = post(client, "/api/v1/ml/detect_regimes", {"data": {"symbol": "^IXIC"},
                                                    "model": {"model_type": "hmm", "n_regimes": 9}})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "model.hmm.n_regimes"


def test_evaluate_direction_when_stored_bars_and_feature_set_then_scored_next_to_baselines(client, database_url):
    async def make_set() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("DELETE FROM feature_sets WHERE name = 'ml-dir-test'")
            await conn.execute("INSERT INTO feature_sets (name, indicators) VALUES ('ml-dir-test', $1::jsonb)",
                               json.dumps([{"name": "rsi", "params": {}}, {"name": "atr", "params": {}}]))
        finally:
            await conn.close()

    asyncio.run(make_set())
    body = {"data": {"symbol": "^IXIC", "start": "2014-01-01"}, "model": {"model_type": "hgb", "max_iter": 10},
            "feature_set": "ml-dir-test", "min_train": 600, "refit_every": 400}
    r = post(client, "/api/v1/ml/evaluate_direction", body)
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["features"] == ["rsi_14", "atr_14"] and b["window"]["first_date"] > "2014-01-01"
    assert set(b["baselines"]) == {"historical_frequency", "persistence"} and len(b["diebold_mariano"]) == 2
    missing = post(client, "/api/v1/ml/evaluate_direction", {**body, "feature_set": "no-such-set"})
    assert missing.status_code == 404 and missing.json()["errors"][0]["field"] == "feature_set"
    lstm_with_features = post(client, "/api/v1/ml/evaluate_direction", {**body, "model": {"model_type": "lstm"}})
    assert lstm_with_features.status_code == 422
