"""OHLCV resampling (1m -> 5m -> 1h -> 1d) with pandas. Pure.

Aggregation per target interval [t, t + target): open = first open, high = max
high, low = min low, close = last close, volume = sum; intervals with no source
bar are omitted (no invented prices). Intraday targets are aligned to UTC
midnight; daily targets to midnight in ``tz`` and stamped at 00:00 UTC of that
local date (the storage convention for daily bars).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from backend.core.errors import InvalidInput
from engines.marketdata.timeframes import Timeframe, check_resample

AGG = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}


def resample_ohlcv(df: pd.DataFrame, source: Timeframe, target: Timeframe, tz: str = "UTC") -> pd.DataFrame:
    """``df`` indexed by UTC bar start with open/high/low/close/volume -> bars of ``target``."""
    check_resample(source, target)
    if df.empty:
        return df
    idx = pd.DatetimeIndex(df.index)
    idx = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
    frame = df.set_axis(idx)
    if target.is_daily:
        try:
            local = idx.tz_convert(tz)
        except Exception as e:  # noqa: BLE001 - unknown zone names raise several types
            raise InvalidInput(f"unknown time zone {tz!r}", field="tz") from e
        frame = frame.set_axis(local.tz_localize(None))
    out = frame.resample(target.pandas_rule, label="left", closed="left").agg(AGG)
    out = out[out["open"].notna()]
    if target.is_daily:
        out.index = pd.DatetimeIndex(out.index).tz_localize("UTC")
    out["volume"] = out["volume"].astype(np.float64)
    return out
