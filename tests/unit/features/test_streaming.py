"""Incremental state equals the batch result on the same bars, for every indicator."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engines.features.indicators import CATALOG, resolve_params
from engines.features.streaming import make_stream
from tests.unit.features.data import slice_2d

pytestmark = pytest.mark.timeout(120)

#: Non-default parameters, so equality is not an accident of the defaults.
CUSTOM = {
    "sma": {"timeperiod": 7},
    "ema": {"timeperiod": 9},
    "wma": {"timeperiod": 5},
    "dema": {"timeperiod": 6},
    "tema": {"timeperiod": 4},
    "kama": {"timeperiod": 10},
    "rsi": {"timeperiod": 5},
    "macd": {"fastperiod": 5, "slowperiod": 13, "signalperiod": 4},
    "stoch": {"fastk_period": 9, "slowk_period": 4, "slowd_period": 2},
    "stochrsi": {"timeperiod": 9, "fastk_period": 4, "fastd_period": 2},
    "willr": {"timeperiod": 9},
    "cci": {"timeperiod": 10},
    "adx": {"timeperiod": 7},
    "aroon": {"timeperiod": 10},
    "mfi": {"timeperiod": 8},
    "obv": {},
    "adl": {},
    "chaikin": {"fastperiod": 4, "slowperiod": 7},
    "atr": {"timeperiod": 5},
    "natr": {"timeperiod": 6},
    "bbands": {"timeperiod": 10, "nbdevup": 1.5, "nbdevdn": 2.5},
    "keltner": {"timeperiod": 10, "atrperiod": 14, "multiplier": 1.5},
    "donchian": {"timeperiod": 15},
    "roc": {"timeperiod": 3},
    "mom": {"timeperiod": 4},
    "trix": {"timeperiod": 5},
    "ultosc": {"timeperiod1": 3, "timeperiod2": 6, "timeperiod3": 12},
    "sar": {"acceleration": 0.03, "maximum": 0.3},
    "vwap": {"timeperiod": 12},
    "vol_cc": {"timeperiod": 10, "periods_per_year": 52},
    "vol_parkinson": {"timeperiod": 10},
    "vol_gk": {"timeperiod": 10},
    "zscore": {"timeperiod": 12},
    "beta": {"timeperiod": 15},
}


def stream_vs_batch(name: str, params: dict, a: dict[str, np.ndarray]) -> None:
    d = CATALOG[name]
    p = resolve_params(d, params)
    batch = d.fn(a, p)
    s = make_stream(name, p)
    n = a["close"].shape[1]
    got = {k: np.empty(n) for k in d.outputs}
    for t in range(n):
        res = s.update({k: float(v[0, t]) for k, v in a.items()})
        for k in d.outputs:
            got[k][t] = res[k]
    for k in d.outputs:
        want = batch[k][0]
        np.testing.assert_array_equal(np.isnan(got[k]), np.isnan(want), err_msg=f"{name}.{k} warm-up differs")
        scale = np.nanmean(np.abs(want)) if np.isfinite(want).any() else 1.0
        np.testing.assert_allclose(got[k], want, rtol=1e-9, atol=1e-9 * scale, err_msg=f"{name}.{k}")


def test_custom_params_cover_every_indicator():
    assert set(CUSTOM) == set(CATALOG)


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_stream_when_fed_real_bars_one_by_one_then_equals_batch_with_default_params(name):
    stream_vs_batch(name, {}, slice_2d(700, offset=2000))


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_stream_when_fed_real_bars_one_by_one_then_equals_batch_with_custom_params(name):
    stream_vs_batch(name, CUSTOM[name], slice_2d(400, offset=100))


@st.composite
def random_bars(draw: st.DrawFn) -> dict[str, np.ndarray]:
    """A random OHLCV path with flat stretches and gaps (ties and zero ranges exercise the edge rules)."""
    n = draw(st.integers(60, 160))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    steps = rng.normal(0, draw(st.sampled_from([0.001, 0.02])), n)
    steps[rng.random(n) < draw(st.sampled_from([0.0, 0.3]))] = 0.0  # flat closes
    c = 50 * np.exp(np.cumsum(steps))
    o = np.r_[c[0], c[:-1]] * np.exp(rng.normal(0, 0.002, n))
    h = np.maximum(o, c) * (1 + rng.uniform(0, 0.01, n) * (rng.random(n) < 0.8))
    lo = np.minimum(o, c) * (1 - rng.uniform(0, 0.01, n) * (rng.random(n) < 0.8))
    v = np.round(rng.uniform(0, 1e4, n)) * (rng.random(n) < 0.9)
    b = 20 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    return {k: x[None, :] for k, x in dict(open=o, high=h, low=lo, close=c, volume=v, benchmark=b).items()}


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bars=random_bars())
def test_stream_when_random_paths_with_ties_then_equals_batch_for_every_indicator(bars):
    for name in CATALOG:
        stream_vs_batch(name, CUSTOM[name], bars)
