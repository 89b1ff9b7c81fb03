"""The ML engine as a process behind the gateway, with scoped keys: a compute key trains (a job in the
engine's worker) and predicts, cannot promote (data-admin); the admin key promotes; the gateway names the
backend that served."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.integration.test_ml_volatility import COMPUTE_KEY, READ_KEY, samples  # noqa: F401
from tests.support.access import ADMIN_HEADERS
from tests.support.procs import Proc, base_env, free_port

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def platform(samples, tmp_path_factory, database_url, redis_url):  # noqa: ANN001, ANN201, F811
    tmp = tmp_path_factory.mktemp("mlgw")
    ml, gw_port = free_port(), free_port()
    env = base_env(tmp, DATABASE_URL=database_url, REDIS_URL=redis_url, NAUTILUS_PORT_ML=str(ml),
                   NAUTILUS_JOB_WORKERS="1", NAUTILUS_NATIVE_ENABLED="false")
    engine = Proc("ml", "engines.ml", env, ml, tmp / "ml.log").start()
    gw_env = {**env, "NAUTILUS_PORT_GATEWAY": str(gw_port),
              "NAUTILUS_ENGINE_URLS": json.dumps({"ml": [f"http://127.0.0.1:{ml}"]})}
    gw = Proc("gateway", "backend.gateway", gw_env, gw_port, tmp / "gw.log").start()
    yield f"http://127.0.0.1:{gw_port}", ml
    gw.stop()
    engine.stop()


def post(url: str, op: str, body: dict, key: str | None = None) -> httpx.Response:
    headers = ADMIN_HEADERS if key is None else {"X-API-Key": key}
    return httpx.post(f"{url}/api/v1/ml/{op}", json=body, headers=headers, timeout=60)


def test_gateway_when_compute_key_trains_and_admin_promotes_then_champion_predicts(platform):
    url, ml_port = platform
    body = {"name": "gw-ixic", "model": {"model_type": "garch"}, "data": {"symbol": "^IXIC", "end": "2008-12-31"},
            "evaluation": {"min_train": 1000, "refit_every": 500}}
    assert post(url, "train_volatility_model", body, READ_KEY).status_code == 403
    r = post(url, "train_volatility_model", body, COMPUTE_KEY)
    assert r.status_code == 200, r.text
    assert r.headers["x-backend"] == f"http:ml@127.0.0.1:{ml_port}"
    deadline = time.monotonic() + 240
    while (job := post(url, "get_job", {"job_id": r.json()["id"]}, READ_KEY).json())["status"] not in (
            "succeeded", "failed", "cancelled"):
        assert time.monotonic() < deadline, job
        time.sleep(0.3)
    assert job["status"] == "succeeded", job
    version = job["result"]["version"]
    denied = post(url, "promote_model_version", {"name": "gw-ixic", "version": version}, COMPUTE_KEY)
    assert denied.status_code == 403 and denied.json()["needed_scope"] == "data-admin"
    assert post(url, "promote_model_version", {"name": "gw-ixic", "version": version}).status_code == 200
    pred = post(url, "predict_volatility", {"name": "gw-ixic", "data": {"symbol": "^IXIC", "start": "2009-01-01"},
                                            "horizon_days": 2}, COMPUTE_KEY)
    assert pred.status_code == 200 and pred.json()["version"] == version and len(pred.json()["variance"]) == 2
    listed = post(url, "list_models", {}, READ_KEY).json()
    assert "gw-ixic" in [m["name"] for m in listed["items"]]
