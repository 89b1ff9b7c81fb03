"""Volatility models: fit on decimal returns, forecast variance 1..h periods ahead (decimal^2).

The arch family (GARCH, GJR-GARCH, EGARCH) is ``arch.arch_model`` on percent returns, nothing re-written;
HAR-RV is OLS (numpy) on squared returns; EWMA is the RiskMetrics recursion. ``Fitted`` holds what a model
needs to forecast again later (its parameters, JSON-safe), which is also what the registry stores.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backend.core.errors import InvalidInput
from engines.ml.models.volatility import EwmaSpec, GarchSpec, HarSpec

#: Returns are scaled by this before arch fits them (percent): its optimiser is tuned for that range.
SCALE = 100.0
#: EWMA starts from the mean squared return of this many first observations.
EWMA_INIT = 30
#: HAR-RV forecasts are floored at this fraction of the training mean of realised variance (OLS can go <= 0).
HAR_FLOOR = 0.01
#: Paths simulated for EGARCH beyond one step (no closed form).
EGARCH_SIMULATIONS = 2000


@dataclass
class Fitted:
    """A fitted volatility model: its type, hyper-parameters and parameters (JSON-safe)."""

    spec: dict[str, Any]
    params: dict[str, float]
    log_likelihood: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: arch's result object of a fit made in this process (not stored): forecasting right after the fit
    #: reuses its filtered variance instead of building the model again
    result: Any = field(default=None, repr=False, compare=False)
    fitted_on: Any = field(default=None, repr=False, compare=False)


def min_observations(spec: GarchSpec | HarSpec | EwmaSpec) -> int:
    """Fewest returns a fit is attempted on."""
    if isinstance(spec, HarSpec):
        return spec.monthly_days + 60
    if isinstance(spec, GarchSpec):
        return 100
    return 2


def check_length(r: np.ndarray, spec: GarchSpec | HarSpec | EwmaSpec, where: str = "data.returns") -> None:
    need = min_observations(spec)
    if r.size < need:
        raise InvalidInput(f"{spec.model_type} needs at least {need} returns; the data has {r.size}", field=where)


# ---- arch family ------------------------------------------------------------------------------------------
def arch_for(spec: GarchSpec, r: np.ndarray) -> Any:
    """The ``arch`` model of this spec on percent returns (the same call a user would write)."""
    from arch import arch_model

    return arch_model(r * SCALE, mean="Zero" if spec.mean == "zero" else "Constant",
                      vol="EGARCH" if spec.model_type == "egarch" else "GARCH", p=spec.p,
                      o=0 if spec.model_type == "garch" else 1, q=spec.q, dist=spec.dist, rescale=False)


def _fit_arch(spec: GarchSpec, r: np.ndarray, first: int | None = None, last: int | None = None) -> Any:
    res = arch_for(spec, r).fit(disp="off", show_warning=False, first_obs=first, last_obs=last)
    if not np.isfinite(res.params.to_numpy()).all():
        raise InvalidInput(f"{spec.model_type} did not converge on these returns", field="data.returns")
    return res


def _arch_forecast(spec: GarchSpec, r: np.ndarray, params: np.ndarray, horizon: int, start: int,
                   seed: int = 0) -> np.ndarray:
    """Variance forecasts (percent^2) for origins start..n-1 (rows) and steps 1..h (columns) with fixed
    parameters: each origin's forecast uses returns up to and including it only."""
    res = arch_for(spec, r).fix(params)
    if spec.model_type == "egarch" and horizon > 1:
        rs = np.random.RandomState(seed)
        fc = res.forecast(horizon=horizon, start=start, reindex=False, method="simulation",
                          simulations=EGARCH_SIMULATIONS, random_state=rs)
    else:
        fc = res.forecast(horizon=horizon, start=start, reindex=False)
    return fc.variance.to_numpy()


# ---- HAR-RV -----------------------------------------------------------------------------------------------
def har_regressors(rv: np.ndarray, weekly: int, monthly: int) -> np.ndarray:
    """Rows t = monthly-1 .. n-1: [1, rv[t], mean(rv[t-w+1..t]), mean(rv[t-m+1..t])] (data <= t only)."""
    c = np.concatenate([[0.0], np.cumsum(rv)])
    t = np.arange(monthly - 1, rv.size)
    week = (c[t + 1] - c[t + 1 - weekly]) / weekly
    month = (c[t + 1] - c[t + 1 - monthly]) / monthly
    return np.column_stack([np.ones(t.size), rv[t], week, month])


