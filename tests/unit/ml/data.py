"""Real sample returns for the ML tests: arch's NASDAQ Composite daily closes (1999-2018), log returns."""

from __future__ import annotations

from functools import cache

import numpy as np


@cache
def nasdaq_returns() -> np.ndarray:
    from arch.data import nasdaq

    close = nasdaq.load()["Close"].to_numpy(dtype=np.float64)
    return np.diff(np.log(close))
