"""Real data for the portfolio tests: skfolio's 20 S&P 500 stocks and its factor-ETF data set."""

from __future__ import annotations

import pandas as pd
import pytest
from skfolio.datasets import load_factors_dataset, load_sp500_dataset
from skfolio.preprocessing import prices_to_returns


@pytest.fixture(scope="session")
def sp500() -> pd.DataFrame:
    """Daily returns of 20 S&P 500 stocks, last 2,500 days."""
    return prices_to_returns(load_sp500_dataset()).iloc[-2500:]


@pytest.fixture(scope="session")
def factor_etfs() -> pd.DataFrame:
    """Daily returns of the 5 factor ETFs (MTUM, QUAL, SIZE, USMV, VLUE)."""
    return prices_to_returns(load_factors_dataset())


def inline(X: pd.DataFrame, **extra) -> dict:  # noqa: ANN003
    return {"market": {"symbols": list(X.columns), "returns": X.to_numpy().tolist()}, **extra}
