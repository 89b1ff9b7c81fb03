"""Cross-sectional processing of a [dates, symbols] factor panel, one date (row) at a time. NaN-aware.

winsorize   clip each row at its ``lower`` / ``upper`` quantiles (linear interpolation)
zscore      (x - mean) / std(ddof=0) of the row  (scipy.stats.zscore with nan_policy='omit')
rank        (average rank - 1) / (count - 1), in [0, 1]; 0.5 when a row has one value
neutralize  minus the row's mean within each sector (residual of a regression on sector dummies)
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd


def winsorize(x: np.ndarray, lower: float, upper: float) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo = np.nanquantile(x, lower, axis=1, keepdims=True)
        hi = np.nanquantile(x, upper, axis=1, keepdims=True)
    return np.where(np.isnan(x), np.nan, np.clip(x, lo, hi))


def zscore(x: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        sd = np.nanstd(x, axis=1, keepdims=True)
        out = (x - np.nanmean(x, axis=1, keepdims=True)) / sd
    return np.where(sd > 0, out, np.nan)


def rank(x: np.ndarray) -> np.ndarray:
    r = pd.DataFrame(x).rank(axis=1, method="average").to_numpy()
    cnt = np.isfinite(x).sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(cnt > 1, (r - 1.0) / (cnt - 1.0), 0.5)
    return np.where(np.isnan(x), np.nan, out)


def neutralize(x: np.ndarray, sectors: Sequence[str]) -> np.ndarray:
    df = pd.DataFrame(x)
    means = df.T.groupby(np.asarray(sectors)).transform("mean").T.to_numpy()
    return x - means


def apply_steps(
    x: np.ndarray, steps: Sequence[str], sectors: Sequence[str] | None, lower: float, upper: float
) -> np.ndarray:
    """Apply named steps in order (validated by the caller)."""
    for s in steps:
        if s == "winsorize":
            x = winsorize(x, lower, upper)
        elif s == "zscore":
            x = zscore(x)
        elif s == "rank":
            x = rank(x)
        elif s == "neutralize":
            x = neutralize(x, sectors or [])
        else:
            raise KeyError(s)
    return x
