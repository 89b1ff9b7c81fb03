"""The blocked, threaded batch path returns exactly what each symbol's own computation (and TA-Lib) gives."""

from __future__ import annotations

import numpy as np
import pytest
import talib

from engines.features.compute import batch, resolve
from engines.features.indicators import CATALOG, resolve_params
from engines.features.models import IndicatorSpec
from tests.unit.features.data import sp500_ohlcv

pytestmark = pytest.mark.timeout(60)

LENGTHS = (400, 400, 400, 400, 400, 400, 400, 300, 300, 300, 300, 300)


def mixed_series() -> list[dict[str, np.ndarray]]:
    """Real bars: 12 symbols in two length groups (windows of the S&P 500 index at different offsets)."""
    d = sp500_ohlcv()
    out = []
    for i, n in enumerate(LENGTHS):
        lo = 97 * i
        a = {k: v[lo : lo + n].copy() for k, v in d.items()}
        a["benchmark"] = d["close"][lo + 1250 : lo + 1250 + n].copy()
        out.append(a)
    return out


def own(series: dict[str, np.ndarray], name: str) -> dict[str, np.ndarray]:
    """One symbol alone through the catalog's [1, bars] function."""
    d = CATALOG[name]
    res = d.fn({k: v[None, :] for k, v in series.items()}, resolve_params(d, {}))
    return {k: v[0] for k, v in res.items()}


@pytest.mark.parametrize(
    ("workers", "block_bytes"),
    [(2, 8 * 400 * 3), (2, 8 * 400), (1, 8 * 400 * 2), (3, None)],
    ids=["3-per-block-2-threads", "1-per-block-2-threads", "2-per-block-1-thread", "one-block-per-length"],
)
def test_batch_when_split_into_blocks_and_threads_then_every_column_equals_each_symbols_own_result_bit_for_bit(
    workers, block_bytes
):
    series = mixed_series()
    resolved = resolve([IndicatorSpec(name=n) for n in CATALOG])
    got = batch(series, resolved, workers=workers, block_bytes=block_bytes)
    assert len(got) == len(series)
    for s, cols in zip(series, got, strict=True):
        assert len(cols) == sum(len(r.defn.outputs) for r in resolved)
        for r in resolved:
            want = own(s, r.defn.name)
            for col in r.columns():
                x = cols[col.name]
                assert x.dtype == np.float64 and x.shape == (len(s["close"]),), col.name
                np.testing.assert_array_equal(x, want[col.output], err_msg=col.name)


def test_batch_when_talib_indicators_then_columns_equal_direct_talib_calls_per_symbol():
    series = mixed_series()
    specs = ["sma", "rsi", "macd", "bbands", "adx", "stoch", "beta", "keltner", "donchian"]
    resolved = resolve([IndicatorSpec(name=n) for n in specs])
    got = batch(series, resolved, workers=2, block_bytes=8 * 400 * 2)
    for s, cols in zip(series, got, strict=True):
        h, lo, c = s["high"], s["low"], s["close"]
        macd, signal, hist = talib.MACD(c, 12, 26, 9)
        upper, middle, lower = talib.BBANDS(c, 20, 2.0, 2.0, 0)
        slowk, slowd = talib.STOCH(h, lo, c, 5, 3, 0, 3, 0)
        ema, atr = talib.EMA(c, 20), talib.ATR(h, lo, c, 10)
        hh, ll = talib.MAX(h, 20), talib.MIN(lo, 20)
        want = {
            "sma_20": talib.SMA(c, 20),
            "rsi_14": talib.RSI(c, 14),
            "macd_12_26_9.macd": macd,
            "macd_12_26_9.signal": signal,
            "macd_12_26_9.hist": hist,
            "bbands_20_2_2.upper": upper,
            "bbands_20_2_2.middle": middle,
            "bbands_20_2_2.lower": lower,
            "adx_14.adx": talib.ADX(h, lo, c, 14),
            "adx_14.plus_di": talib.PLUS_DI(h, lo, c, 14),
            "adx_14.minus_di": talib.MINUS_DI(h, lo, c, 14),
            "stoch_5_3_3.slowk": slowk,
            "stoch_5_3_3.slowd": slowd,
            "beta_20": talib.BETA(s["benchmark"], c, 20),
            "keltner_20_10_2.upper": ema + 2.0 * atr,
            "keltner_20_10_2.middle": ema,
            "keltner_20_10_2.lower": ema - 2.0 * atr,
            "donchian_20.upper": hh,
            "donchian_20.middle": (hh + ll) / 2.0,
            "donchian_20.lower": ll,
        }
        assert set(cols) == set(want)
        for k, v in want.items():
            np.testing.assert_array_equal(cols[k], v, err_msg=k)


def test_batch_when_one_symbol_then_equals_its_own_result():
    s = mixed_series()[0]
    resolved = resolve([IndicatorSpec(name="ema"), IndicatorSpec(name="zscore")])
    (cols,) = batch([s], resolved)
    np.testing.assert_array_equal(cols["ema_20"], own(s, "ema")["real"])
    np.testing.assert_array_equal(cols["zscore_20"], own(s, "zscore")["real"])
