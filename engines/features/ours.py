"""The indicators TA-Lib lacks, vectorised over many symbols at once. Pure numpy/pandas.

Every function takes arrays shaped [symbols, bars] (time on the last axis) and
returns arrays of the same shape, NaN where the window is not yet full.

  vwap            rolling sum(tp * v) / sum(v) over ``timeperiod`` bars, tp = (h + l + c) / 3
                  (NaN where the window's volume is 0)
  vol_cc          std(ln(c_t / c_{t-1}), ddof=1) over ``timeperiod`` returns * sqrt(P)
  vol_parkinson   sqrt(mean(ln(h / l)^2) / (4 ln 2)) over ``timeperiod`` bars * sqrt(P)
  vol_gk          sqrt(mean(0.5 ln(h / l)^2 - (2 ln 2 - 1) ln(c / o)^2)) * sqrt(P)  (Garman-Klass)
  zscore          (x_t - mean) / std(ddof=1) over the last ``timeperiod`` values (NaN if std is 0)
Keltner (EMA of close +- multiplier * ATR) and Donchian (MAX(high) / MIN(low)) are composed
from TA-Lib building blocks in indicators.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _rolling(x: np.ndarray, window: int) -> pd.core.window.Rolling:
    return pd.DataFrame(x.T).rolling(window, min_periods=window)


def rolling_sum(x: np.ndarray, window: int) -> np.ndarray:
    return _rolling(x, window).sum().to_numpy().T


def vwap(high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray, timeperiod: int) -> np.ndarray:
    tp = (high + low + close) / 3.0
    num = rolling_sum(tp * volume, timeperiod)
    den = rolling_sum(volume, timeperiod)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / den
    out[~(den > 0)] = np.nan
    return out


def vol_cc(close: np.ndarray, timeperiod: int, periods_per_year: float) -> np.ndarray:
    r = np.full_like(close, np.nan)
    r[:, 1:] = np.log(close[:, 1:] / close[:, :-1])
    return _rolling(r, timeperiod).std(ddof=1).to_numpy().T * np.sqrt(periods_per_year)


def vol_parkinson(high: np.ndarray, low: np.ndarray, timeperiod: int, periods_per_year: float) -> np.ndarray:
    hl2 = np.log(high / low) ** 2
    mean = _rolling(hl2, timeperiod).mean().to_numpy().T
    return np.sqrt(np.maximum(mean, 0.0) / (4.0 * np.log(2.0)) * periods_per_year)


def vol_gk(
    open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, timeperiod: int, periods_per_year: float
) -> np.ndarray:
    term = 0.5 * np.log(high / low) ** 2 - (2.0 * np.log(2.0) - 1.0) * np.log(close / open_) ** 2
    mean = _rolling(term, timeperiod).mean().to_numpy().T
    with np.errstate(invalid="ignore"):
        return np.sqrt(mean * periods_per_year)


def zscore(x: np.ndarray, timeperiod: int) -> np.ndarray:
    roll = _rolling(x, timeperiod)
    mean = roll.mean().to_numpy().T
    std = roll.std(ddof=1).to_numpy().T
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (x - mean) / std
    out[~(std > 0)] = np.nan
    out[:, : timeperiod - 1] = np.nan
    return out
