"""The indicator catalog: TA-Lib where it has the maths, ours checked against independent computations."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import talib
from scipy import stats

from backend.core.errors import InvalidInput
from engines.features.compute import resolve
from engines.features.indicators import CATALOG, resolve_params
from engines.features.models import IndicatorSpec
from tests.unit.features.data import slice_2d

pytestmark = pytest.mark.timeout(60)

REQUIRED = {
    "sma",
    "ema",
    "wma",
    "dema",
    "tema",
    "kama",
    "rsi",
    "macd",
    "stoch",
    "stochrsi",
    "willr",
    "cci",
    "adx",
    "aroon",
    "mfi",
    "obv",
    "adl",
    "chaikin",
    "atr",
    "natr",
    "bbands",
    "keltner",
    "donchian",
    "roc",
    "mom",
    "trix",
    "ultosc",
    "sar",
    "vwap",
    "vol_cc",
    "vol_parkinson",
    "vol_gk",
    "zscore",
    "beta",
}


def _run(name: str, a: dict, **params: float) -> dict[str, np.ndarray]:
    d = CATALOG[name]
    return {k: v[0] for k, v in d.fn(a, resolve_params(d, params)).items()}


def test_catalog_when_listed_then_has_every_required_indicator_and_at_least_30():
    assert REQUIRED <= set(CATALOG)
    assert len(CATALOG) >= 30


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_indicator_when_run_on_real_bars_then_warmup_is_nan_and_rest_finite(name):
    a = slice_2d(600)
    d = CATALOG[name]
    p = resolve_params(d, {})
    out = d.fn(a, p)
    lb = d.lookback(p)
    for k, v in out.items():
        assert v.shape == (1, 600)
        assert np.isfinite(v[0, lb:]).all(), k
        if name != "adx" or k == "adx":
            assert np.isnan(v[0, :lb]).all(), k


def test_sma_when_hand_case_then_matches():
    a = {"close": np.array([[1.0, 2.0, 3.0, 4.0, 5.0]])}
    np.testing.assert_allclose(_run("sma", a, timeperiod=3)["real"], [np.nan, np.nan, 2.0, 3.0, 4.0])


def test_vwap_when_compared_with_explicit_window_sums_then_equal():
    a = slice_2d(300)
    got = _run("vwap", a, timeperiod=10)["real"]
    tp = (a["high"][0] + a["low"][0] + a["close"][0]) / 3
    v = a["volume"][0]
    want = [np.nan] * 9 + [np.dot(tp[t - 9 : t + 1], v[t - 9 : t + 1]) / v[t - 9 : t + 1].sum() for t in range(9, 300)]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_vwap_when_hand_case_then_matches():
    a = {
        "high": np.array([[12.0, 13.0]]),
        "low": np.array([[9.0, 10.0]]),
        "close": np.array([[9.0, 10.0]]),
        "volume": np.array([[100.0, 300.0]]),
    }
    # typical prices 10 and 11 -> (10*100 + 11*300) / 400
    assert _run("vwap", a, timeperiod=2)["real"][1] == pytest.approx(10.75)


def test_vol_cc_when_compared_with_numpy_std_of_log_returns_then_equal():
    a = slice_2d(400)
    got = _run("vol_cc", a, timeperiod=21, periods_per_year=252)["real"]
    r = np.diff(np.log(a["close"][0]))
    for t in (21, 100, 399):
        assert got[t] == pytest.approx(np.std(r[t - 21 : t], ddof=1) * math.sqrt(252), rel=1e-10)
    assert np.isnan(got[20])


def test_parkinson_and_garman_klass_when_compared_with_closed_forms_then_equal():
    a = slice_2d(200)
    h, lo, o, c = (a[k][0] for k in ("high", "low", "open", "close"))
    pk = _run("vol_parkinson", a, timeperiod=20, periods_per_year=252)["real"]
    gk = _run("vol_gk", a, timeperiod=20, periods_per_year=252)["real"]
    for t in (19, 77, 199):
        w = slice(t - 19, t + 1)
        want_pk = math.sqrt(
            sum(math.log(x / y) ** 2 for x, y in zip(h[w], lo[w], strict=False)) / (20 * 4 * math.log(2)) * 252
        )
        terms = [
            0.5 * math.log(x / y) ** 2 - (2 * math.log(2) - 1) * math.log(cc / oo) ** 2
            for x, y, oo, cc in zip(h[w], lo[w], o[w], c[w], strict=False)
        ]
        assert pk[t] == pytest.approx(want_pk, rel=1e-10)
        assert gk[t] == pytest.approx(math.sqrt(sum(terms) / 20 * 252), rel=1e-10)


def test_zscore_when_compared_with_scipy_zscore_of_window_then_equal():
    a = slice_2d(200)
    got = _run("zscore", a, timeperiod=30)["real"]
    c = a["close"][0]
    for t in (29, 150, 199):
        assert got[t] == pytest.approx(stats.zscore(c[t - 29 : t + 1], ddof=1)[-1], rel=1e-9)


def test_keltner_when_compared_with_talib_parts_then_equal():
    a = slice_2d(300)
    got = _run("keltner", a, timeperiod=20, atrperiod=10, multiplier=1.5)
    ema = talib.EMA(a["close"][0], 20)
    atr = talib.ATR(a["high"][0], a["low"][0], a["close"][0], 10)
    np.testing.assert_allclose(got["upper"], ema + 1.5 * atr)
    np.testing.assert_allclose(got["lower"], ema - 1.5 * atr)


def test_donchian_when_compared_with_pandas_rolling_extremes_then_equal():
    a = slice_2d(300)
    got = _run("donchian", a, timeperiod=20)
    np.testing.assert_allclose(got["upper"], pd.Series(a["high"][0]).rolling(20).max().to_numpy())
    np.testing.assert_allclose(got["lower"], pd.Series(a["low"][0]).rolling(20).min().to_numpy())


def test_beta_when_compared_with_covariance_of_returns_then_equal():
    a = slice_2d(300)
    got = _run("beta", a, timeperiod=30)["real"]
    rs, rb = np.diff(a["close"][0]) / a["close"][0][:-1], np.diff(a["benchmark"][0]) / a["benchmark"][0][:-1]
    t = 299
    w = slice(t - 30, t)
    assert got[t] == pytest.approx(np.cov(rs[w], rb[w])[0, 1] / np.var(rb[w], ddof=1), rel=1e-9)


def test_resolve_when_unknown_indicator_then_invalid_input_names_field():
    with pytest.raises(InvalidInput) as e:
        resolve([IndicatorSpec(name="sma"), IndicatorSpec(name="nope")])
    assert e.value.field == "indicators.1.name"


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"name": "sma", "params": {"timeperiod": 0}}, "indicators.0.params.timeperiod"),
        ({"name": "rsi", "params": {"timeperiod": -3}}, "indicators.0.params.timeperiod"),
        ({"name": "ema", "params": {"timeperiod": 2.5}}, "indicators.0.params.timeperiod"),
        ({"name": "sma", "params": {"window": 5}}, "indicators.0.params.window"),
        ({"name": "macd", "params": {"fastperiod": 30}}, "indicators.0.params.fastperiod"),
    ],
)
def test_resolve_when_impossible_params_then_invalid_input_names_field(spec, field):
    with pytest.raises(InvalidInput) as e:
        resolve([IndicatorSpec(**spec)])
    assert e.value.field == field
