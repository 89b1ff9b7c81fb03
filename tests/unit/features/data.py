"""Real OHLCV for the features tests: the S&P 500 index, 1999-2018, from arch.data (ships with arch)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=1)
def sp500_ohlcv() -> dict[str, np.ndarray]:
    import arch.data.sp500

    d = arch.data.sp500.load()
    return {
        "open": d["Open"].to_numpy(float),
        "high": d["High"].to_numpy(float),
        "low": d["Low"].to_numpy(float),
        "close": d["Close"].to_numpy(float),
        "volume": d["Volume"].to_numpy(float),
    }


def slice_2d(n: int, offset: int = 0) -> dict[str, np.ndarray]:
    """[1, n] arrays of real bars starting at ``offset``, with a benchmark (the same index, lagged 5 years)."""
    d = sp500_ohlcv()
    out = {k: v[offset : offset + n][None, :].copy() for k, v in d.items()}
    out["benchmark"] = d["close"][offset + 1250 : offset + 1250 + n][None, :].copy()
    return out
