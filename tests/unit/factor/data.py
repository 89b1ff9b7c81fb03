"""Real daily closes of 20 S&P 500 stocks (skfolio.datasets, ships with skfolio)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=1)
def closes() -> tuple[list[str], np.ndarray]:
    from skfolio.datasets import load_sp500_dataset

    p = load_sp500_dataset()
    return list(p.columns), p.to_numpy(float)


def panel(n_dates: int = 800, offset: int = 6000) -> dict[str, np.ndarray]:
    _, c = closes()
    c = c[offset : offset + n_dates]
    rng = np.random.default_rng(7)
    return {"close": c, "volume": rng.uniform(1e5, 1e6, c.shape)}
