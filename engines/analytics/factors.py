"""Factor attribution: OLS of excess returns on factor returns (statsmodels), with t-statistics. Pure.

    r_t - rf_t = alpha + sum_k beta_k f_kt + e_t
Fama-French 3 factors come from the ``arch`` package (monthly, in percent in the file; used here as
fractions), matched to the returns by calendar month; their RF column is the risk-free rate. Inline
factors are used as given, with an optional risk-free series (default 0). Because OLS with an
intercept leaves residuals of mean zero, mean excess return = alpha + sum beta_k mean(f_k): the
contributions reported add up to it exactly (up to rounding).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
import statsmodels.api as sm

from backend.contract.arrays import as_matrix, as_vector
from backend.contract.operation import OpContext
from backend.core.errors import InvalidInput
from engines.analytics.models_attribution import FactorAttributionRequest, FactorAttributionResponse, FactorExposure

FF3 = ["Mkt-RF", "SMB", "HML"]


@lru_cache(maxsize=1)
def fama_french_monthly() -> pd.DataFrame:
    """arch's Fama-French 3 factors + RF as fractions, indexed by (year, month)."""
    from arch.data import frenchdata

    raw = frenchdata.load()
    yyyymm = np.asarray(raw.index.asi8, dtype=np.int64)  # the file's YYYYMM, stored as nanoseconds
    idx = pd.MultiIndex.from_arrays([yyyymm // 100, yyyymm % 100], names=["year", "month"])
    return pd.DataFrame(raw.to_numpy() / 100.0, index=idx, columns=list(raw.columns))


def _design(req: FactorAttributionRequest, r: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(excess returns, factor matrix, names)."""
    if req.factors == "fama_french_3":
        ff = fama_french_monthly()
        keys = [(d.year, d.month) for d in req.dates]  # type: ignore[union-attr]
        if len(keys) != r.size:
            raise InvalidInput(f"needs {r.size} dates (one per return), got {len(keys)}", field="dates")
        if len(set(keys)) != len(keys):
            raise InvalidInput("fama_french_3 factors are monthly: give one return per month", field="dates")
        missing = [f"{y}-{m:02d}" for y, m in keys if (y, m) not in ff.index]
        if missing:
            raise InvalidInput(f"no Fama-French data for {missing[:5]} (the data ends 2018-11)", field="dates")
        rows = ff.loc[keys]
        return r - rows["RF"].to_numpy(), rows[FF3].to_numpy(), FF3
    f = req.factors
    F = as_matrix(f.returns, "factors.returns")
    if F.shape != (r.size, len(f.names)):
        raise InvalidInput(f"factor returns must be {r.size} x {len(f.names)}", field="factors.returns")
    rf = np.zeros(r.size) if f.risk_free is None else as_vector(f.risk_free, "factors.risk_free")
    if rf.size != r.size:
        raise InvalidInput(f"risk_free needs {r.size} values", field="factors.risk_free")
    return r - rf, F, list(f.names)


def factor_attribution(req: FactorAttributionRequest, ctx: OpContext | None = None) -> FactorAttributionResponse:
    r = as_vector(req.returns, "returns")
    y, F, names = _design(req, r)
    k = F.shape[1]
    if r.size < k + 3:
        raise InvalidInput(f"{r.size} observations for {k} factors and an intercept; need at least {k + 3}",
                           field="returns")
    if np.linalg.matrix_rank(np.column_stack([np.ones(r.size), F])) < k + 1:
        raise InvalidInput("factor returns are collinear (or constant)", field="factors")
    X = sm.add_constant(F, has_constant="add")
    model = sm.OLS(y, X)
    fit = model.fit(cov_type="HAC", cov_kwds={"maxlags": req.hac_lags}) if req.hac_lags is not None else model.fit()
    P = req.periods_per_year
    means = F.mean(axis=0)
    exposures = [FactorExposure(name=n, beta=float(fit.params[i + 1]), std_error=float(fit.bse[i + 1]),
                                t_stat=float(fit.tvalues[i + 1]), p_value=float(fit.pvalues[i + 1]),
                                mean_factor_return=float(means[i]),
                                contribution_annual=float(fit.params[i + 1] * means[i] * P))
                 for i, n in enumerate(names)]
    return FactorAttributionResponse(
        n_observations=int(r.size), alpha=float(fit.params[0]), alpha_annual=float(fit.params[0] * P),
        alpha_std_error=float(fit.bse[0]), alpha_t_stat=float(fit.tvalues[0]), alpha_p_value=float(fit.pvalues[0]),
        r_squared=float(fit.rsquared), adj_r_squared=float(fit.rsquared_adj), exposures=exposures,
        mean_excess_return_annual=float(y.mean() * P),
        first_date=req.dates[0] if req.dates else None, last_date=req.dates[-1] if req.dates else None)
