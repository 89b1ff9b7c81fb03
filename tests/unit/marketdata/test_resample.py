import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.core.errors import InvalidInput
from engines.marketdata.resample import resample_ohlcv
from engines.marketdata.timeframes import parse_timeframe

pytestmark = pytest.mark.timeout(60)
TF = {k: parse_timeframe(k) for k in ("1m", "5m", "1h", "1d")}


def frame(ts, o, h, lo, c, v):
    return pd.DataFrame({"open": o, "high": h, "low": lo, "close": c, "volume": v},
                        index=pd.DatetimeIndex(ts, tz="UTC"))


def test_resample_when_1m_to_5m_then_first_max_min_last_sum_by_hand():
    ts = pd.date_range("2024-01-02 14:30", periods=7, freq="1min")
    df = frame(ts, [1, 2, 3, 4, 5, 6, 7], [2, 5, 4, 9, 6, 7, 8], [0.5, 1, 2, 3, 0.1, 5, 6],
               [1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5], [10, 20, 30, 40, 50, 60, 70])
    out = resample_ohlcv(df, TF["1m"], TF["5m"])
    assert list(out.index) == [pd.Timestamp("2024-01-02 14:30", tz="UTC"), pd.Timestamp("2024-01-02 14:35", tz="UTC")]
    assert out.iloc[0].tolist() == [1, 9, 0.1, 5.5, 150]
    assert out.iloc[1].tolist() == [6, 8, 5, 7.5, 130]


def test_resample_when_daily_in_new_york_then_evening_utc_bars_belong_to_local_date():
    ts = pd.DatetimeIndex(["2024-01-02 20:59", "2024-01-02 21:00"], tz="UTC")  # 15:59 and 16:00 New York
    df = frame(ts, [1, 2], [1, 2], [1, 2], [1, 2], [1, 1])
    out = resample_ohlcv(df, TF["1m"], TF["1d"], tz="America/New_York")
    assert list(out.index) == [pd.Timestamp("2024-01-02", tz="UTC")] and out["close"].iloc[0] == 2


def test_resample_when_target_not_a_larger_multiple_then_invalid_input():
    with pytest.raises(InvalidInput):
        resample_ohlcv(frame([], [], [], [], [], []), TF["5m"], TF["1m"])
    with pytest.raises(InvalidInput):
        resample_ohlcv(frame([], [], [], [], [], []), parse_timeframe("7m"), parse_timeframe("21m"))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(1, 100), st.floats(0, 5), st.floats(0, 5), st.floats(0, 1000)),
                min_size=1, max_size=400), st.integers(0, 3))
def test_resample_when_chained_1m_5m_1h_1d_then_equals_direct_1m_to_1d(rows, drop_every):
    ts = pd.date_range("2024-01-02 13:00", periods=len(rows), freq="1min", tz="UTC")
    mid = np.array([r[0] for r in rows])
    df = frame(ts, mid, mid + [r[1] for r in rows], mid - np.minimum([r[2] for r in rows], mid * 0.9),
               mid, [r[3] for r in rows])
    if drop_every:
        df = df.iloc[:: drop_every + 1]
    chained = resample_ohlcv(resample_ohlcv(resample_ohlcv(df, TF["1m"], TF["5m"]), TF["5m"], TF["1h"]),
                             TF["1h"], TF["1d"])
    direct = resample_ohlcv(df, TF["1m"], TF["1d"])
    pd.testing.assert_frame_equal(chained, direct, check_freq=False)
    assert direct["volume"].sum() == pytest.approx(df["volume"].sum())
