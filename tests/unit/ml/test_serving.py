"""Serving direction models: a network by value equals the same torch network built by hand, is loaded once
and kept resident, refuses tensors or rows that do not fit; registry artifacts only from the instance's
model directory; on a CUDA or MPS device the answer is within the operation's tolerance of the CPU's."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from backend.contract.operation import OpContext, load_engine
from backend.core.errors import InvalidInput
from engines.ml.compute import nets, serving
from engines.ml.models.direction import LstmSpec, MlpSpec
from native_engines.device import select_device

OP = load_engine("ml").operation("predict_direction")
CTX = OpContext(engine="ml")
HAS_GPU = torch.cuda.is_available() or (hasattr(torch.backends, "mps") and torch.backends.mps.is_available())


def by_hand(example: dict) -> np.ndarray:
    req = OP.request.model_validate(example)
    net = nets.build(req.inline.spec, req.inline.n_features)
    net.load_state_dict({k: torch.tensor(v, dtype=torch.float32).reshape(net.state_dict()[k].shape)
                         for k, v in example["inline"]["state"].items()})
    return nets.predict_proba(net.eval(), req.rows)


def test_predict_when_network_by_value_then_equals_torch_by_hand_and_stays_resident():
    res = serving.predict_direction(OP.request.model_validate(OP.example), CTX)
    assert np.array_equal(res.probability_up, by_hand(OP.example)) and res.device == "cpu"
    before = serving.resident_count()
    again = serving.predict_direction(OP.request.model_validate(OP.example), CTX)
    assert serving.resident_count() == before and np.array_equal(again.probability_up, res.probability_up)


def test_predict_when_lstm_by_value_then_equals_torch_by_hand():
    spec = {"model_type": "lstm", "window": 6, "hidden": 3}
    net = nets.build(LstmSpec(**spec), 6)
    rng = np.random.default_rng(0)
    state = {k: rng.normal(0, 0.5, v.numel()).round(6).tolist() for k, v in net.state_dict().items()}
    state["scale"] = [0.01]
    body = {"inline": {"spec": spec, "n_features": 6, "state": state},
            "rows": rng.normal(0, 0.01, (7, 6)).tolist()}
    res = serving.predict_direction(OP.request.model_validate(body), CTX)
    assert res.model_type == "lstm" and np.array_equal(res.probability_up, by_hand(body))


@pytest.mark.parametrize("change,field", [
    (lambda b: b["inline"]["state"].update({"body.0.bias": [0.1, 0.2]}), "inline.state.body.0.bias"),
    (lambda b: b["inline"]["state"].pop("mu"), "inline.state"),
    (lambda b: b.update({"rows": [[0.1, 0.2]]}), "rows"),
])
def test_predict_when_tensors_or_rows_do_not_fit_then_invalid_input_naming_field(change, field):
    body = copy.deepcopy(OP.example)
    change(body)
    with pytest.raises(InvalidInput) as e:
        serving.predict_direction(OP.request.model_validate(body), CTX)
    assert e.value.field == field


def test_predict_when_artifact_outside_the_model_directory_then_refused(tmp_path):
    from tests.support.access import instance_settings

    body = {"name": "x", "rows": [[0.0, 1.0, 2.0]], "artifact": {
        "name": "x", "version": 1, "stage": "production", "model_type": "mlp", "path": "/etc/passwd",
        "sha256": "0" * 64}}
    ctx = OpContext(engine="ml", settings=instance_settings(run_dir=tmp_path))
    with pytest.raises(InvalidInput) as e:
        serving.predict_direction(OP.request.model_validate(body), ctx)
    assert e.value.field == "artifact.path"


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="no CUDA or MPS device")
def test_predict_when_on_the_gpu_then_within_declared_tolerance_of_cpu():
    rng = np.random.default_rng(1)
    net = nets.build(MlpSpec(model_type="mlp", hidden=[64, 32]), 30)
    state = {k: (np.ones(v.numel()) if k == "sd" else rng.normal(0, 0.3, v.numel())).tolist()
             for k, v in net.state_dict().items()}
    body = {"inline": {"spec": {"model_type": "mlp", "hidden": [64, 32]}, "n_features": 30, "state": state},
            "rows": rng.normal(size=(10_000, 30)).tolist()}
    req = OP.request.model_validate(body)
    gpu = select_device()
    cpu_p = serving.predict_direction(req, CTX).probability_up
    gpu_res = serving.predict_direction(req, OpContext(engine="ml", device=gpu.device))
    assert gpu_res.device == gpu.device
    np.testing.assert_allclose(gpu_res.probability_up, cpu_p, rtol=OP.rtol, atol=1e-6)
