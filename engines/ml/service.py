"""The registry operations (async: PostgreSQL and artifact files, compute in a worker thread).

Training is queued as a job (``backend.jobs``): the request is validated and its data resolved here, so a
bad request is a 4xx now and never a failed job later. Prediction and comparison load a version's artifact
only when its sha256 equals the registry's; an archived version does not predict (409).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import numpy as np

from backend.contract.operation import OpContext
from backend.core.errors import Conflict, InvalidInput
from backend.jobs import store as jobs
from backend.jobs.models import JobView
from engines.ml.compute import evaluation as ev
from engines.ml.compute import volatility as vol
from engines.ml.models import registry as m
from engines.ml.models.volatility import EwmaSpec, GarchSpec, HarSpec, LossPair
from engines.ml.registry import artifacts, store
from engines.ml.training import dataset_definition

TRAIN_VOLATILITY = "train_volatility"
TRAIN_DIRECTION = "train_direction"
_SPECS = {"garch": GarchSpec, "gjr_garch": GarchSpec, "egarch": GarchSpec, "har_rv": HarSpec, "ewma": EwmaSpec}


async def train_volatility_model(req: m.TrainVolatilityRequest, ctx: OpContext) -> JobView:
    db = ctx.require_db()
    task = await store.model_task(db, req.name)
    if task not in (None, "volatility"):
        raise Conflict(f"model {req.name!r} is a {task} model, not volatility", field="name")
    r = req.data.returns
    vol.check_length(r, req.model)
    e = req.evaluation
    if r.size - e.horizon_days - e.min_train + 1 < 10:
        raise InvalidInput(f"{r.size} returns leave fewer than 10 out-of-sample forecasts after "
                           f"min_train={e.min_train}", field="evaluation.min_train")
    if not isinstance(req.model, EwmaSpec) and (r.size - e.min_train) / e.refit_every > ev.MAX_REFITS:
        raise InvalidInput(f"more than {ev.MAX_REFITS} walk-forward fits; raise refit_every",
                           field="evaluation.refit_every")
    if isinstance(req.model, GarchSpec) and req.model.model_type == "egarch" and e.horizon_days > 1:
        raise InvalidInput("EGARCH is evaluated 1 step ahead", field="evaluation.horizon_days")
    request = req.model_dump(mode="json")
    request["data"] = {"returns": request["data"]["returns"], "dates": request["data"]["dates"]}  # resolved
    params = {"request": request, "run_dir": str(ctx.settings.run_dir), "dataset": dataset_definition(req)}
    job = await jobs.submit(db, ctx.engine, TRAIN_VOLATILITY, params, None)
    if ctx.jobs is not None:
        ctx.jobs.wake()
    job["params"] = {"name": req.name, "model": req.model.model_dump(mode="json"), "dataset": params["dataset"]}
    return JobView(**job)


async def list_models(req: m.ListModelsRequest, ctx: OpContext) -> m.ModelList:
    items = await store.list_models(ctx.require_db(), req.task, req.limit)
    return m.ModelList(items=[m.ModelView(**i) for i in items], count=len(items))


async def get_model(req: m.ModelRef, ctx: OpContext) -> m.ModelView:
    return m.ModelView(**await store.get_model(ctx.require_db(), req.name))


async def prepare_promotion(req: m.PromoteRequest, ctx: OpContext) -> m.PromoteRequest:
    from engines.ml.data import load_returns

    if req.require_better_on is None:
        return req
    return req.model_copy(update={"require_better_on": await load_returns(req.require_better_on, ctx,
                                                                         "require_better_on")})


async def promote_model_version(req: m.PromoteRequest, ctx: OpContext) -> m.StageChange:
    """Change a version's stage; with ``require_better_on``, a promotion to production first has to win the
    champion/challenger comparison on that window (409 with the comparison otherwise)."""
    db = ctx.require_db()
    comparison = None
    if req.require_better_on is not None and req.stage == store.PRODUCTION:
        if await store.model_task(db, req.name) not in ("volatility", None):
            raise InvalidInput("a required comparison is for volatility models", field="require_better_on")
        champ = await db.fetchval("SELECT version FROM ml_model_versions WHERE name = $1 AND stage = 'production'",
                                  req.name)
        if champ is not None and champ != req.version:
            # built without validation: the window is resolved already (returns with their symbol)
            comparison = await compare_model_versions(m.CompareRequest.model_construct(
                name=req.name, challenger=req.version, champion=champ, data=req.require_better_on), ctx)
            if not comparison.challenger_better:
                raise Conflict(f"not promoted: {comparison.verdict}", field="require_better_on",
                               comparison=comparison.model_dump(mode="json"))
    change = await store.set_stage(db, req.name, req.version, req.stage, req.reason)
    return m.StageChange(**change, comparison=comparison)


async def delete_model_version(req: m.VersionRef, ctx: OpContext) -> m.Deleted:
    path = await store.delete_version(ctx.require_db(), req.name, req.version)
    return m.Deleted(name=req.name, version=req.version, artifact_removed=artifacts.remove(path))


def load_fitted(row: Any) -> tuple[GarchSpec | HarSpec | EwmaSpec, vol.Fitted]:
    """A registered volatility version's spec and parameters from its artifact (sha256 checked: 409 if not)."""
    what = f"{row['name']} v{row['version']}"
    payload = json.loads(artifacts.read_verified(row["artifact_path"], row["artifact_hash"], what))
    if payload.get("format") != artifacts.FORMAT_VOLATILITY:
        raise Conflict(f"the artifact of {what} is not a volatility model", field="name")
    spec = _SPECS[payload["spec"]["model_type"]].model_validate(payload["spec"])
    return spec, vol.Fitted(payload["spec"], payload["params"], payload.get("log_likelihood"), payload["extra"])


