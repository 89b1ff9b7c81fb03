"""Training as jobs: the worker-side function of each job kind and the engine-side registration.

``train_volatility`` runs in a job worker: the walk-forward evaluation (progress per fit, cancellable),
then the final fit on all the data, written as a JSON artifact named by the job under the run directory.
``train_direction`` does the same for direction models (safetensors for torch weights, skops for the
histogram GBM). ``register_version`` runs in the engine when either job succeeded: it inserts the version (model row,
version row and stage event in one transaction); if that fails the artifact is removed and the job fails,
so the registry never names a file that is not there and no orphan file stays behind.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from backend.contract.operation import OpContext
from backend.jobs.worker import JobContext
from engines.ml.compute import volatility as vol
from engines.ml.compute.evaluation import run_evaluation
from engines.ml.models.registry import TrainVolatilityRequest
from engines.ml.models.volatility import EvaluateVolatilityRequest
from engines.ml.registry import artifacts, store


def data_hash(r: np.ndarray) -> str:
    """sha256 of the returns as little-endian float64: the identity of the training data."""
    return hashlib.sha256(np.ascontiguousarray(r, dtype="<f8").tobytes()).hexdigest()


def dataset_definition(req: TrainVolatilityRequest) -> dict[str, Any]:
    """The dataset as requested: the stored-bars reference, or the size of inline data."""
    d = req.data
    if d.symbol is not None:
        return {"symbol": d.symbol, "start": d.start and d.start.isoformat(), "end": d.end and d.end.isoformat(),
                "timeframe": d.timeframe, "n_returns": int(d.returns.size)}
    return {"inline": True, "n_returns": int(d.returns.size)}


def train_volatility(ctx: JobContext) -> dict[str, Any]:
    req = TrainVolatilityRequest.model_validate(ctx.params["request"])
    r = req.data.returns
    ev = EvaluateVolatilityRequest(data=req.data, model=req.model, **req.evaluation.model_dump())
    folds: dict[str, int] = {}

    def report(done: int, total: int) -> None:
        folds.update(fold=done, folds=total)
        ctx.progress(0.95 * done / total, f"walk-forward fit {done} of {total}", **folds)

    evaluation = run_evaluation(ev, progress=report)
    ctx.progress(0.96, "final fit on all the data", **folds)
    fitted = vol.fit(req.model, r, req.forecast_horizon_days)
    path = artifacts.models_dir(ctx.params["run_dir"]) / req.name / f"{ctx.job_id}.json"
    digest = artifacts.write_json(path, {"format": artifacts.FORMAT_VOLATILITY, "spec": fitted.spec,
                                         "params": fitted.params, "extra": fitted.extra,
                                         "log_likelihood": fitted.log_likelihood})
    dates = req.data.dates
    metrics = evaluation.model_dump(mode="json")
    return {"name": req.name, "task": "volatility", "description": req.description,
            "model_type": req.model.model_type, "hyperparams": req.model.model_dump(mode="json"),
            "dataset": ctx.params["dataset"], "data_hash": data_hash(r), "n_train": int(r.size),
            "train_start": dates[0].isoformat() if dates else None,
            "train_end": dates[-1].isoformat() if dates else None,
            "metrics": {k: metrics[k] for k in ("horizon_days", "window", "model", "baseline", "diebold_mariano",
                                                "beats_baseline", "verdict")},
            "artifact_path": str(path), "artifact_hash": digest}


async def register_version(job_id: str, result: dict[str, Any], ctx: OpContext) -> dict[str, Any]:
    row = {**result, "job_id": job_id,
           "train_start": dt.date.fromisoformat(result["train_start"]) if result["train_start"] else None,
           "train_end": dt.date.fromisoformat(result["train_end"]) if result["train_end"] else None}
    try:
        version = await store.register(ctx.require_db(), name=result["name"], task=result["task"],
                                       description=result["description"], row=row)
    except BaseException:
        artifacts.remove(Path(result["artifact_path"]))
        raise
    return {"name": result["name"], "version": version, "stage": store.STAGING,
            "beats_baseline": result["metrics"]["beats_baseline"], "verdict": result["metrics"]["verdict"],
            "metrics": result["metrics"]}


def train_direction(ctx: JobContext) -> dict[str, Any]:
    from engines.ml.compute import direction as dr
    from engines.ml.compute import serving
    from engines.ml.models.direction import TrainDirectionRequest

    req = TrainDirectionRequest.model_validate(ctx.params["request"])
    folds: dict[str, Any] = {}

    def report(done: int, total: int) -> None:
        folds.update(fold=done, folds=total)
        ctx.progress(0.8 * done / total, f"walk-forward fit {done} of {total}", **folds)

    evaluation = dr.run_evaluation(req, progress=report)
    X, names, y, last = dr.design(req)
    rows = np.flatnonzero(np.isfinite(X).all(axis=1) & np.isfinite(y) & np.isfinite(last))
    path = artifacts.models_dir(ctx.params["run_dir"]) / req.name / ctx.job_id
    spec = req.model
    if spec.model_type == "hgb":
        from sklearn.ensemble import HistGradientBoostingClassifier

        ctx.progress(0.85, "final fit on all the data", **folds)
        model = HistGradientBoostingClassifier(max_iter=spec.max_iter, learning_rate=spec.learning_rate,
                                               max_depth=spec.max_depth, l2_regularization=spec.l2_regularization,
                                               early_stopping=False, random_state=spec.seed)
        model.fit(X[rows], y[rows].astype(int))
        path = path.with_suffix(".skops")
        digest = serving.save_hgb(path, model)
    else:
        from engines.ml.compute import nets

        net = nets.fit(spec, X[rows], y[rows], progress=lambda e, loss: ctx.progress(
            0.8 + 0.2 * e / spec.epochs, f"final fit: epoch {e} of {spec.epochs}", epoch=e, loss=loss, **folds))
        path = path.with_suffix(".safetensors")
        digest = serving.save_torch(path, net, {"spec": spec.model_dump(mode="json"), "n_features": X.shape[1],
                                                "features": names})
    dates = req.data.dates
    metrics = evaluation.model_dump(mode="json")
    return {"name": req.name, "task": "direction", "description": req.description, "model_type": spec.model_type,
            "hyperparams": {**spec.model_dump(mode="json"), "horizon_bars": req.horizon_bars,
                            "indicators": [i.model_dump(mode="json") for i in req.indicators or []],
                            "features": names},
            "dataset": ctx.params["dataset"], "data_hash": data_hash(req.data.close), "n_train": int(rows.size),
            "train_start": dates[0].isoformat() if dates else None,
            "train_end": dates[-1].isoformat() if dates else None,
            "metrics": {k: metrics[k] for k in ("horizon_bars", "window", "model", "baselines", "diebold_mariano",
                                                "beats_baseline", "verdict")},
            "artifact_path": str(path), "artifact_hash": digest}