def _har_fit(rv: np.ndarray, spec: HarSpec, horizon: int, end: int) -> tuple[np.ndarray, float]:
    """Direct HAR coefficients per step k = 1..h, fitted on origins whose target ends before ``end``."""
    X = har_regressors(rv[:end], spec.weekly_days, spec.monthly_days)
    t0 = spec.monthly_days - 1
    coefs = []
    for k in range(1, horizon + 1):
        rows = np.arange(t0, end - k)  # origin t, target rv[t + k] with t + k <= end - 1
        if rows.size < 20:
            raise InvalidInput(f"har_rv needs more returns for a {horizon}-step forecast", field="data.returns")
        beta, *_ = np.linalg.lstsq(X[rows - t0], rv[rows + k], rcond=None)
        coefs.append(beta)
    return np.array(coefs), HAR_FLOOR * float(rv[:end].mean())


def _har_forecast(rv: np.ndarray, spec: HarSpec, coefs: np.ndarray, floor: float, start: int) -> np.ndarray:
    X = har_regressors(rv, spec.weekly_days, spec.monthly_days)[start - (spec.monthly_days - 1):]
    return np.maximum(X @ coefs.T, floor)


# ---- EWMA -------------------------------------------------------------------------------------------------
def ewma_variance(r: np.ndarray, lam: float, init: float) -> np.ndarray:
    """sigma2[t] = forecast of r[t+1]^2 made at t (uses r[0..t]); sigma2 before r[0] is ``init``."""
    from scipy.signal import lfilter

    out, _ = lfilter([1.0 - lam], [1.0, -lam], r * r, zi=np.array([lam * init]))
    return out


# ---- one interface ----------------------------------------------------------------------------------------
def fit(spec: GarchSpec | HarSpec | EwmaSpec, r: np.ndarray, horizon: int = 1) -> Fitted:
    """Fit on all of ``r``."""
    check_length(r, spec)
    d = spec.model_dump()
    if isinstance(spec, GarchSpec):
        res = _fit_arch(spec, r)
        return Fitted(d, {k: float(v) for k, v in res.params.items()}, float(res.loglikelihood), result=res,
                      fitted_on=r)
    if isinstance(spec, HarSpec):
        coefs, floor = _har_fit(r * r, spec, horizon, r.size)
        return Fitted(d, {f"h{k + 1}_{n}": float(c) for k, row in enumerate(coefs)
                          for n, c in zip(("const", "daily", "weekly", "monthly"), row, strict=True)},
                      extra={"floor": floor, "horizon": horizon})
    return Fitted(d, {"lam": spec.lam}, extra={"init": float(np.mean(r[:EWMA_INIT] ** 2))})


def forecast(spec: GarchSpec | HarSpec | EwmaSpec, fitted: Fitted, r: np.ndarray, horizon: int,
             seed: int = 0) -> np.ndarray:
    """Variance (decimal^2) of each of the next 1..h returns after the last of ``r``."""
    if isinstance(spec, GarchSpec):
        res = fitted.result
        if res is not None and fitted.fitted_on is r:  # right after the fit, on its data: use its result
            if spec.model_type == "egarch" and horizon > 1:
                fc = res.forecast(horizon=horizon, reindex=False, method="simulation",
                                  simulations=EGARCH_SIMULATIONS, random_state=np.random.RandomState(seed))
            else:
                fc = res.forecast(horizon=horizon, reindex=False)
            return fc.variance.to_numpy()[-1] / SCALE**2
        params = np.array(list(fitted.params.values()))
        return _arch_forecast(spec, r, params, horizon, r.size - 1, seed)[-1] / SCALE**2
    if isinstance(spec, HarSpec):
        if fitted.extra.get("horizon", 0) < horizon:
            raise InvalidInput(f"this har_rv model was fitted for {fitted.extra.get('horizon')} steps, "
                               f"not {horizon}", field="horizon_days")
        coefs = np.array([[fitted.params[f"h{k}_{n}"] for n in ("const", "daily", "weekly", "monthly")]
                          for k in range(1, horizon + 1)])
        return _har_forecast(r * r, spec, coefs, fitted.extra["floor"], r.size - 1)[-1]
    sigma2 = ewma_variance(r, spec.lam, fitted.extra["init"])[-1]
    return np.full(horizon, sigma2)