async def predict_volatility(req: m.PredictVolatilityRequest, ctx: OpContext) -> m.PredictVolatilityResponse:
    row = await store.get_version(ctx.require_db(), req.name, req.version)
    if row["stage"] == store.ARCHIVED:
        raise Conflict(f"{req.name} v{row['version']} is archived; promote it to predict with it", field="version")
    spec, fitted = load_fitted(row)
    r = req.data.returns
    vol.check_length(r, spec)
    var = await asyncio.to_thread(vol.forecast, spec, fitted, r, req.horizon_days)
    return m.PredictVolatilityResponse(
        name=req.name, version=row["version"], stage=row["stage"], model_type=spec.model_type,
        last_date=req.data.dates[-1] if req.data.dates else None, variance=var.tolist(),
        volatility_annual=np.sqrt(var * req.periods_per_year).tolist())


async def compare_model_versions(req: m.CompareRequest, ctx: OpContext) -> m.CompareResponse:
    """Champion and challenger with their stored parameters on one window after both trained (1 step ahead)."""
    db = ctx.require_db()
    champ = await store.get_version(db, req.name, req.champion, field="champion")
    chall = await store.get_version(db, req.name, req.challenger, field="challenger")
    if champ["version"] == chall["version"]:
        raise InvalidInput("champion and challenger are the same version", field="challenger")
    dates = req.data.dates
    for row in (champ, chall):
        if row["train_end"] is not None and (not dates or dates[req.warmup] <= row["train_end"]):
            raise InvalidInput(f"the window must be out-of-sample: its first forecast target must come after "
                               f"v{row['version']}'s training data, which ends {row['train_end']}", field="data")
    r = req.data.returns
    if r.size - req.warmup < 20:
        raise InvalidInput(f"{r.size} returns leave fewer than 20 forecasts after warmup={req.warmup}",
                           field="data.returns")
    loaded = [load_fitted(row) for row in (champ, chall)]
    return await asyncio.to_thread(_compare, req, champ, chall, loaded, r, dates)


def _compare(req: m.CompareRequest, champ: Any, chall: Any, loaded: list, r: np.ndarray,
             dates: list[dt.date] | None) -> m.CompareResponse:
    first = req.warmup - 1
    y = vol.realised(r, first, r.size - 1 - first, 1)
    f = [vol.one_step_fixed(spec, fitted, r, req.warmup) for spec, fitted in loaded]
    base = vol.ewma_variance(r, req.baseline_lam, float(np.mean(r[:req.warmup] ** 2)))[first:-1]
    champ_l, chall_l = ev.loss_pair(f[0], y), ev.loss_pair(f[1], y)
    _, _, dms, better = ev.compare(f[1], f[0], y, 1)
    name = f"v{chall['version']} (challenger)"
    return m.CompareResponse(
        name=req.name, n_forecasts=int(y.size), first_date=dates[req.warmup] if dates else None,
        last_date=dates[-1] if dates else None,
        champion=m.VersionLosses(version=champ["version"], model_type=champ["model_type"], losses=champ_l),
        challenger=m.VersionLosses(version=chall["version"], model_type=chall["model_type"], losses=chall_l),
        baseline=LossPair(**ev.loss_pair(base, y).model_dump()), diebold_mariano=dms, challenger_better=better,
        verdict=ev.verdict(name, f"v{champ['version']} (champion)", chall_l, champ_l, dms[0], better))


