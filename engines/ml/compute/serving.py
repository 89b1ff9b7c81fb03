"""Serving direction models: each model is loaded once per process and kept resident on the device.

A registered version arrives resolved by the prepare step (``ResolvedArtifact``: path, sha256, spec); its file
is read only from ``<run_dir>/models`` and only when its sha256 equals the registry's. Torch weights are
safetensors (tensors only, no code), histogram GBMs skops with a reviewed list of trusted types (never
"trust everything"). A network sent by value (``inline``) is cached by the hash of its content. The cache
holds ``MAX_RESIDENT`` models, least recently used out first. Concurrent calls on one torch model are
micro-batched (``batching.MicroBatcher``: no waiting window). Runs the same in the HTTP engine (CPU) and in
the native ML process (CUDA, then MPS, then CPU).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from backend.contract.operation import OpContext
from backend.core.errors import Conflict, InvalidInput, Unavailable
from engines.ml.models.direction import (
    InlineNet,
    LstmSpec,
    MlpSpec,
    PredictDirectionRequest,
    PredictDirectionResponse,
    ResolvedArtifact,
)
from engines.ml.registry import artifacts

MAX_RESIDENT = 16
#: Types skops may rebuild besides its defaults (reviewed: the fitted trees of a histogram GBM).
TRUSTED_SKOPS = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]
_SPECS = {"mlp": MlpSpec, "lstm": LstmSpec}


@dataclass
class Resident:
    model_type: str
    model: Any
    n_features: int
    device: str
    batcher: Any = None  # MicroBatcher of a torch model: concurrent calls share forward passes

    def __post_init__(self) -> None:
        if self.model_type != "hgb":
            from engines.ml.compute.batching import MicroBatcher

            self.batcher = MicroBatcher(self._forward)

    def _forward(self, rows: np.ndarray) -> np.ndarray:
        import torch

        from engines.ml.compute import nets

        return nets.predict_proba(self.model, torch.from_numpy(np.ascontiguousarray(rows, dtype=np.float32))
                                  .to(self.device))

    def predict(self, rows: np.ndarray) -> np.ndarray:
        if self.model_type == "hgb":
            return np.asarray(self.model.predict_proba(rows)[:, 1], dtype=np.float64)
        return self.batcher(rows)


_CACHE: OrderedDict[tuple[str, str], Resident] = OrderedDict()
_LOCK = threading.Lock()


def _resident(key: tuple[str, str], load: Any) -> Resident:
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    loaded = load()
    with _LOCK:
        _CACHE[key] = loaded
        while len(_CACHE) > MAX_RESIDENT:
            _CACHE.popitem(last=False)
    return loaded


def resident_count() -> int:
    return len(_CACHE)


# ---- writing (training jobs) ---------------------------------------------------------------------------
def save_torch(path: Path, net: Any, metadata: dict[str, Any]) -> str:
    from safetensors.torch import save_model

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_model(net, str(tmp), metadata={k: json.dumps(v) for k, v in metadata.items()})
    tmp.replace(path)
    return artifacts.sha256_file(path)


def save_hgb(path: Path, model: Any) -> str:
    import skops.io as sio

    path.parent.mkdir(parents=True, exist_ok=True)
    data = sio.dumps(model)
    untrusted = set(sio.get_untrusted_types(data=data)) - set(TRUSTED_SKOPS)
    if untrusted:  # a scikit-learn upgrade changed the types: review them before trusting
        raise RuntimeError(f"skops would need unreviewed types {sorted(untrusted)}")
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return hashlib.sha256(data).hexdigest()


# ---- loading ---------------------------------------------------------------------------------------------
def _torch_net(spec: MlpSpec | LstmSpec, n_features: int, tensors: dict[str, Any], device: str,
               where: str) -> Any:
    from engines.ml.compute import nets

    net = nets.build(spec, n_features)
    want = net.state_dict()
    missing, extra = sorted(set(want) - set(tensors)), sorted(set(tensors) - set(want))
    if missing or extra:
        raise InvalidInput(f"tensors do not fit a {spec.model_type} of width {n_features}: missing {missing[:5]}, "
                           f"unexpected {extra[:5]}", field=where)
    for k, t in tensors.items():
        if t.numel() != want[k].numel():
            raise InvalidInput(f"{k} has {t.numel()} values, the network needs {want[k].numel()}",
                               field=f"{where}.{k}")
    net.load_state_dict({k: t.reshape(want[k].shape).to(want[k].dtype) for k, t in tensors.items()})
    return net.to(device).eval()


def _load_artifact(a: ResolvedArtifact, device: str, ctx: OpContext) -> Resident:
    root = artifacts.models_dir(ctx.settings.run_dir).resolve() if ctx.settings is not None else None
    path = Path(a.path).resolve()
    if root is None or not path.is_relative_to(root):
        raise InvalidInput("the artifact is not in this instance's model directory", field="artifact.path")
    data = artifacts.read_verified(path, a.sha256, f"{a.name} v{a.version}")
    if a.model_type == "hgb":
        import skops.io as sio

        model = sio.loads(data, trusted=TRUSTED_SKOPS)
        return Resident("hgb", model, int(model.n_features_in_), "cpu")
    from safetensors.torch import load

    meta = json.loads(data[8:8 + int.from_bytes(data[:8], "little")]).get("__metadata__", {})
    spec = _SPECS[a.model_type].model_validate(json.loads(meta["spec"]))
    n = int(json.loads(meta["n_features"]))
    return Resident(a.model_type, _torch_net(spec, n, load(data), device, "artifact"), n, device)


def _inline_key(inl: InlineNet) -> str:
    h = hashlib.sha256(inl.spec.model_dump_json().encode() + str(inl.n_features).encode())
    for k in sorted(inl.state):
        h.update(k.encode())
        h.update(np.ascontiguousarray(inl.state[k], dtype="<f8").tobytes())
    return h.hexdigest()


def _load_inline(inl: InlineNet, device: str) -> Resident:
    import torch

    tensors = {k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in inl.state.items()}
    return Resident(inl.spec.model_type, _torch_net(inl.spec, inl.n_features, tensors, device, "inline.state"),
                    inl.n_features, device)


def probabilities(a: ResolvedArtifact, rows: np.ndarray, ctx: OpContext) -> np.ndarray:
    """P(up) of ``rows`` with a registered version (resident on ``ctx.device``), as float64."""
    device = ctx.device or "cpu"
    return _resident((a.sha256, device), lambda: _load_artifact(a, device, ctx)).predict(rows)


# ---- the operation ---------------------------------------------------------------------------------------
def predict_direction(req: PredictDirectionRequest, ctx: OpContext) -> PredictDirectionResponse:
    """P(up) for each row with a resident model (loaded on first use)."""
    device = ctx.device or "cpu"
    if req.inline is not None:
        res = _resident((_inline_key(req.inline), device), lambda: _load_inline(req.inline, device))
        name, version = None, None
    else:
        a = req.artifact
        if a is None:
            raise Unavailable("the model was not resolved from the registry (call through the engine or the "
                              "gateway)", field="name")
        if a.stage == "archived":
            raise Conflict(f"{a.name} v{a.version} is archived; promote it to predict with it", field="version")
        res = _resident((a.sha256, device), lambda: _load_artifact(a, device, ctx))
        name, version = a.name, a.version
    rows = req.rows
    if rows is None:
        raise Unavailable("the features were not built from stored bars (call through the engine or the gateway)",
                          field="at")
    if rows.shape[1] != res.n_features:
        raise InvalidInput(f"rows have {rows.shape[1]} values; the model takes {res.n_features}", field="rows")
    p = res.predict(rows)
    return PredictDirectionResponse(model_type=res.model_type, name=name, version=version,
                                    bar_date=req.at.as_of if req.at is not None else None,
                                    probability_up=np.asarray(p, dtype=np.float64), device=res.device)
