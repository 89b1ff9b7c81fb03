"""Library factors against scipy / numpy on real prices, one window at a time."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from engines.factor.library import LIBRARY, market_returns, resolve_params, returns
from tests.unit.factor.data import panel

pytestmark = pytest.mark.timeout(60)

P = panel()
R = returns(P["close"])
M = market_returns(P, None)


def run(name: str, **params: float) -> np.ndarray:
    d = LIBRARY[name]
    return d.fn(P, resolve_params(d, params), None)


def test_momentum_12_1_when_computed_then_equals_hand_formula():
    f = run("momentum")
    c = P["close"]
    t, j = 500, 3
    assert f[t, j] == pytest.approx(c[t - 21, j] / c[t - 252, j] - 1.0, rel=1e-12)
    assert np.isnan(f[251]).all() and np.isfinite(f[252]).all()


def test_reversal_when_computed_then_is_minus_last_month_return():
    c = P["close"]
    assert run("reversal")[400, 5] == pytest.approx(-(c[400, 5] / c[379, 5] - 1.0))


def test_low_volatility_when_computed_then_minus_annualised_std():
    f = run("low_volatility", window=60)
    assert f[300, 2] == pytest.approx(-np.std(R[241:301, 2], ddof=1) * math.sqrt(252), rel=1e-9)


def test_beta_and_idio_vol_when_computed_then_match_scipy_linregress():
    w, t, j = 63, 700, 7
    b, iv = run("beta", window=w), run("idio_vol", window=w)
    x, y = M[t - w + 1 : t + 1], R[t - w + 1 : t + 1, j]
    lr = stats.linregress(x, y)
    resid = y - (lr.intercept + lr.slope * x)
    assert b[t, j] == pytest.approx(lr.slope, rel=1e-9)
    assert iv[t, j] == pytest.approx(math.sqrt((resid**2).sum() / (w - 2)) * math.sqrt(252), rel=1e-8)


def test_skewness_when_computed_then_matches_scipy_unbiased_skew():
    f = run("skewness", window=120)
    assert f[600, 11] == pytest.approx(stats.skew(R[481:601, 11], bias=False), rel=1e-8)


def test_trend_strength_when_computed_then_is_slope_t_stat_of_log_price():
    f = run("trend_strength", window=40)
    y = np.log(P["close"][361:401, 4])
    lr = stats.linregress(np.arange(40.0), y)
    assert f[400, 4] == pytest.approx(lr.slope / lr.stderr, rel=1e-7)


def test_amihud_when_hand_case_then_mean_abs_return_per_dollar_volume():
    p = {"close": np.array([[10.0], [11.0], [9.9]]), "volume": np.array([[1e3], [2e3], [1e3]])}
    f = LIBRARY["amihud"].fn(p, {"window": 2}, None)
    want = (0.1 / (11.0 * 2e3) + 0.1 / (9.9 * 1e3)) / 2 * 1e6
    assert f[2, 0] == pytest.approx(want)
    assert np.isnan(f[1, 0])


@pytest.mark.parametrize(
    ("name", "params", "field"),
    [
        ("momentum", {"lookback": 0}, "lookback"),
        ("momentum", {"skip": 300}, "skip"),
        ("beta", {"window": 2}, "window"),
        ("skewness", {"span": 3}, None),
    ],
)
def test_resolve_params_when_impossible_then_rejected_naming_param(name, params, field):
    with pytest.raises((ValueError, KeyError)) as e:
        resolve_params(LIBRARY[name], params)
    assert e.value.args[0] == (field or "span")
