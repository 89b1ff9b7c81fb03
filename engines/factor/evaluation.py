"""Factor evaluation on [dates, symbols] panels. Pure numpy/pandas; no I/O.

Forward return at horizon h: close_{t+h} / close_t - 1. On each date only the symbols with both a
factor value and a forward return count, and a date needs ``min_names`` of them.
  IC_t            Pearson correlation across symbols; rank IC_t: Spearman (Pearson of average ranks)
  summary         mean, std (ddof=1), t = mean / std * sqrt(dates), IR = mean / std, share > 0
  quantiles       per date, symbols bucketed by factor rank into q equal groups (bucket =
                  ceil(rank * q / n) - 1); mean forward return per bucket, averaged over dates;
                  spread = top - bottom bucket, with its t-statistic
  factor returns  per date OLS of forward returns on [1, factor_1..factor_k]; mean slope and its
                  Fama-MacBeth t-statistic
With overlapping horizons (h > 1) successive ICs are autocorrelated and the plain t-statistic overstates
significance; it is reported as computed.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


def forward_returns(close: np.ndarray, h: int) -> np.ndarray:
    out = np.full_like(close, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[:-h] = close[h:] / close[:-h] - 1.0
    return out


def _masked(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ok = np.isfinite(x) & np.isfinite(y)
    return np.where(ok, x, np.nan), np.where(ok, y, np.nan), ok.sum(axis=1)


def row_pearson(x: np.ndarray, y: np.ndarray, min_names: int) -> np.ndarray:
    x, y, n = _masked(x, y)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        xc = x - np.nanmean(x, axis=1, keepdims=True)
        yc = y - np.nanmean(y, axis=1, keepdims=True)
        num = np.nansum(xc * yc, axis=1)
        den = np.sqrt(np.nansum(xc**2, axis=1) * np.nansum(yc**2, axis=1))
        ic = num / den
    ic[(n < min_names) | ~(den > 0)] = np.nan
    return np.clip(ic, -1.0, 1.0)


def row_ranks(x: np.ndarray) -> np.ndarray:
    return pd.DataFrame(x).rank(axis=1, method="average").to_numpy()


def row_spearman(x: np.ndarray, y: np.ndarray, min_names: int) -> np.ndarray:
    x, y, _ = _masked(x, y)
    return row_pearson(row_ranks(x), row_ranks(y), min_names)


@dataclass(frozen=True)
class Summary:
    mean: float | None
    std: float | None
    t_stat: float | None
    ir: float | None
    positive_share: float | None
    n: int


def summarize(series: np.ndarray) -> Summary:
    s = series[np.isfinite(series)]
    n = int(s.size)
    if n == 0:
        return Summary(None, None, None, None, None, 0)
    mean = float(s.mean())
    if n < 2:
        return Summary(mean, None, None, None, float((s > 0).mean()), n)
    sd = float(s.std(ddof=1))
    t = mean / sd * np.sqrt(n) if sd > 0 else None
    return Summary(
        mean, sd, float(t) if t is not None else None, mean / sd if sd > 0 else None, float((s > 0).mean()), n
    )


def quantile_returns(f: np.ndarray, fwd: np.ndarray, q: int) -> tuple[np.ndarray, np.ndarray]:
    """([dates, q] mean forward return per bucket, NaN where a date has fewer than q names; spread series)."""
    x, y, n = _masked(f, fwd)
    r = row_ranks(x)
    with np.errstate(invalid="ignore"):
        bucket = np.ceil(r * q / n[:, None]) - 1
    out = np.full((f.shape[0], q), np.nan)
    for b in range(q):
        sel = bucket == b
        cnt = sel.sum(axis=1)
        s = np.where(sel, y, 0.0).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, b] = np.where(cnt > 0, s / cnt, np.nan)
    out[n < q] = np.nan
    return out, out[:, -1] - out[:, 0]


def cross_sectional_regression(factors: Sequence[np.ndarray], fwd: np.ndarray, min_names: int) -> np.ndarray:
    """[dates, k] slopes of per-date OLS fwd ~ 1 + factors (NaN where too few names or singular)."""
    t, k = fwd.shape[0], len(factors)
    out = np.full((t, k), np.nan)
    stack = np.stack(factors, axis=-1)  # [dates, symbols, k]
    for i in range(t):
        ok = np.isfinite(fwd[i]) & np.isfinite(stack[i]).all(axis=1)
        if ok.sum() < max(min_names, k + 2):
            continue
        X = np.column_stack([np.ones(ok.sum()), stack[i][ok]])
        coef, _, rank, _ = np.linalg.lstsq(X, fwd[i][ok], rcond=None)
        if rank == k + 1:
            out[i] = coef[1:]
    return out
