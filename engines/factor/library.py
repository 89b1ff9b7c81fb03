"""The factor library over a panel of [dates, symbols] arrays (daily bars). Pure numpy/pandas.

Returns r_t = close_t / close_{t-1} - 1; the market return m_t is the benchmark's return when one is
given, else the equal-weighted mean of the universe's returns. Windows count bars.

  momentum        close_{t-skip} / close_{t-lookback} - 1                      (12-1: 252, 21)
  reversal        -(close_t / close_{t-window} - 1)                              (short-term, 21)
  low_volatility  -std(r, ddof=1) * sqrt(252) over window                        (252)
  beta            cov(r, m) / var(m) over window                                 (252)
  idio_vol        sqrt(SSR / (n - 2)) * sqrt(252), residuals of r on m + const   (63)
  skewness        sample skewness of r (bias-corrected, scipy.stats.skew(bias=False)) (252)
  amihud          mean(|r_t| / (close_t * volume_t)) * 1e6 over window; NaN if any zero volume (21)
  trend_strength  t-statistic of the OLS slope of ln(close) on time over window (63)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

Panel = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class FactorDef:
    name: str
    title: str
    params: dict[str, tuple[int, int, int]]  # name -> (default, min, max)
    needs: tuple[str, ...]
    fn: Callable[[Panel, Mapping[str, int], np.ndarray | None], np.ndarray]

    def history(self, p: Mapping[str, int]) -> int:
        """Bars of history before the first value."""
        return max(p.values()) if p else 0


def returns(close: np.ndarray) -> np.ndarray:
    r = np.full_like(close, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        r[1:] = close[1:] / close[:-1] - 1.0
    return r


def market_returns(panel: Panel, benchmark: np.ndarray | None) -> np.ndarray:
    if benchmark is not None:
        return returns(benchmark[:, None])[:, 0]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(returns(panel["close"]), axis=1)


def _df(x: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(x)


def momentum(p: Panel, q: Mapping[str, int], b: np.ndarray | None) -> np.ndarray:
    c = p["close"]
    out = np.full_like(c, np.nan)
    lb, skip = q["lookback"], q["skip"]
    out[lb:] = c[lb - skip : len(c) - skip] / c[: len(c) - lb] - 1.0
    return out


def reversal(p: Panel, q: Mapping[str, int], b: np.ndarray | None) -> np.ndarray:
    c, w = p["close"], q["window"]
    out = np.full_like(c, np.nan)
    out[w:] = -(c[w:] / c[:-w] - 1.0)
    return out


def low_volatility(p: Panel, q: Mapping[str, int], b: np.ndarray | None) -> np.ndarray:
    w = q["window"]
    return -_df(returns(p["close"])).rolling(w, min_periods=w).std(ddof=1).to_numpy() * np.sqrt(252.0)


def _beta_parts(p: Panel, w: int, b: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r = _df(returns(p["close"]))
    m = pd.Series(market_returns(p, b))
    cov = r.rolling(w, min_periods=w).cov(m).to_numpy()
    var_m = m.rolling(w, min_periods=w).var().to_numpy()[:, None]
    var_r = r.rolling(w, min_periods=w).var().to_numpy()
    return cov, var_m, var_r


def beta(p: Panel, q: Mapping[str, int], b: np.ndarray | None) -> np.ndarray:
    cov, var_m, _ = _beta_parts(p, q["window"], b)
    with np.errstate(invalid="ignore", divide="ignore"):
        return cov / var_m


def idio_vol(p: Panel, q: Mapping[str, int], b: np.ndarray | None) -> np.ndarray:
    w = q["window"]
    cov, var_m, var_r = _beta_parts(p, w, b)
    with np.errstate(invalid="ignore", divide="ignore"):
        ssr = (w - 1) * (var_r - cov**2 / var_m)
        return np.sqrt(np.maximum(ssr, 0.0) / (w - 2)) * np.sqrt(252.0)


def skewness(p: Panel, q: Mapping[str, int], b: np.ndarray | None) -> np.ndarray:
    w = q["window"]
    return _df(returns(p["close"])).rolling(w, min_periods=w).skew().to_numpy()


def amihud(p: Panel, q: Mapping[str, int], b: np.ndarray | None) -> np.ndarray:
    w = q["window"]
    with np.errstate(invalid="ignore", divide="ignore"):
        ill = np.abs(returns(p["close"])) / (p["close"] * p["volume"])
    ill[~np.isfinite(ill)] = np.nan
    return _df(ill).rolling(w, min_periods=w).mean().to_numpy() * 1e6


def trend_strength(p: Panel, q: Mapping[str, int], b: np.ndarray | None) -> np.ndarray:
    w = q["window"]
    y = _df(np.log(p["close"]))
    t = pd.Series(np.arange(len(y), dtype=np.float64))
    corr = y.rolling(w, min_periods=w).corr(t).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        return corr * np.sqrt((w - 2) / (1.0 - corr**2))


LIBRARY: dict[str, FactorDef] = {
    d.name: d
    for d in (
        FactorDef(
            "momentum",
            "Momentum 12-1: return from t-lookback to t-skip",
            {"lookback": (252, 2, 5000), "skip": (21, 0, 5000)},
            ("close",),
            momentum,
        ),
        FactorDef(
            "reversal",
            "Short-term reversal: minus the last window's return",
            {"window": (21, 1, 5000)},
            ("close",),
            reversal,
        ),
        FactorDef(
            "low_volatility",
            "Minus annualised volatility of daily returns",
            {"window": (252, 3, 5000)},
            ("close",),
            low_volatility,
        ),
        FactorDef("beta", "Rolling beta to the market", {"window": (252, 3, 5000)}, ("close",), beta),
        FactorDef(
            "idio_vol",
            "Idiosyncratic volatility (market-model residuals, annualised)",
            {"window": (63, 4, 5000)},
            ("close",),
            idio_vol,
        ),
        FactorDef("skewness", "Sample skewness of daily returns", {"window": (252, 4, 5000)}, ("close",), skewness),
        FactorDef(
            "amihud",
            "Amihud illiquidity: mean |return| per dollar volume, x 1e6",
            {"window": (21, 1, 5000)},
            ("close", "volume"),
            amihud,
        ),
        FactorDef(
            "trend_strength",
            "t-statistic of the log-price trend",
            {"window": (63, 4, 5000)},
            ("close",),
            trend_strength,
        ),
    )
}


def resolve_params(defn: FactorDef, given: Mapping[str, float]) -> dict[str, int]:
    """Defaults merged with ``given``; KeyError(name) or ValueError(name, reason) on a bad one."""
    out: dict[str, int] = {}
    for k in given:
        if k not in defn.params:
            raise KeyError(k)
    for k, (default, lo, hi) in defn.params.items():
        v = given.get(k, default)
        if float(v) != int(v):
            raise ValueError(k, "must be a whole number")
        if not lo <= v <= hi:
            raise ValueError(k, f"must be in [{lo}, {hi}]")
        out[k] = int(v)
    if defn.name == "momentum" and out["skip"] >= out["lookback"]:
        raise ValueError("skip", "must be shorter than lookback")
    return out
