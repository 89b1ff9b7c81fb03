"""Device selection, and (on a machine with CUDA or MPS) GPU results equal CPU results."""

import pytest
import torch

from backend.contract.operation import OpContext
from engines.risk.ops import ENGINE
from native_engines.device import select_device

HAS_CUDA = torch.cuda.is_available()
HAS_MPS = hasattr(torch.backends, "mps") and torch.backends.mps.is_available()


def test_select_when_cpu_forced_then_cpu_without_fallback():
    info = select_device("cpu")
    assert info.device == "cpu" and info.fallback_reason is None
    assert info.as_dict()["torch"] == torch.__version__


def test_select_when_unknown_override_then_cpu_with_reason():
    info = select_device("tpu")
    assert info.device == "cpu" and "unknown" in info.fallback_reason


@pytest.mark.skipif(HAS_CUDA, reason="CUDA present")
def test_select_when_cuda_requested_but_absent_then_cpu_with_reason():
    info = select_device("cuda")
    assert info.device == "cpu" and "CUDA is not available" in info.fallback_reason
    assert info.as_dict()["fallback"] is True


@pytest.mark.gpu
@pytest.mark.skipif(not (HAS_CUDA or HAS_MPS), reason="no CUDA or MPS device")
@pytest.mark.parametrize("name", ["simulate_monte_carlo_var", "revalue_options"])
def test_gpu_result_when_same_request_then_within_declared_tolerance_of_cpu(name):
    op = ENGINE.operation(name)
    gpu = select_device()
    req = op.request.model_validate({**op.example, "n_scenarios": 400_000})
    cpu_res = op.load()(req, OpContext(engine="risk", device="cpu"))
    gpu_res = op.load()(req, OpContext(engine="risk", device=gpu.device))
    a, b = cpu_res.model_dump(), gpu_res.model_dump()
    levels = "levels" if "levels" in a else "full"
    for x, y in zip(a[levels], b[levels], strict=True):
        assert y["var"] == pytest.approx(x["var"], rel=op.rtol)
        assert y["cvar"] == pytest.approx(x["cvar"], rel=op.rtol)
