"""Training as jobs into the model registry, against real PostgreSQL and Redis: versions with their dataset,
data hash, out-of-sample metrics and artifact hash; promotion, roll-back, champion/challenger on an
out-of-sample window, prediction from the champion; a corrupted artifact, an archived or deleted version,
a cancelled job and bad requests leave nothing half-written."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from arch import arch_model
from fastapi.testclient import TestClient

from backend.contract.operation import load_engine
from backend.service.app import make_engine_app
from tests.integration.test_ml_volatility import samples  # noqa: F401 - the stored NASDAQ sample
from tests.support.access import INTERNAL_HEADERS, instance_settings

pytestmark = pytest.mark.timeout(300)
TRAIN = {"data": {"symbol": "^IXIC", "end": "2012-12-31"},
         "evaluation": {"min_train": 1000, "refit_every": 500}, "forecast_horizon_days": 5}
WINDOW = {"symbol": "^IXIC", "start": "2013-01-01"}


@pytest.fixture(scope="module")
def client(samples, database_url, redis_url, tmp_path_factory):  # noqa: ANN001, ANN201, F811
    run_dir = tmp_path_factory.mktemp("ml-run")
    settings = instance_settings(database_url=database_url, redis_url=redis_url, run_dir=run_dir, job_workers=1)
    with TestClient(make_engine_app(load_engine("ml"), settings), headers=INTERNAL_HEADERS) as c:
        yield c


def call(c: TestClient, op: str, body: dict):  # noqa: ANN201
    return c.post(f"/api/v1/ml/{op}", content=json.dumps(body), headers={"content-type": "application/json"})


def wait_job(c: TestClient, job_id: str, statuses=("succeeded", "failed", "cancelled"), timeout_s=240.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        job = call(c, "get_job", {"job_id": job_id}).json()
        if job["status"] in statuses:
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.2)


def train(c: TestClient, name: str, model: dict) -> dict:
    r = call(c, "train_volatility_model", {**TRAIN, "name": name, "model": model})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "queued" and r.json()["kind"] == "train_volatility"
    job = wait_job(c, r.json()["id"])
    assert job["status"] == "succeeded", job
    return job


@pytest.fixture(scope="module")
def trained(client) -> dict:  # noqa: ANN001
    j1 = train(client, "ixic-vol", {"model_type": "gjr_garch"})
    j2 = train(client, "ixic-vol", {"model_type": "garch"})
    return {"v1": j1, "v2": j2}


def test_train_when_job_succeeds_then_version_in_staging_with_dataset_hash_and_oos_metrics(client, trained):
    j1 = trained["v1"]
    assert j1["result"]["version"] == 1 and j1["result"]["stage"] == "staging"
    assert j1["progress"] == 1.0
    model = call(client, "get_model", {"name": "ixic-vol"}).json()
    assert model["task"] == "volatility" and model["production_version"] is None
    v1, v2 = model["versions"]
    assert (v1["version"], v1["model_type"], v2["model_type"]) == (1, "gjr_garch", "garch")
    assert v1["data_hash"] == v2["data_hash"] and v1["dataset"]["symbol"] == "^IXIC"
    assert v1["train_end"] == "2012-12-31" and v1["n_train"] == v1["dataset"]["n_returns"]
    m = v1["metrics"]
    assert m["window"]["refits"] == -(-(v1["n_train"] - 1000) // 500)
    assert m["window"]["n_forecasts"] == v1["n_train"] - 1000 and m["baseline"]["qlike"] != m["model"]["qlike"]
    assert m["verdict"] and v1["artifact_hash"] != v2["artifact_hash"]


def test_train_when_same_request_again_then_same_metrics_and_artifact(client, trained):
    j = train(client, "ixic-vol-repro", {"model_type": "gjr_garch"})
    model = call(client, "get_model", {"name": "ixic-vol-repro"}).json()
    v1 = call(client, "get_model", {"name": "ixic-vol"}).json()["versions"][0]
    assert model["versions"][0]["artifact_hash"] == v1["artifact_hash"]
    assert model["versions"][0]["metrics"] == v1["metrics"] and j["result"]["verdict"] == trained["v1"]["result"][
        "verdict"]


def test_promote_then_predict_with_champion_equals_arch_with_the_stored_parameters(client, trained):
    r = call(client, "predict_volatility", {"name": "ixic-vol", "data": WINDOW})
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "name"
    p = call(client, "promote_model_version", {"name": "ixic-vol", "version": 1, "reason": "first champion"})
    assert p.status_code == 200 and p.json() == {"name": "ixic-vol", "version": 1, "stage": "production",
                                                  "previous_stage": "staging", "archived_version": None,
                                                  "comparison": None}
    pred = call(client, "predict_volatility", {"name": "ixic-vol", "data": WINDOW, "horizon_days": 3})
    assert pred.status_code == 200, pred.text
    assert pred.json()["version"] == 1 and pred.json()["last_date"] == "2018-12-31"
    # independently: arch with the trained parameters, filtered through the window's returns
    from arch.data import nasdaq

    close = nasdaq.load()["Close"]
    train_r = np.diff(np.log(close[close.index <= "2012-12-31"].to_numpy()))
    params = arch_model(100 * train_r, vol="GARCH", p=1, o=1, q=1, dist="t").fit(disp="off").params
    win = np.diff(np.log(close[close.index >= "2013-01-01"].to_numpy()))
    want = arch_model(100 * win, vol="GARCH", p=1, o=1, q=1, dist="t").fix(params).forecast(
        horizon=3, reindex=False).variance.to_numpy()[-1] / 1e4
    assert pred.json()["variance"] == pytest.approx(want.tolist(), rel=1e-6)


def test_compare_when_window_after_training_then_both_versions_and_baseline_on_same_forecasts(client, trained):
    r = call(client, "compare_model_versions", {"name": "ixic-vol", "champion": 1, "challenger": 2, "data": WINDOW})
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["champion"]["version"] == 1 and b["challenger"]["version"] == 2
    assert b["n_forecasts"] > 1400 and b["first_date"] > "2013-01-01"
    assert b["challenger_better"] == (b["challenger"]["losses"]["qlike"] < b["champion"]["losses"]["qlike"]
                                      and b["diebold_mariano"][0]["p_value"] < 0.05)
    inside = call(client, "compare_model_versions", {"name": "ixic-vol", "champion": 1, "challenger": 2,
                                                     "data": {"symbol": "^IXIC", "start": "2011-01-01"}})
    assert inside.status_code == 422 and inside.json()["errors"][0]["field"] == "data"


def test_promote_challenger_then_champion_archived_cannot_predict_and_rollback_restores(client, trained):
    call(client, "promote_model_version", {"name": "ixic-vol", "version": 1})  # (already, if run alone: 409)
    r = call(client, "promote_model_version", {"name": "ixic-vol", "version": 2})
    assert r.status_code == 200 and r.json()["archived_version"] == 1
    old = call(client, "predict_volatility", {"name": "ixic-vol", "version": 1, "data": WINDOW})
    assert old.status_code == 409 and old.json()["errors"][0]["field"] == "version"
    back = call(client, "promote_model_version", {"name": "ixic-vol", "version": 1, "reason": "roll back"})
    assert back.status_code == 200 and back.json()["archived_version"] == 2
    model = call(client, "get_model", {"name": "ixic-vol"}).json()
    assert model["production_version"] == 1 and [v["stage"] for v in model["versions"]] == ["production", "archived"]
    again = call(client, "promote_model_version", {"name": "ixic-vol", "version": 1})
    assert again.status_code == 409


def test_predict_when_artifact_corrupted_then_409_and_registry_unchanged(client, trained, database_url):
    import asyncio

    import asyncpg

    async def path() -> str:
        conn = await asyncpg.connect(database_url)
        try:
            return await conn.fetchval("SELECT artifact_path FROM ml_model_versions WHERE name = 'ixic-vol-repro'")
        finally:
            await conn.close()

    art = Path(asyncio.run(path()))
    good = art.read_bytes()
    call(client, "promote_model_version", {"name": "ixic-vol-repro", "version": 1})
    art.write_bytes(good.replace(b'"omega"', b'"omegA"'))
    try:
        r = call(client, "predict_volatility", {"name": "ixic-vol-repro", "data": WINDOW})
        assert r.status_code == 409 and "sha256" in r.json()["detail"]
    finally:
        art.write_bytes(good)
    assert call(client, "predict_volatility", {"name": "ixic-vol-repro", "data": WINDOW}).status_code == 200


def test_delete_when_production_then_409_else_row_and_artifact_gone(client, trained):
    prod = call(client, "get_model", {"name": "ixic-vol"}).json()["production_version"]
    assert call(client, "delete_model_version", {"name": "ixic-vol", "version": prod}).status_code == 409
    other = 3 - prod
    r = call(client, "delete_model_version", {"name": "ixic-vol", "version": other})
    assert r.status_code == 200 and r.json()["artifact_removed"]
    assert [v["version"] for v in call(client, "get_model", {"name": "ixic-vol"}).json()["versions"]] == [prod]
    gone = call(client, "predict_volatility", {"name": "ixic-vol", "version": other, "data": WINDOW})
    assert gone.status_code == 404 and gone.json()["errors"][0]["field"] == "version"


def test_train_when_cancelled_then_cancelled_and_no_version(client):
    r = call(client, "train_volatility_model", {
        "name": "ixic-cancel", "model": {"model_type": "gjr_garch"}, "data": {"symbol": "^IXIC"},
        "evaluation": {"min_train": 500, "refit_every": 5}})
    job_id = r.json()["id"]
    wait_job(client, job_id, ("running",))
    assert call(client, "cancel_job", {"job_id": job_id}).status_code == 200
    assert wait_job(client, job_id)["status"] == "cancelled"
    assert call(client, "get_model", {"name": "ixic-cancel"}).status_code == 404


@pytest.mark.parametrize("body,field", [
    ({"model": {"model_type": "transformer"}}, "model"),
    ({"model": {"model_type": "garch", "dist": "cauchy"}}, "model.garch.dist"),
    ({"model": {"model_type": "garch"}, "evaluation": {"min_train": 9000}}, "evaluation.min_train"),
    ({"model": {"model_type": "garch"}, "evaluation": {"refit_every": 1}}, "evaluation.refit_every"),
    ({"model": {"model_type": "garch"}, "name": "Bad Name"}, "name"),
    ({"model": {"model_type": "garch"}, "data": {"symbol": "NOPE_ML"}}, "data.symbol"),
])
def test_train_when_bad_request_then_4xx_naming_field_and_no_job(client, body, field):
    before = call(client, "list_jobs", {}).json()["total"]
    r = call(client, "train_volatility_model", {**TRAIN, "name": "ixic-bad", **body})
    assert 400 <= r.status_code < 500, r.text
    assert field in [e["field"] for e in r.json()["errors"]], r.json()
    assert call(client, "list_jobs", {}).json()["total"] == before


def test_train_when_registration_fails_then_job_failed_no_version_and_no_artifact_left(client, database_url):
    import asyncio

    import asyncpg

    r = call(client, "train_volatility_model", {**TRAIN, "name": "ixic-clash", "model": {"model_type": "garch"},
                                                "evaluation": {"min_train": 1000, "refit_every": 100}})
    assert r.status_code == 200, r.text

    async def clash() -> None:  # another model of that name, of another task, appears meanwhile
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("INSERT INTO ml_models (name, task) VALUES ('ixic-clash', 'direction')")
        finally:
            await conn.close()

    asyncio.run(clash())
    job = wait_job(client, r.json()["id"])
    assert job["status"] == "failed" and "direction" in job["error"]
    model = call(client, "get_model", {"name": "ixic-clash"}).json()
    assert model["task"] == "direction" and model["versions"] == []
    run_dir = Path(job["params"]["run_dir"])
    assert not list((run_dir / "models" / "ixic-clash").glob("*"))


def test_promote_when_comparison_required_then_only_a_better_challenger_replaces_the_champion(client):
    train(client, "ixic-gate", {"model_type": "gjr_garch"})
    train(client, "ixic-gate", {"model_type": "ewma"})
    assert call(client, "promote_model_version", {"name": "ixic-gate", "version": 1}).status_code == 200
    worse = call(client, "promote_model_version", {"name": "ixic-gate", "version": 2, "require_better_on": WINDOW})
    assert worse.status_code == 409 and worse.json()["errors"][0]["field"] == "require_better_on"
    assert worse.json()["comparison"]["challenger"]["version"] == 2
    assert call(client, "get_model", {"name": "ixic-gate"}).json()["production_version"] == 1
    call(client, "promote_model_version", {"name": "ixic-gate", "version": 2})  # forced: no requirement
    better = call(client, "promote_model_version", {"name": "ixic-gate", "version": 1, "require_better_on": WINDOW})
    assert better.status_code == 200, better.text
    c = better.json()["comparison"]
    assert c["challenger_better"] and c["champion"]["version"] == 2 and better.json()["archived_version"] == 2
