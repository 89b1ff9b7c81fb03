"""predict_direction through the gateway: the registry version is resolved in the gateway (prepare) and the
model is served, resident, by the native ML process; equal to the HTTP ML engine and to torch by hand."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
import numpy as np
import pytest
import torch

from engines.ml.compute import nets, serving
from engines.ml.models.direction import MlpSpec
from engines.ml.registry import artifacts, store
from tests.support.access import ADMIN_HEADERS, INTERNAL_HEADERS
from tests.support.native import instance_env, start_module, stop, wait_socket
from tests.support.procs import Proc, base_env, free_port

pytestmark = pytest.mark.timeout(180)
NAME = "gwn-dir"
SPEC = MlpSpec(model_type="mlp", hidden=[16, 8])


def network() -> torch.nn.Module:
    torch.manual_seed(5)
    net = nets.build(SPEC, 30)
    with torch.no_grad():
        net.mu.copy_(torch.linspace(-1, 1, 30))
        net.sd.copy_(torch.linspace(0.5, 2, 30))
    return net.eval()


@pytest.fixture(scope="module")
def platform(tmp_path_factory, database_url, redis_url):  # noqa: ANN001, ANN201
    tmp = tmp_path_factory.mktemp("mlnative")
    path = artifacts.models_dir(tmp) / NAME / "manual.safetensors"
    digest = serving.save_torch(path, network(), {"spec": SPEC.model_dump(mode="json"), "n_features": 30})

    async def register() -> None:
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
        try:
            await pool.execute("DELETE FROM ml_models WHERE name = $1", NAME)
            row = {"model_type": "mlp", "hyperparams": SPEC.model_dump(mode="json"), "dataset": {"inline": True},
                   "data_hash": "0" * 64, "n_train": 0, "train_start": None, "train_end": None, "metrics": {},
                   "artifact_path": str(path), "artifact_hash": digest, "job_id": None}
            v = await store.register(pool, name=NAME, task="direction", description="", row=row)
            await store.set_stage(pool, NAME, v, "production", "test")
        finally:
            await pool.close()

    asyncio.run(register())
    ml_port, gw_port = free_port(), free_port()
    env = instance_env(base_env(tmp, DATABASE_URL=database_url, REDIS_URL=redis_url, NAUTILUS_PORT_ML=str(ml_port),
                                NAUTILUS_PORT_GATEWAY=str(gw_port), NAUTILUS_JOB_WORKERS="1"))
    native = start_module("native_engines.ml", env, tmp / "native.log")
    ml = Proc("ml", "engines.ml", env, ml_port, tmp / "ml.log").start()
    wait_socket(tmp / "ml.sock", proc=native)
    gw = Proc("gateway", "backend.gateway", env, gw_port, tmp / "gw.log").start()
    yield {"gw": f"http://127.0.0.1:{gw_port}", "ml": f"http://127.0.0.1:{ml_port}", "pool_url": database_url}
    gw.stop()
    ml.stop()
    stop(native)


def test_predict_when_registered_model_then_gateway_resolves_and_native_serves_equal_to_http(platform):
    rows = np.random.default_rng(2).normal(size=(100, 30))
    body = {"name": NAME, "rows": rows.tolist()}
    routed = httpx.post(platform["gw"] + "/api/v1/ml/predict_direction", headers=ADMIN_HEADERS, json=body,
                        timeout=60)
    assert routed.status_code == 200, routed.text
    assert routed.headers["x-backend"].startswith("native:")
    direct = httpx.post(platform["ml"] + "/api/v1/ml/predict_direction", headers=INTERNAL_HEADERS, json=body,
                        timeout=60)
    assert direct.status_code == 200 and routed.json() == direct.json()
    assert np.array_equal(np.asarray(routed.json()["probability_up"]), nets.predict_proba(network(), rows))
    assert routed.json()["version"] == 1


def test_predict_when_client_names_its_own_artifact_then_replaced_by_the_registry(platform):
    body = {"name": NAME, "rows": [[0.0] * 30], "artifact": {
        "name": NAME, "version": 1, "stage": "production", "model_type": "mlp", "path": "/etc/hostname",
        "sha256": "1" * 64}}
    r = httpx.post(platform["gw"] + "/api/v1/ml/predict_direction", headers=ADMIN_HEADERS, json=body, timeout=60)
    assert r.status_code == 200 and r.json()["probability_up"] == pytest.approx(
        nets.predict_proba(network(), np.zeros((1, 30))).tolist(), rel=1e-12)


def test_predict_when_unknown_model_then_404_from_the_gateway_prepare(platform):
    r = httpx.post(platform["gw"] + "/api/v1/ml/predict_direction", headers=ADMIN_HEADERS,
                   json={"name": "no-such-model", "rows": [[0.0] * 30]}, timeout=30)
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "name"