def one_step_fixed(spec: GarchSpec | HarSpec | EwmaSpec, fitted: Fitted, r: np.ndarray, warmup: int) -> np.ndarray:
    """1-step variance forecasts with fixed (stored) parameters for origins warmup-1 .. n-2 (the targets
    r[warmup] .. r[n-1]); the first ``warmup`` returns only start the recursions."""
    first = warmup - 1
    if isinstance(spec, GarchSpec):
        params = np.array(list(fitted.params.values()))
        return _arch_forecast(spec, r, params, 1, first)[:-1, 0] / SCALE**2
    if isinstance(spec, HarSpec):
        if warmup < spec.monthly_days:
            raise InvalidInput(f"warmup must be at least monthly_days={spec.monthly_days}", field="warmup")
        coefs = np.array([[fitted.params[f"h1_{n}"] for n in ("const", "daily", "weekly", "monthly")]])
        return _har_forecast(r * r, spec, coefs, fitted.extra["floor"], first)[:-1, 0]
    return ewma_variance(r, spec.lam, float(np.mean(r[:warmup] ** 2)))[first:-1]


def walk_forward(spec: GarchSpec | HarSpec | EwmaSpec, r: np.ndarray, *, min_train: int, refit_every: int,
                 horizon: int, rolling: int | None,
                 progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, int, int]:
    """Out-of-sample forecasts of the variance summed over the next h returns, for origins
    t = min_train-1 .. n-1-h, each from parameters estimated on returns before t+1 only (re-estimated
    every ``refit_every`` origins, on all earlier returns or the last ``rolling``).
    ``progress(fits_done, fits_total)`` is called after each fit (a job's progress; it may raise to stop).
    Returns (forecasts, first origin, number of fits)."""
    n = r.size
    first = min_train - 1
    last = n - 1 - horizon
    if last < first + 10:
        raise InvalidInput(f"{n} returns leave {max(0, last - first + 1)} forecasts after min_train={min_train} "
                           f"and horizon {horizon}; need at least 10", field="min_train")
    if isinstance(spec, EwmaSpec):  # no parameters to estimate: one causal pass
        init = float(np.mean(r[:min_train] ** 2))
        return ewma_variance(r, spec.lam, init)[first:last + 1] * horizon, first, 0
    if spec.model_type == "egarch" and horizon > 1:
        raise InvalidInput("EGARCH has no closed-form multi-step forecast; its walk-forward evaluation is "
                           "1 step (forecast_volatility simulates longer horizons)", field="horizon_days")
    out = np.empty(last - first + 1)
    fits = 0
    total = len(range(first + 1, last + 2, refit_every))
    for k in range(first + 1, last + 2, refit_every):  # k: training ends before index k; origins k-1 ..
        lo = 0 if rolling is None else max(0, k - rolling)
        stop = min(k - 1 + refit_every, last + 1)  # origins k-1 .. stop-1
        fits += 1
        if isinstance(spec, GarchSpec):
            res = _fit_arch(spec, r, first=lo, last=k)
            fc = _arch_forecast(spec, r, res.params.to_numpy(), horizon, k - 1)[: stop - (k - 1)]
            block = fc.sum(axis=1) / SCALE**2
        else:
            rv = r * r
            coefs, floor = _har_fit(rv[lo:], spec, horizon, k - lo)
            block = _har_forecast(rv[lo:stop], spec, coefs, floor, k - 1 - lo).sum(axis=1)
        out[k - 1 - first: stop - first] = block
        if progress is not None:
            progress(fits, total)
    return out, first, fits


def realised(r: np.ndarray, first: int, count: int, horizon: int) -> np.ndarray:
    """Target of origin t: sum of r[t+1 .. t+h]^2, for origins first .. first+count-1."""
    c = np.concatenate([[0.0], np.cumsum(r * r)])
    t = np.arange(first, first + count)
    return c[t + 1 + horizon] - c[t + 1]
