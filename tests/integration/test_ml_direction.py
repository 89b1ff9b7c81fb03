"""Direction models trained as jobs into the registry and served from it, against real PostgreSQL: a tiny
torch MLP (safetensors) and a histogram GBM (skops) on stored NASDAQ bars with the features engine's
indicators; predictions equal the artifact loaded independently; archived and corrupted versions refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from backend.contract.operation import load_engine
from backend.service.app import make_engine_app
from engines.ml.compute import direction as dr
from engines.ml.compute import nets
from engines.ml.models.direction import EvaluateDirectionRequest, MlpSpec
from tests.integration.test_ml_registry import call, wait_job
from tests.integration.test_ml_volatility import samples  # noqa: F401
from tests.support.access import INTERNAL_HEADERS, instance_settings

pytestmark = pytest.mark.timeout(300)
IND = [{"name": "rsi"}, {"name": "atr"}, {"name": "roc", "params": {"timeperiod": 5}}]
TRAIN = {"data": {"symbol": "^IXIC", "start": "2012-01-01"}, "indicators": IND, "min_train": 600,
         "refit_every": 600}


@pytest.fixture(scope="module")
def client(samples, database_url, redis_url, tmp_path_factory):  # noqa: ANN001, ANN201, F811
    run_dir = tmp_path_factory.mktemp("ml-dir-run")
    settings = instance_settings(database_url=database_url, redis_url=redis_url, run_dir=run_dir, job_workers=1)
    with TestClient(make_engine_app(load_engine("ml"), settings), headers=INTERNAL_HEADERS) as c:
        yield c


def feature_rows(n: int = 50) -> np.ndarray:
    """The last n rows of the same features, computed here from arch's package data."""
    from arch.data import nasdaq

    df = nasdaq.load()
    df = df[df.index >= "2012-01-01"]
    bars = {k.lower(): df[k].to_numpy(dtype=np.float64) for k in ("Open", "High", "Low", "Close", "Volume")}
    req = EvaluateDirectionRequest(data={"close": bars["close"]}, model={"model_type": "hgb"}, indicators=IND)
    X, _ = dr.indicator_features(bars, req.indicators)
    return X[-n:]


def train(c: TestClient, name: str, model: dict) -> dict:
    r = call(c, "train_direction_model", {**TRAIN, "name": name, "model": model})
    assert r.status_code == 200, r.text
    job = wait_job(c, r.json()["id"])
    assert job["status"] == "succeeded", job
    return job


def artifact_path(database_url: str, name: str) -> Path:
    import asyncio

    import asyncpg

    async def get() -> str:
        conn = await asyncpg.connect(database_url)
        try:
            return await conn.fetchval("SELECT artifact_path FROM ml_model_versions WHERE name = $1", name)
        finally:
            await conn.close()

    return Path(asyncio.run(get()))


def test_mlp_when_trained_and_promoted_then_predictions_equal_its_safetensors_loaded_by_hand(client, database_url):
    job = train(client, "ixic-dir-mlp", {"model_type": "mlp", "hidden": [8], "epochs": 2})
    assert job["result"]["version"] == 1 and "baseline" in job["result"]["verdict"]
    model = call(client, "get_model", {"name": "ixic-dir-mlp"}).json()
    v = model["versions"][0]
    assert model["task"] == "direction" and v["hyperparams"]["features"] == ["rsi_14", "atr_14", "roc_5"]
    assert set(v["metrics"]["baselines"]) == {"historical_frequency", "persistence"}
    rows = feature_rows()
    r = call(client, "predict_direction", {"name": "ixic-dir-mlp", "version": 1, "rows": rows.tolist()})
    assert r.status_code == 200, r.text
    from safetensors.torch import load_file

    art = artifact_path(database_url, "ixic-dir-mlp")
    net = nets.build(MlpSpec(model_type="mlp", hidden=[8]), 3)
    net.load_state_dict(load_file(art))
    assert np.array_equal(np.asarray(r.json()["probability_up"]), nets.predict_proba(net.eval(), rows))
    assert r.json()["version"] == 1 and r.json()["device"] == "cpu"
    # promoted: served by default; archived after a second promotion: refused
    assert call(client, "predict_direction", {"name": "ixic-dir-mlp", "rows": rows.tolist()}).status_code == 404
    call(client, "promote_model_version", {"name": "ixic-dir-mlp", "version": 1})
    assert call(client, "predict_direction", {"name": "ixic-dir-mlp", "rows": rows.tolist()}).json()[
        "probability_up"] == r.json()["probability_up"]
    call(client, "promote_model_version", {"name": "ixic-dir-mlp", "version": 1, "stage": "archived"})
    old = call(client, "predict_direction", {"name": "ixic-dir-mlp", "version": 1, "rows": rows.tolist()})
    assert old.status_code == 409


