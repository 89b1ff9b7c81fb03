"""Forecast losses for variance and the Diebold-Mariano test of two loss series.

QLIKE here is ``log(f) + y / f`` (Patton 2011's robust loss up to terms that do not depend on the
forecast), so that a realised variance of zero (a flat day) is allowed; MSE is ``(f - y)^2``. Both rank
forecasts consistently when ``y`` is an unbiased proxy of the variance, as a squared return is.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


def qlike(forecast: np.ndarray, realised: np.ndarray) -> np.ndarray:
    return np.log(forecast) + realised / forecast


def mse(forecast: np.ndarray, realised: np.ndarray) -> np.ndarray:
    return (forecast - realised) ** 2


def diebold_mariano(loss_model: np.ndarray, loss_base: np.ndarray, horizon: int) -> tuple[float, float]:
    """(statistic, two-sided p-value) of mean(loss_model - loss_base) = 0.

    The long-run variance is Newey-West (Bartlett) with max(h - 1, floor(n^(1/3))) lags, since loss
    differences of volatility forecasts are autocorrelated even at h = 1; the statistic carries the
    Harvey-Leybourne-Newbold small-sample factor and is read against Student-t(n - 1). Identical loss
    series (zero long-run variance) give (0, 1)."""
    d = np.asarray(loss_model, dtype=np.float64) - np.asarray(loss_base, dtype=np.float64)
    n = d.size
    if n < 10:
        raise ValueError("the Diebold-Mariano test needs at least 10 forecasts")
    dc = d - d.mean()
    lags = min(n - 1, max(horizon - 1, int(n ** (1 / 3))))
    lrv = float(dc @ dc) / n
    for k in range(1, lags + 1):
        lrv += 2.0 * (1.0 - k / (lags + 1)) * float(dc[k:] @ dc[:-k]) / n
    if lrv <= 0.0:
        return 0.0, 1.0
    dm = d.mean() / math.sqrt(lrv / n)
    hln = math.sqrt((n + 1 - 2 * horizon + horizon * (horizon - 1) / n) / n)
    stat = float(dm * hln)
    return stat, float(2.0 * stats.t.sf(abs(stat), df=n - 1))
