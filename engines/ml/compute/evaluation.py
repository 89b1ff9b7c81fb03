"""The volatility operations' pure functions: forecast (in-sample fit, stated as such) and walk-forward
evaluation, where every figure is out-of-sample and next to the EWMA baseline on the same origins."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from backend.contract.operation import OpContext
from engines.ml.compute import losses
from engines.ml.compute import volatility as vol
from engines.ml.models.volatility import (
    DieboldMariano,
    EvaluateVolatilityRequest,
    EvaluateVolatilityResponse,
    EvaluationWindow,
    EwmaSpec,
    ForecastVolatilityRequest,
    ForecastVolatilityResponse,
    LossPair,
)

#: A model "beats" its baseline only with lower QLIKE and a DM p-value under this.
SIGNIFICANCE = 0.05
#: Most re-estimations one evaluation may run (bounds its time: refit_every too small on long data).
MAX_REFITS = 1_000


def forecast_volatility(req: ForecastVolatilityRequest, ctx: OpContext) -> ForecastVolatilityResponse:
    r = req.data.returns
    fitted = vol.fit(req.model, r, req.horizon_days)
    var = vol.forecast(req.model, fitted, r, req.horizon_days, req.seed)
    return ForecastVolatilityResponse(
        model_type=req.model.model_type, n_observations=int(r.size),
        last_date=req.data.dates[-1] if req.data.dates else None, params=fitted.params,
        log_likelihood=fitted.log_likelihood, variance=var.tolist(),
        volatility_annual=np.sqrt(var * req.periods_per_year).tolist(), cumulative_volatility=float(np.sqrt(var.sum())))


def loss_pair(f: np.ndarray, y: np.ndarray) -> LossPair:
    return LossPair(qlike=float(losses.qlike(f, y).mean()), mse=float(losses.mse(f, y).mean()))


def compare(f_model: np.ndarray, f_base: np.ndarray, y: np.ndarray, horizon: int) -> tuple[
        LossPair, LossPair, list[DieboldMariano], bool]:
    """Losses of both forecasts on the same targets, the DM tests (QLIKE, MSE), and whether the model wins."""
    dms = []
    for name, fn in (("qlike", losses.qlike), ("mse", losses.mse)):
        stat, p = losses.diebold_mariano(fn(f_model, y), fn(f_base, y), horizon)
        dms.append(DieboldMariano(loss=name, statistic=stat, p_value=p))
    m, b = loss_pair(f_model, y), loss_pair(f_base, y)
    return m, b, dms, bool(m.qlike < b.qlike and dms[0].p_value < SIGNIFICANCE)


def verdict(name: str, baseline: str, m: LossPair, b: LossPair, dm: DieboldMariano, wins: bool) -> str:
    rel = (m.qlike - b.qlike) / abs(b.qlike) * 100 if b.qlike else 0.0
    if wins:
        return (f"{name} beats {baseline}: QLIKE {m.qlike:.4f} vs {b.qlike:.4f} ({rel:+.2f}%), "
                f"DM p = {dm.p_value:.3g}")
    if m.qlike < b.qlike:
        return (f"{name} has lower QLIKE than {baseline} ({m.qlike:.4f} vs {b.qlike:.4f}, {rel:+.2f}%) but the "
                f"difference is not significant (DM p = {dm.p_value:.3g})")
    return f"{name} does not beat {baseline}: QLIKE {m.qlike:.4f} vs {b.qlike:.4f} ({rel:+.2f}%)"


def evaluate_volatility(req: EvaluateVolatilityRequest, ctx: OpContext) -> EvaluateVolatilityResponse:
    return run_evaluation(req)


def run_evaluation(req: EvaluateVolatilityRequest,
                   progress: Callable[[int, int], None] | None = None) -> EvaluateVolatilityResponse:
    """The walk-forward evaluation (``progress(fits_done, fits_total)`` for jobs)."""
    from backend.core.errors import InvalidInput

    r = req.data.returns
    vol.check_length(r, req.model)
    if req.min_train >= r.size:
        raise InvalidInput(f"min_train={req.min_train} leaves no forecast in {r.size} returns", field="min_train")
    rolling = (req.rolling_size or req.min_train) if req.window == "rolling" else None
    if rolling is not None and rolling < vol.min_observations(req.model):
        raise InvalidInput(f"a rolling window of {rolling} is too short for {req.model.model_type}",
                           field="rolling_size")
    n_origins = r.size - req.horizon_days - req.min_train + 1
    if not isinstance(req.model, EwmaSpec) and n_origins / req.refit_every > MAX_REFITS:
        raise InvalidInput(f"{n_origins} forecast origins with refit_every={req.refit_every} would run more than "
                           f"{MAX_REFITS} fits; raise refit_every", field="refit_every")
    kw = {"min_train": req.min_train, "refit_every": req.refit_every, "horizon": req.horizon_days,
          "rolling": rolling}
    f_model, first, fits = vol.walk_forward(req.model, r, **kw, progress=progress)
    f_base, _, _ = vol.walk_forward(EwmaSpec(model_type="ewma", lam=req.baseline_lam), r, **kw)
    y = vol.realised(r, first, f_model.size, req.horizon_days)
    m, b, dms, wins = compare(f_model, f_base, y, req.horizon_days)
    dates = req.data.dates
    window = EvaluationWindow(n_forecasts=int(f_model.size), first_origin=first, refits=fits,
                              first_date=dates[first] if dates else None,
                              last_date=dates[first + f_model.size - 1] if dates else None)
    series = ({"forecasts": f_model.tolist(), "baseline_forecasts": f_base.tolist(), "realised": y.tolist()}
              if req.include_series else {})
    return EvaluateVolatilityResponse(
        model_type=req.model.model_type, horizon_days=req.horizon_days, window=window, model=m, baseline=b,
        diebold_mariano=dms, beats_baseline=wins,
        verdict=verdict(req.model.model_type, f"EWMA({req.baseline_lam})", m, b, dms[0], wins), **series)