def test_hgb_when_trained_then_skops_artifact_verified_served_and_wrong_width_is_422(client, database_url):
    train(client, "ixic-dir-hgb", {"model_type": "hgb", "max_iter": 10})
    rows = feature_rows()
    art = artifact_path(database_url, "ixic-dir-hgb")
    good = art.read_bytes()
    art.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))  # one bit flipped before the first load
    try:
        r = call(client, "predict_direction", {"name": "ixic-dir-hgb", "version": 1, "rows": rows.tolist()})
        assert r.status_code == 409 and "sha256" in r.json()["detail"]
    finally:
        art.write_bytes(good)
    r = call(client, "predict_direction", {"name": "ixic-dir-hgb", "version": 1, "rows": rows.tolist()})
    assert r.status_code == 200, r.text
    p = np.asarray(r.json()["probability_up"])
    assert p.shape == (50,) and ((p > 0) & (p < 1)).all() and r.json()["model_type"] == "hgb"
    bad = call(client, "predict_direction", {"name": "ixic-dir-hgb", "version": 1, "rows": rows[:, :2].tolist()})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "rows"


@pytest.mark.parametrize("body,field", [
    ({"model": {"model_type": "mlp"}, "placebo": True}, "placebo"),
    ({"model": {"model_type": "mlp"}, "min_train": 5000}, "min_train"),
    ({"model": {"model_type": "mlp"}, "feature_set": "no-such-set", "indicators": None}, "feature_set"),
    ({"model": {"model_type": "lstm"}}, "body"),
])
def test_train_direction_when_bad_request_then_4xx_and_no_job(client, body, field):
    before = call(client, "list_jobs", {}).json()["total"]
    r = call(client, "train_direction_model", {**TRAIN, "name": "ixic-dir-bad", **body})
    assert 400 <= r.status_code < 500, r.text
    assert call(client, "list_jobs", {}).json()["total"] == before


def test_predict_when_by_reference_then_engine_builds_the_features_from_bars_up_to_the_date(client):
    from arch.data import nasdaq

    call(client, "promote_model_version", {"name": "ixic-dir-mlp", "version": 1})
    r = call(client, "predict_direction", {"name": "ixic-dir-mlp", "at": {"symbol": "^IXIC", "as_of": "2018-06-02",
                                                                          "history_bars": 300}})
    assert r.status_code == 200, r.text
    assert r.json()["bar_date"] == "2018-06-01"  # a Saturday: the last bar on or before it
    df = nasdaq.load()
    df = df[df.index <= "2018-06-01"].iloc[-300:]
    bars = {k.lower(): df[k].to_numpy(dtype=np.float64) for k in ("Open", "High", "Low", "Close", "Volume")}
    req = EvaluateDirectionRequest(data={"close": bars["close"]}, model={"model_type": "hgb"}, indicators=IND)
    X, _ = dr.indicator_features(bars, req.indicators)
    by_value = call(client, "predict_direction", {"name": "ixic-dir-mlp", "rows": X[-1:].tolist()})
    assert r.json()["probability_up"] == by_value.json()["probability_up"]
    at = {"symbol": "^IXIC", "as_of": "1999-01-10"}  # 5 bars stored by then: RSI's warm-up is 14
    short = call(client, "predict_direction", {"name": "ixic-dir-mlp", "at": at})
    assert short.status_code == 422 and short.json()["errors"][0]["field"] == "at.history_bars"
    none = call(client, "predict_direction", {"name": "ixic-dir-mlp", "at": {**at, "as_of": "1990-01-01"}})
    assert none.status_code == 422 and none.json()["errors"][0]["field"] == "at.symbol"
    both = call(client, "predict_direction", {"name": "ixic-dir-mlp", "rows": X[-1:].tolist(),
                                              "at": {"symbol": "^IXIC", "as_of": "2018-06-01"}})
    assert both.status_code == 422


def test_compare_direction_when_window_after_training_then_both_scored_on_the_same_rows(client):
    window = {**TRAIN, "data": {"symbol": "^IXIC", "start": "2012-01-01", "end": "2016-12-31"}}
    for model in ({"model_type": "hgb", "max_iter": 10}, {"model_type": "mlp", "hidden": [8], "epochs": 2}):
        r = call(client, "train_direction_model", {**window, "name": "ixic-dir-cmp", "model": model})
        assert wait_job(client, r.json()["id"])["status"] == "succeeded"
    c = call(client, "compare_direction_versions", {"name": "ixic-dir-cmp", "champion": 1, "challenger": 2,
                                                    "data": {"symbol": "^IXIC", "start": "2016-06-01"}})
    assert c.status_code == 200, c.text
    b = c.json()
    assert b["first_date"] > "2016-12-31" and b["n_forecasts"] > 400
    assert b["challenger_better"] == (b["challenger"]["scores"]["log_loss"] < b["champion"]["scores"]["log_loss"]
                                      and b["diebold_mariano"]["p_value"] < 0.05)
    inside = call(client, "compare_direction_versions", {"name": "ixic-dir-cmp", "champion": 1, "challenger": 2,
                                                         "data": {"symbol": "^IXIC", "start": "2014-01-01",
                                                                  "end": "2016-06-30"}})
    assert inside.status_code == 422 and inside.json()["errors"][0]["field"] == "data"