async def train_direction_model(req: Any, ctx: OpContext) -> JobView:
    """Validate now (features computable, enough rows for the walk-forward), then queue the training job."""
    from engines.ml.compute import direction as dr

    db = ctx.require_db()
    task = await store.model_task(db, req.name)
    if task not in (None, "direction"):
        raise Conflict(f"model {req.name!r} is a {task} model, not direction", field="name")
    if req.placebo:
        raise InvalidInput("placebo is an evaluation check (evaluate_direction); a model is trained on true labels",
                           field="placebo")
    X, _, y, last = await asyncio.to_thread(dr.design, req)
    usable = int((np.isfinite(X).all(axis=1) & np.isfinite(y) & np.isfinite(last)).sum())
    if usable < req.min_train + 20:
        raise InvalidInput(f"{usable} usable rows leave fewer than 20 forecasts after min_train={req.min_train}",
                           field="min_train")
    if -(-(usable - req.min_train) // req.refit_every) > dr.MAX_REFITS:
        raise InvalidInput(f"more than {dr.MAX_REFITS} refits: raise refit_every", field="refit_every")
    request = req.model_dump(mode="json")
    for k in ("symbol", "start", "end"):
        request["data"].pop(k, None)
    d = req.data
    dataset = ({"symbol": d.symbol, "start": d.start and d.start.isoformat(), "end": d.end and d.end.isoformat(),
                "timeframe": d.timeframe, "n_bars": int(d.close.size)} if d.symbol else
               {"inline": True, "n_bars": int(d.close.size)})
    params = {"request": request, "run_dir": str(ctx.settings.run_dir), "dataset": dataset}
    job = await jobs.submit(db, ctx.engine, TRAIN_DIRECTION, params, None)
    if ctx.jobs is not None:
        ctx.jobs.wake()
    job["params"] = {"name": req.name, "model": req.model.model_dump(mode="json"), "dataset": dataset}
    return JobView(**job)


async def resolve_prediction(req: Any, ctx: OpContext) -> Any:
    """Prepare step of ``predict_direction``: the registry's version becomes a ``ResolvedArtifact`` (a value a
    client sent there is always replaced)."""
    from engines.ml.models.direction import ResolvedArtifact

    if req.inline is not None:
        return req.model_copy(update={"artifact": None})
    row = await store.get_version(ctx.require_db(), req.name, req.version)
    if row["model_type"] not in ("hgb", "mlp", "lstm"):
        raise InvalidInput(f"{req.name} is a {row['model_type']} model, not a direction model", field="name")
    if row["stage"] == store.ARCHIVED:
        raise Conflict(f"{req.name} v{row['version']} is archived; promote it to predict with it", field="version")
    update: dict[str, Any] = {"artifact": ResolvedArtifact(
        name=row["name"], version=row["version"], stage=row["stage"], model_type=row["model_type"],
        path=row["artifact_path"], sha256=row["artifact_hash"])}
    if req.at is not None:
        row_x, bar_date = await _features_at(req.at, _jsonb(row["hyperparams"]), row["model_type"], ctx)
        update |= {"rows": row_x, "at": req.at.model_copy(update={"as_of": bar_date})}
    return req.model_copy(update=update)


def _jsonb(v: Any) -> Any:
    return json.loads(v) if isinstance(v, str | bytes) else v


async def _features_at(at: Any, hyper: dict[str, Any], model_type: str, ctx: OpContext) -> tuple[np.ndarray, Any]:
    """The version's feature row for the last stored bar on or before ``at.as_of`` (data <= that bar only)."""
    from engines.features.models import IndicatorSpec
    from engines.ml.compute import direction as dr

    rows = await ctx.require_db().fetch(
        """SELECT * FROM (SELECT (ts AT TIME ZONE 'UTC')::date AS d, ts, open, high, low, close, volume FROM bars
               WHERE symbol = $1 AND timeframe = $2 AND ts < $3 ORDER BY ts DESC LIMIT $4) b ORDER BY ts""",
        at.symbol, at.timeframe, dt.datetime.combine(at.as_of + dt.timedelta(days=1), dt.time(), dt.UTC),
        at.history_bars)
    if not rows:
        raise InvalidInput(f"no stored {at.timeframe!r} bars for {at.symbol!r} up to {at.as_of}", field="at.symbol")
    bars = {k: np.array([r[k] for r in rows], dtype=np.float64) for k in ("open", "high", "low", "close", "volume")}
    if model_type == "lstm":
        X, _ = dr.return_windows(bars["close"], int(hyper["window"]))
    else:
        try:
            X, _ = await asyncio.to_thread(dr.indicator_features, bars,
                                           [IndicatorSpec(**i) for i in hyper.get("indicators", [])])
        except InvalidInput as e:  # too few bars for an indicator's look-back
            raise InvalidInput(f"{len(rows)} bars up to {rows[-1]['d']}: {e.detail}", field="at.history_bars") from e
    if not np.isfinite(X[-1]).all():
        raise InvalidInput(f"{len(rows)} bars up to {rows[-1]['d']} do not cover the features' warm-up; raise "
                           "history_bars", field="at.history_bars")
    return X[-1:], rows[-1]["d"]


async def compare_direction_versions(req: Any, ctx: OpContext) -> Any:
    """Champion and challenger direction versions on the same rows of a window after both trained: each
    version's own features (its indicators or return window), the same labels, log-loss and DM."""
    from engines.ml.compute import direction as dr
    from engines.ml.compute import losses, serving
    from engines.ml.models import direction as dm
    from engines.ml.models.direction import ResolvedArtifact

    db = ctx.require_db()
    champ = await store.get_version(db, req.name, req.champion, field="champion")
    chall = await store.get_version(db, req.name, req.challenger, field="challenger")
    if champ["version"] == chall["version"]:
        raise InvalidInput("champion and challenger are the same version", field="challenger")
    rows_v = [champ, chall]
    hyper = [_jsonb(r["hyperparams"]) for r in rows_v]
    if any(r["model_type"] not in ("hgb", "mlp", "lstm") for r in rows_v):
        raise InvalidInput(f"{req.name} is not a direction model (compare_model_versions compares volatility)",
                           field="name")
    h = hyper[0]["horizon_bars"]
    if hyper[1]["horizon_bars"] != h:
        raise InvalidInput("the versions predict different horizons", field="challenger")
    bars = dr.bar_arrays(req.data)
    close = bars["close"]
    feats = []
    for r, hp in zip(rows_v, hyper, strict=True):
        if r["model_type"] == "lstm":
            X, _ = dr.return_windows(close, int(hp["window"]))
        else:
            from engines.features.models import IndicatorSpec

            X, _ = await asyncio.to_thread(dr.indicator_features, bars, [IndicatorSpec(**i) for i in hp["indicators"]])
        feats.append(X)
    y = dr.labels(close, h)
    usable = np.flatnonzero(np.isfinite(feats[0]).all(1) & np.isfinite(feats[1]).all(1) & np.isfinite(y))
    dates = req.data.dates
    ends = [r["train_end"] for r in rows_v if r["train_end"] is not None]
    if ends:
        if not dates:
            raise InvalidInput("the versions were trained on dated bars: give the window by reference or with dates",
                               field="data")
        usable = usable[np.array([dates[t] > max(ends) for t in usable], dtype=bool)]
    if usable.size < 20:
        raise InvalidInput(f"{usable.size} labelled rows after both versions' training data; need at least 20",
                           field="data")
    p = []
    for r, X in zip(rows_v, feats, strict=True):
        a = ResolvedArtifact(name=r["name"], version=r["version"], stage=r["stage"], model_type=r["model_type"],
                             path=r["artifact_path"], sha256=r["artifact_hash"])
        p.append(await asyncio.to_thread(serving.probabilities, a, X[usable], ctx))
    yt = y[usable]
    s0, s1 = dr.scores(p[0], yt), dr.scores(p[1], yt)
    stat, pv = losses.diebold_mariano(dr.row_loss(p[1], yt), dr.row_loss(p[0], yt), h)
    better = bool(s1.log_loss < s0.log_loss and pv < dr.SIGNIFICANCE)
    verdict = (f"v{chall['version']} (challenger) {'beats' if better else 'does not beat'} v{champ['version']} "
               f"(champion): log-loss {s1.log_loss:.4f} vs {s0.log_loss:.4f}, DM p = {pv:.3g}")
    return dm.CompareDirectionResponse(
        name=req.name, n_forecasts=int(usable.size), first_date=dates[usable[0]] if dates else None,
        last_date=dates[usable[-1]] if dates else None,
        champion=dm.DirectionVersionScores(version=champ["version"], model_type=champ["model_type"], scores=s0),
        challenger=dm.DirectionVersionScores(version=chall["version"], model_type=chall["model_type"], scores=s1),
        diebold_mariano=dm.DirectionDM(baseline=f"v{champ['version']}", statistic=stat, p_value=pv),
        challenger_better=better, verdict=verdict)
